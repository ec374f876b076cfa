"""Every request is logged off the request path, and graceful shutdown writes everything accepted."""

from __future__ import annotations

import json
import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import GatewayFactory

DEMO = {"model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}}}


def rows(path: str) -> list[dict[str, object]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM request_logs")]
    finally:
        db.close()


def test_logs_survive_shutdown_and_describe_each_request(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(DEMO)
    url = f"{gateway.base_url}/v1/chat/completions"
    body = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}

    def send(i: int) -> int:
        response = httpx.post(url, json={**body, "stream": i % 2 == 0}, headers={"x-request-id": f"req-{i}"})
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(200)))
    assert statuses == [200] * 200
    assert httpx.post(url, json={"model": "nope", "messages": body["messages"]}).status_code == 404
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert gateway.stop() in (0, -signal.SIGTERM)

    logged = rows(str(gateway.data_dir / "switchyard.db"))
    assert len(logged) == 201
    by_id = {r["request_id"]: r for r in logged}
    streamed, plain = by_id["req-0"], by_id["req-1"]
    assert streamed["stream"] == 1 and plain["stream"] == 0
    for row in (streamed, plain):
        assert row["status"] == 200 and row["deployment"] == "demo/0" and row["model_group"] == "demo"
        assert row["completion_tokens"] == 24 and row["prompt_tokens"] > 0
        assert json.loads(str(row["trace"]))[0]["deployment"] == "demo/0"
    assert streamed["ttft_ms"] is not None
    assert plain["cost_usd"] == 0.0  # the demo model is priced (at zero) in the table
    failed = [r for r in logged if r["status"] == 404]
    assert len(failed) == 1 and failed[0]["error_code"] == "model_not_found"
