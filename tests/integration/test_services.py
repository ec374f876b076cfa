"""The test servers themselves: real Redis and PostgreSQL answer, and survive a restart on the same address."""

from __future__ import annotations

from tests.services import PostgresServer, RedisServer


def test_redis_answers_and_restarts(redis_server: RedisServer) -> None:
    assert redis_server.command("PING") == b"+PONG\r\n"
    redis_server.command("SET", "k", "v")
    redis_server.restart()
    assert redis_server.command("PING") == b"+PONG\r\n"
    # No persistence: a restart is a clean slate, which is what the degrade-mode tests rely on.
    assert redis_server.command("GET", "k") == b"$-1\r\n"


def test_postgres_answers_and_gives_fresh_databases(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.fresh_database()
    name = dsn.rsplit("/", 1)[1]
    postgres_server.psql(name, "CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)")
    assert postgres_server.psql(name, "SELECT sum(x) FROM t") == "42"
    assert postgres_server.fresh_database() != dsn
