"""Read a router group's production traffic back (offline): its logged decisions and the feedback on them.

``switchyard train router --from-logs`` and ``switchyard eval shadow`` read the same two things from wherever the
gateway keeps them: the embedded SQLite files under ``data_dir`` (``switchyard.db``, ``feedback.db``), or, in
scale-out, the PostgreSQL database of ``server.database_url`` that every instance writes to. One reader per
backend; the statements are shared, only the placeholders differ. Errors never quote the DSN (it may hold a
password): a failed connection is reported by its exception type only.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchyard.storage import log_sql
from switchyard.storage.feedback import SELECT_ALL, Feedback, feedback_of
from switchyard.types.logs import RequestLog

# What the trainer and the shadow report use of a logged request.
_LOG_COLUMNS = (
    "request_id", "ts", "endpoint", "status", "latency_ms", "model_group", "decision", "request_body",
    "prompt_tokens", "completion_tokens", "cost_usd",
)  # fmt: skip
_CONNECT_TIMEOUT_S = 10.0
_QUERY_TIMEOUT_S = 300.0  # a big log takes a while; a dead server must not hang the command


class TrafficUnavailableError(Exception):
    """The request log could not be read; the message is safe to print (no DSN)."""


@dataclass(frozen=True)
class Traffic:
    records: list[RequestLog]
    feedback: list[Feedback]


def _logs_sql(placeholder: log_sql.Placeholder) -> str:
    columns = ", ".join(_LOG_COLUMNS)
    return f"SELECT {columns} FROM request_logs WHERE model_group = {placeholder(1)} AND decision IS NOT NULL"


def _record(row: Any) -> RequestLog:
    values = dict(zip(_LOG_COLUMNS, row, strict=True))
    first = [values.pop(name) for name in ("request_id", "ts", "endpoint", "status", "latency_ms")]
    return RequestLog(*first, **values)


def read_traffic(database_url: str | None, data_dir: Path, group: str) -> Traffic:
    """PostgreSQL when the gateway has ``server.database_url``, else the SQLite files in ``data_dir``."""
    if database_url is not None:
        return asyncio.run(read_postgres(database_url, group))
    return read_sqlite(data_dir, group)


def read_sqlite(data_dir: Path, group: str) -> Traffic:
    """The embedded default: ``data_dir/switchyard.db`` (request log) and ``data_dir/feedback.db`` (if any)."""
    logs, feedback = data_dir / "switchyard.db", data_dir / "feedback.db"
    if not logs.is_file():
        raise TrafficUnavailableError(
            f"no request log at {logs} (pass --data-dir, or --config for a gateway that logs to PostgreSQL)"
        )
    records = [_record(row) for row in _sqlite_rows(logs, _logs_sql(log_sql.qmark), group)]
    given = [feedback_of(row) for row in _sqlite_rows(feedback, SELECT_ALL)] if feedback.is_file() else []
    return Traffic(records, given)


def _sqlite_rows(path: Path, sql: str, *args: Any) -> list[Any]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # read-only: a running gateway may hold the file
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


async def read_postgres(dsn: str, group: str) -> Traffic:
    """Scale-out: the ``request_logs`` and ``feedback`` tables every instance writes to."""
    import asyncpg  # type: ignore[import-untyped]  # only scale-out installs have it

    try:
        conn = await asyncpg.connect(dsn, timeout=_CONNECT_TIMEOUT_S, command_timeout=_QUERY_TIMEOUT_S)
        try:
            rows = await conn.fetch(_logs_sql(log_sql.dollar), group)
            try:
                given = [feedback_of(tuple(row)) for row in await conn.fetch(SELECT_ALL)]
            except asyncpg.UndefinedTableError:
                given = []  # no instance has stored feedback yet
        finally:
            await conn.close()
    except asyncpg.UndefinedTableError:
        raise TrafficUnavailableError(
            "no request log in the PostgreSQL database of server.database_url (has a gateway logged to it?)"
        ) from None
    # ValueError: a malformed URL (a port that is not a number), which asyncpg reports as a plain ValueError.
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, ValueError) as exc:
        raise TrafficUnavailableError(
            f"PostgreSQL (server.database_url) did not answer: {type(exc).__name__}"
        ) from None
    return Traffic([_record(tuple(row)) for row in rows], given)
