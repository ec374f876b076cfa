"""GET /metrics on a real gateway process: counters move with traffic, labels never carry keys or prompts,
and the operator commands (`switchyard status`, `switchyard logs tail`) read the same gateway."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import NotFoundError, OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GatewayFactory
from tests.gateway_process import SWITCHYARD, GatewayProcess, free_port

MASTER = "sk-master-for-metrics-test-0123456789"
SECRET_PROMPT = "my-private-prompt-text-4711"


def config(**observability: Any) -> dict[str, Any]:
    closed = free_port()  # nothing listens here: every call to `flaky` fails at once
    return {
        "server": {"master_key": MASTER},
        "router": {"num_retries": 0, "breaker": {"consecutive_failures": 1, "cooldown_s": 300}},
        "observability": observability,
        "model_groups": {
            "demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]},
            "flaky": {
                "deployments": [
                    {
                        "provider": "openai_compatible",
                        "model": "m",
                        "api_base": f"http://127.0.0.1:{closed}/v1",
                        "api_key": "upstream-key",
                    }
                ],
                "fallbacks": {"default": ["demo"]},
            },
        },
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(config(), tmp_path_factory.mktemp("metrics"))
    client = OpenAI(base_url=f"{process.base_url}/v1", api_key=MASTER, max_retries=0)
    messages: Any = [{"role": "user", "content": SECRET_PROMPT}]
    for _ in range(3):
        client.chat.completions.create(model="demo", messages=messages)
    for _ in client.chat.completions.create(model="demo", messages=messages, stream=True):
        pass
    client.chat.completions.create(model="flaky", messages=messages)  # fails over to demo
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="no-such-model-xyz", messages=messages)
    yield process
    process.stop()


def scrape(base_url: str, key: str | None = MASTER) -> httpx.Response:
    return httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {key}"} if key else {})


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_metrics_need_the_master_key(gateway: GatewayProcess) -> None:
    for key in (None, "sk-wrong"):
        refused = scrape(gateway.base_url, key)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
    allowed = scrape(gateway.base_url)
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain")


def test_counters_follow_the_traffic(gateway: GatewayProcess) -> None:
    found = samples(scrape(gateway.base_url).text)
    chat = "/v1/chat/completions"
    assert (
        value(found, "switchyard_requests_total", group="demo", deployment="demo/0", endpoint=chat, status="200") == 4
    )
    assert (
        value(found, "switchyard_requests_total", group="flaky", deployment="demo/0", endpoint=chat, status="200") == 1
    )
    assert value(found, "switchyard_requests_total", group="_other", deployment="", endpoint=chat, status="404") == 1
    assert value(found, "switchyard_request_duration_seconds_count", group="demo", deployment="demo/0") == 4
    assert value(found, "switchyard_time_to_first_token_seconds_count", group="demo", deployment="demo/0") == 1
    output = value(found, "switchyard_tokens_total", group="demo", deployment="demo/0", direction="output")
    assert output == 4 * 24  # the demo model answers 24 words
    assert (value(found, "switchyard_tokens_total", group="demo", deployment="demo/0", direction="input") or 0) > 0
    # The failed attempt, the fallback it caused, and the breaker it opened.
    failed = [
        labels
        for (name, labels), v in found.items()
        if name == "switchyard_upstream_attempts_total" and ("deployment", "flaky/0") in labels and v == 1
    ]
    assert failed and ("outcome", "ok") not in failed[0]
    moves = [labels for (name, labels), v in found.items() if name == "switchyard_fallbacks_total" and v == 1]
    assert len(moves) == 1 and {("from_group", "flaky"), ("to_group", "demo")} <= moves[0]
    assert value(found, "switchyard_breaker_state", group="flaky", deployment="flaky/0", state="open") == 1
    assert value(found, "switchyard_breaker_state", group="demo", deployment="demo/0", state="closed") == 1
    assert value(found, "switchyard_log_queue_depth") is not None


def test_no_key_model_name_or_prompt_becomes_a_label(gateway: GatewayProcess) -> None:
    text = scrape(gateway.base_url).text
    for secret in (MASTER, "upstream-key", SECRET_PROMPT, "no-such-model-xyz"):
        assert secret not in text


def test_admin_status_and_summary(gateway: GatewayProcess) -> None:
    headers = {"Authorization": f"Bearer {MASTER}"}
    assert httpx.get(f"{gateway.base_url}/admin/status").status_code == 401
    state = httpx.get(f"{gateway.base_url}/admin/status", headers=headers).json()
    deployments = {d["id"]: d for g in state["model_groups"] for d in g["deployments"]}
    assert deployments["flaky/0"]["breaker"] == "open" and not deployments["flaky/0"]["available"]
    assert deployments["demo/0"]["breaker"] == "closed" and deployments["demo/0"]["latency_ms"] is not None
    summary = httpx.get(f"{gateway.base_url}/admin/summary", params={"window": 300}, headers=headers).json()
    assert summary["requests"] == 6 and summary["errors"] == 1
    assert summary["p50_ms"] is not None and sum(p["requests"] for p in summary["series"]) == 6
    bad = httpx.get(f"{gateway.base_url}/admin/summary", params={"window": "soon"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "window"
    documented = httpx.get(f"{gateway.base_url}/admin/openapi.json").json()["paths"]
    assert {"/admin/status", "/admin/summary"} <= set(documented)


def test_metrics_can_be_public(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(config(metrics_public=True))
    assert scrape(gateway.base_url, None).status_code == 200
    assert httpx.get(f"{gateway.base_url}/admin/status").status_code == 401  # only the metrics are public


def run_cli(*args: str, key: str | None = MASTER) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHYARD_MASTER_KEY"}
    if key is not None:
        env["SWITCHYARD_MASTER_KEY"] = key
    return subprocess.run([str(SWITCHYARD), *args], capture_output=True, text=True, env=env, timeout=60)


def test_switchyard_status_shows_deployments_and_breakers(gateway: GatewayProcess) -> None:
    shown = run_cli("status", "--url", gateway.base_url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any("flaky/0" in line and "open" in line for line in lines)
    assert any("demo/0" in line and "closed" in line for line in lines)
    assert "spend today" in shown.stdout
    refused = run_cli("status", "--url", gateway.base_url, key="sk-wrong")
    assert refused.returncode == 1 and "401" in refused.stderr


def test_switchyard_logs_tail_prints_recent_requests(gateway: GatewayProcess) -> None:
    probe = httpx.get(f"{gateway.base_url}/admin/logs", headers={"Authorization": f"Bearer {MASTER}"})
    if probe.status_code == 404:
        pytest.skip("this build has no /admin/logs yet")
    shown = run_cli("logs", "tail", "--url", gateway.base_url, "--no-follow", "--last", "10")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 6
    assert any(" 404 " in f" {line} " and "model_not_found" in line for line in lines)
    assert sum("demo -> demo/0" in line for line in lines) == 4


def test_cache_outcomes_are_counted_by_kind(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway({**config(), "cache": {"enabled": True}})
    body = {"model": "demo", "temperature": 0, "messages": [{"role": "user", "content": "cache me"}]}
    headers = {"Authorization": f"Bearer {MASTER}"}
    seen: dict[str, int] = {}
    for _ in range(4):
        answer = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=headers)
        assert answer.status_code == 200
        status = answer.headers["x-switchyard-cache"]
        seen[status] = seen.get(status, 0) + 1
    assert seen.get("hit", 0) >= 1  # the first answer is stored, later ones are served from the cache
    found = samples(scrape(gateway.base_url).text)
    for status, count in seen.items():
        assert value(found, "switchyard_cache_lookups_total", group="demo", status=status) == count
    summary = httpx.get(f"{gateway.base_url}/admin/summary", headers=headers).json()
    assert summary["cache_hits"] == seen.get("hit", 0) and summary["cache_lookups"] == 4


def test_every_scrape_counts_the_traffic_of_all_workers(start_gateway: GatewayFactory) -> None:
    """With two worker processes, a scrape sees the requests both served, whichever worker answers it."""
    gateway = start_gateway(
        {
            "server": {"master_key": MASTER, "workers": 2},
            "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
        }
    )
    served: set[str] = set()
    for _ in range(40):  # fresh connections, so the kernel spreads them over both workers
        with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
            answer = client.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {MASTER}"},
                json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert answer.status_code == 200
            served.add(answer.headers["x-request-id"][:12])  # the id's prefix names the process
    assert len(served) == 2, served  # both workers answered
    chat = "/v1/chat/completions"
    for _ in range(6):
        found = samples(scrape(gateway.base_url).text)
        labels = {"group": "demo", "deployment": "demo/0", "endpoint": chat, "status": "200"}
        assert value(found, "switchyard_requests_total", **labels) == 40
