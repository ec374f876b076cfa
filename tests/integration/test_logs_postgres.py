"""Request logs in PostgreSQL: the store's SQL against a real server, and a gateway riding out a database outage."""

from __future__ import annotations

import asyncio
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from switchyard.storage.logs_postgres import PostgresLogStore
from switchyard.types.logs import LogQuery, SpendQuery
from tests.conftest import GatewayFactory
from tests.services import PostgresServer
from tests.unit.storage.test_log_stores import T0, record, sample

MASTER = "sk-master-logs-test"


def gateway_config(dsn: str) -> dict[str, object]:
    return {
        "server": {"master_key": MASTER, "database_url": dsn},
        "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
    }


def test_store_against_a_real_server(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.fresh_database()

    async def run() -> None:
        store = PostgresLogStore(dsn)
        await store.write_batch(sample())
        await store.write_batch([record(3), record(31)])  # a replayed batch: stored once
        everything = (await store.search(LogQuery(limit=1000))).data
        assert len(everything) == 32 and await store.get("r31") == sample()[-1]
        assert {r.request_id for r in (await store.search(LogQuery(status="error"))).data} == {"r30"}
        assert {r.request_id for r in (await store.search(LogQuery(model="h", team_id="t1"))).data} == {"r31"}
        walked, after = [], None
        while True:
            page = await store.search(LogQuery(limit=5, after=after))
            walked += [r.request_id for r in page.data]
            if page.next is None:
                break
            after = page.next
        assert walked == [f"r{i}" for i in reversed(range(32))]
        days = await store.spend(SpendQuery(group_by="day"))
        assert [(row.group, row.requests) for row in days] == [("2023-11-14", 31), ("2023-11-15", 1)]
        users = await store.spend(SpendQuery(group_by="user"))
        assert [(row.group, row.requests) for row in users] == [("u1", 7), (None, 25)]
        models = {row.group: row for row in await store.spend(SpendQuery(group_by="model", team_id="t1"))}
        assert models["h"].cost_usd == pytest.approx(0.5) and models["g"].requests == 15
        assert await store.delete_before(T0 + 10) == 10
        await store.close()
        # A second instance starting on the same database finds the migrations applied.
        again = PostgresLogStore(dsn)
        assert len((await again.search(LogQuery(limit=1000))).data) == 22
        await again.close()

    asyncio.run(run())
    assert postgres_server.psql(dsn.rsplit("/", 1)[1], "SELECT max(version) FROM request_log_migrations") == "1"


def send(base_url: str, i: int) -> int:
    body = {"model": "demo", "messages": [{"role": "user", "content": f"hello {i}"}], "stream": i % 3 == 0}
    headers = {"authorization": f"Bearer {MASTER}", "x-request-id": f"req-{i}"}
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=30).status_code


def test_a_database_outage_fails_no_request_and_loses_no_record(
    postgres_server: PostgresServer, start_gateway: GatewayFactory
) -> None:
    dsn = postgres_server.fresh_database()
    database = dsn.rsplit("/", 1)[1]
    gateway = start_gateway(gateway_config(dsn))
    with ThreadPoolExecutor(8) as pool:
        before = list(pool.map(lambda i: send(gateway.base_url, i), range(0, 100)))
        postgres_server.stop()
        try:
            during = list(pool.map(lambda i: send(gateway.base_url, i), range(100, 250)))
            spill = gateway.data_dir / "spill"
            assert spill.is_dir() and any(spill.glob("*.jsonl")), "records made during the outage are on disk"
            outage = httpx.get(f"{gateway.base_url}/admin/logs", headers={"authorization": f"Bearer {MASTER}"})
            assert outage.status_code == 503 and outage.json()["error"]["code"] == "store_unavailable"
        finally:
            postgres_server.start()
        after = list(pool.map(lambda i: send(gateway.base_url, i), range(250, 300)))
    assert before + during + after == [200] * 300
    assert gateway.stop() in (0, -signal.SIGTERM)
    rows = postgres_server.psql(database, "SELECT count(*), count(DISTINCT request_id) FROM request_logs")
    assert rows == "300|300"
    assert not list((gateway.data_dir / "spill").glob("*.jsonl"))


def test_query_api_reads_postgres(postgres_server: PostgresServer, start_gateway: GatewayFactory) -> None:
    dsn = postgres_server.fresh_database()
    gateway = start_gateway(gateway_config(dsn))
    for i in range(12):
        assert send(gateway.base_url, i) == 200
    auth = {"authorization": f"Bearer {MASTER}"}
    url = f"{gateway.base_url}/admin/logs"
    seen: list[str] = []
    cursor = None
    for _ in range(100):  # written in the background: wait until all twelve are there
        page = httpx.get(url, params={"limit": 200}, headers=auth).json()
        if len(page["data"]) == 12:
            break
        time.sleep(0.05)
    params: dict[str, object] = {"limit": 5, "model": "demo"}
    while True:
        page = httpx.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth).json()
        seen += [r["request_id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"req-{i}" for i in range(12)) and len(seen) == 12
    one = httpx.get(f"{url}/req-3", headers=auth).json()
    assert one["status"] == 200 and one["stream"] is True and one["deployment"] == "demo/0"
    spend = httpx.get(f"{gateway.base_url}/admin/spend", params={"group_by": "model"}, headers=auth).json()
    assert spend["data"][0]["group"] == "demo" and spend["data"][0]["requests"] == 12
