"""The test servers themselves: real Redis and PostgreSQL answer, and survive a restart on the same address."""

from __future__ import annotations

import subprocess
import time

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


def test_postgres_restarts_while_a_client_holds_a_connection(postgres_server: PostgresServer) -> None:
    # A client session that stays connected: smart shutdown would wait for it forever.
    holder = subprocess.Popen(
        ["psql", postgres_server.dsn, "-c", "SELECT pg_sleep(60)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
        for _ in range(100):
            if postgres_server.psql("switchyard", waiting) == "1":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the holding session never connected")
        postgres_server.restart()
        assert postgres_server.psql("switchyard", "SELECT 1") == "1"
    finally:
        holder.kill()
        holder.wait()
