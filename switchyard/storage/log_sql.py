"""SQL for the request-log queries, shared by the SQLite and PostgreSQL stores.

The two dialects differ only in placeholders (``?`` against ``$1``) and in how a day is cut from a unix time,
so the statements are built once here from a placeholder function and a day expression.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from switchyard.types.logs import GroupBy, LogPage, LogQuery, RequestLog, SpendQuery, SpendRow

COLUMNS: tuple[str, ...] = tuple(RequestLog.__struct_fields__)
MAX_LIMIT = 1000

# group_by -> column; "day" is dialect-specific and passed in.
_GROUP_COLUMNS: dict[str, str] = {
    "key": "key_id",
    "team": "team_id",
    "user": "user_id",
    "model": "model_group",
    "deployment": "deployment",
}

Placeholder = Callable[[int], str]


def qmark(_: int) -> str:
    return "?"


def dollar(index: int) -> str:
    return f"${index}"


def insert_sql(placeholder: Placeholder, conflict: str) -> str:
    values = ", ".join(placeholder(i + 1) for i in range(len(COLUMNS)))
    return f"INSERT INTO request_logs ({', '.join(COLUMNS)}) VALUES ({values}) {conflict}"


def row_of(record: RequestLog) -> tuple[Any, ...]:
    return tuple(getattr(record, column) for column in COLUMNS)


def record_of(row: Sequence[Any]) -> RequestLog:
    values = {c: v for c, v in zip(COLUMNS, row, strict=True) if v is not None}
    return msgspec.convert(values, RequestLog, strict=False)


class _Where:
    def __init__(self, placeholder: Placeholder) -> None:
        self._placeholder = placeholder
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, clause: str, *values: Any) -> None:
        # Each "{}" in the clause takes the next placeholder.
        marks = []
        for value in values:
            self.args.append(value)
            marks.append(self._placeholder(len(self.args)))
        self.clauses.append(clause.format(*marks))

    def sql(self) -> str:
        return f" WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


def search_sql(query: LogQuery, placeholder: Placeholder) -> tuple[str, list[Any]]:
    where = _Where(placeholder)
    for column, value in (
        ("key_id", query.key_id),
        ("team_id", query.team_id),
        ("user_id", query.user_id),
        ("model_group", query.model),
        ("deployment", query.deployment),
    ):
        if value is not None:
            where.add(f"{column} = {{}}", value)
    if query.status == "ok":
        where.add("status < 400")
    elif query.status == "error":
        where.add("status >= 400")
    elif query.status is not None:
        where.add("status = {}", query.status)
    if query.since is not None:
        where.add("ts >= {}", query.since)
    if query.until is not None:
        where.add("ts < {}", query.until)
    if query.after is not None:
        ts, log_id = query.after
        # Keyset pagination on (ts, log_id), newest first: stable while new records arrive.
        where.add("(ts < {} OR (ts = {} AND log_id < {}))", ts, ts, log_id)
    limit = max(1, min(query.limit, MAX_LIMIT))
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM request_logs{where.sql()} "
        f"ORDER BY ts DESC, log_id DESC LIMIT {limit + 1}"
    )
    return sql, where.args


def page_of(rows: Sequence[Sequence[Any]], query: LogQuery) -> LogPage:
    limit = max(1, min(query.limit, MAX_LIMIT))
    records = [record_of(row) for row in rows[:limit]]
    more = len(rows) > limit
    last = records[-1] if records else None
    return LogPage(records, (last.ts, last.log_id or "") if more and last else None)


def get_sql(placeholder: Placeholder) -> str:
    # A client may reuse a request id: the newest record wins.
    return (
        f"SELECT {', '.join(COLUMNS)} FROM request_logs WHERE request_id = {placeholder(1)} "
        "ORDER BY ts DESC LIMIT 1"
    )


def spend_sql(query: SpendQuery, placeholder: Placeholder, day_expression: str) -> tuple[str, list[Any]]:
    group: GroupBy = query.group_by
    column = day_expression if group == "day" else _GROUP_COLUMNS[group]
    where = _Where(placeholder)
    if query.since is not None:
        where.add("ts >= {}", query.since)
    if query.until is not None:
        where.add("ts < {}", query.until)
    if query.team_id is not None:
        where.add("team_id = {}", query.team_id)
    sql = (
        f"SELECT {column} AS grp, COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
        f"COALESCE(SUM(cost_usd), 0) FROM request_logs{where.sql()} GROUP BY 1 ORDER BY 1 NULLS LAST"
    )
    return sql, where.args


def spend_rows(rows: Sequence[Sequence[Any]]) -> list[SpendRow]:
    return [
        SpendRow(
            group=None if g is None else str(g),
            requests=int(n),
            prompt_tokens=int(p),
            completion_tokens=int(c),
            cost_usd=float(cost),
        )
        for g, n, p, c, cost in rows
    ]
