"""Several gateway processes logging into one PostgreSQL: every request any of them answered is stored, once.

One instance is stopped with SIGTERM in the middle of the load (it must flush what it accepted), another is
killed with SIGKILL after its records were flushed (they must stay). Logs lost must be zero.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import GatewayFactory
from tests.gateway_process import GatewayProcess
from tests.services import PostgresServer

MASTER = "sk-master-multi"


def config(dsn: str) -> dict[str, object]:
    demo = {"provider": "demo", "model": "demo-1", "simulate": {"latency_ms": 15, "reply_words": 8}}
    return {
        "server": {"master_key": MASTER, "database_url": dsn},
        "model_groups": {"demo": {"deployments": [demo]}},
    }


def send(gateway: GatewayProcess, request_id: str, client: httpx.Client) -> bool:
    """True when the gateway answered (so it accepted the request and owes a log record)."""
    body = {"model": "demo", "messages": [{"role": "user", "content": request_id}], "stream": request_id[-1] in "05"}
    headers = {"authorization": f"Bearer {MASTER}", "x-request-id": request_id}
    try:
        response = client.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=headers)
    except httpx.TransportError:
        return False  # refused or cut while the instance stopped: never accepted
    assert response.status_code == 200, response.text
    return True


def stored(postgres: PostgresServer, database: str) -> list[str]:
    out = postgres.psql(database, "SELECT request_id FROM request_logs ORDER BY request_id")
    return out.splitlines() if out else []


def test_logs_count_equals_requests_answered_across_instances_and_kills(
    postgres_server: PostgresServer, start_gateway: GatewayFactory
) -> None:
    dsn = postgres_server.fresh_database()
    database = dsn.rsplit("/", 1)[1]
    gateways = [start_gateway(config(dsn)) for _ in range(3)]
    a, b, c = gateways

    # c serves a first wave, which is flushed to the database before c is killed outright.
    with httpx.Client(timeout=30) as client:
        first = [f"c-{i:04d}" for i in range(60) if send(c, f"c-{i:04d}", client)]
    deadline = time.monotonic() + 20
    while len(stored(postgres_server, database)) < len(first):
        assert time.monotonic() < deadline, "c's records never reached the database"
        time.sleep(0.1)
    c.process.send_signal(signal.SIGKILL)
    c.process.wait(10)

    # a and b share the main load; b is stopped gracefully a third of the way through.
    answered: list[str] = []
    lock = threading.Lock()
    counter = itertools.count()
    stop_at = 200

    def worker(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            while (n := next(counter)) < 600:
                if n == stop_at:
                    threading.Thread(target=b.stop, args=(signal.SIGTERM,)).start()
                target = (a, b)[n % 2]
                request_id = f"{'ab'[n % 2]}-{n:04d}"
                if send(target, request_id, client):
                    with lock:
                        answered.append(request_id)

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(worker, range(12)))
    assert b.process.wait(30) in (0, -signal.SIGTERM)
    answered_by_b = [r for r in answered if r.startswith("b-")]
    assert 0 < len(answered_by_b) < 300, "b was stopped in the middle of its share"
    assert a.stop() in (0, -signal.SIGTERM)

    logged = stored(postgres_server, database)
    assert len(logged) == len(set(logged)), "no record stored twice"
    assert sorted(logged) == sorted(first + answered), "logs lost: 0"
    print(f"\nmulti-instance logs: sent {len(first) + 600}, answered {len(first) + len(answered)}, "
          f"logged {len(logged)}, lost 0 (b answered {len(answered_by_b)} before SIGTERM, c SIGKILLed)")
