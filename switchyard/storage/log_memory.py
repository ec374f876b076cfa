"""The log queries over records held in memory: the same answers the SQL stores give (see ``log_sql``)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from switchyard.storage.log_sql import MAX_LIMIT
from switchyard.types.logs import LogPage, LogQuery, RequestLog, SpendQuery, SpendRow

_GROUP_FIELDS = {"key": "key_id", "team": "team_id", "user": "user_id", "model": "model_group"}


def _matches(record: RequestLog, query: LogQuery) -> bool:
    for field, wanted in (
        ("key_id", query.key_id),
        ("team_id", query.team_id),
        ("user_id", query.user_id),
        ("model_group", query.model),
        ("deployment", query.deployment),
    ):
        if wanted is not None and getattr(record, field) != wanted:
            return False
    status = query.status
    if status == "ok" and record.status >= 400 or status == "error" and record.status < 400:
        return False
    if isinstance(status, int) and record.status != status:
        return False
    if query.since is not None and record.ts < query.since:
        return False
    if query.until is not None and record.ts >= query.until:
        return False
    return query.after is None or (record.ts, record.log_id or "") < query.after


def memory_search(records: Iterable[RequestLog], query: LogQuery) -> LogPage:
    limit = max(1, min(query.limit, MAX_LIMIT))
    found = sorted((r for r in records if _matches(r, query)), key=lambda r: (r.ts, r.log_id or ""), reverse=True)
    page = found[:limit]
    more = len(found) > limit
    return LogPage(page, (page[-1].ts, page[-1].log_id or "") if more else None)


def _group(record: RequestLog, group_by: str) -> str | None:
    if group_by == "day":
        return time.strftime("%Y-%m-%d", time.gmtime(record.ts))
    value = getattr(record, _GROUP_FIELDS.get(group_by, group_by))
    return None if value is None else str(value)


def memory_spend(records: Iterable[RequestLog], query: SpendQuery) -> list[SpendRow]:
    totals: dict[str | None, list[float]] = {}
    for r in records:
        if query.since is not None and r.ts < query.since or query.until is not None and r.ts >= query.until:
            continue
        if query.team_id is not None and r.team_id != query.team_id:
            continue
        row = totals.setdefault(_group(r, query.group_by), [0, 0, 0, 0.0])
        row[0] += 1
        row[1] += r.prompt_tokens or 0
        row[2] += r.completion_tokens or 0
        row[3] += r.cost_usd or 0.0
    ordered = sorted(totals.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [SpendRow(g, int(n), int(p), int(c), float(cost)) for g, (n, p, c, cost) in ordered]
