"""`server.log_format: json`: a gateway process writes JSON lines, and a request's lines carry its request id."""

from __future__ import annotations

import json

import httpx

from tests.conftest import GatewayFactory


def test_json_lines_carry_the_request_id(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        {
            "server": {"log_format": "json", "log_level": "info", "access_log": True},
            "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
        }
    )
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(
        f"{gateway.base_url}/v1/chat/completions", json=body, headers={"x-request-id": "json-log-test-1"}
    )
    assert answer.status_code == 200
    gateway.stop()
    records = [json.loads(line) for line in gateway.output().splitlines() if line.startswith("{")]
    assert records, gateway.output()
    assert all({"ts", "level", "logger", "message"} <= set(record) for record in records)
    assert not any("color_message" in record for record in records)  # no ANSI copies of uvicorn's messages
    mine = [record for record in records if record.get("request_id") == "json-log-test-1"]
    assert mine and "/v1/chat/completions" in mine[0]["message"]
    assert any(record["message"].startswith("Application startup complete") for record in records)
