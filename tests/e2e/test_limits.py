"""Rate limits and budgets through a real gateway process, seen by the official OpenAI SDK."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from aiohttp import web

from tests.conftest import GatewayFactory
from tests.gateway_process import GatewayProcess, free_port
from tests.governance_modes import GovernanceMode

MASTER = "sk-master-limits"
HELLO = [{"role": "user", "content": "hello"}]


def config(limits: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    group: dict[str, Any] = {"deployments": [{"provider": "demo", "model": "demo-1", **extra.pop("deployment", {})}]}
    if limits:
        group["limits"] = limits
    return {"server": {"master_key": MASTER}, "model_groups": {"demo": group}, **extra}


@pytest.fixture
def start(start_gateway: GatewayFactory, governance_mode: GovernanceMode) -> GatewayFactory:
    """``start_gateway`` in each deployment: every test here runs embedded and on PostgreSQL + Redis."""
    return lambda cfg: start_gateway(governance_mode.config(cfg))


def client(gateway: GatewayProcess, key: str = MASTER) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


def create_key(gateway: GatewayProcess, **fields: Any) -> str:
    response = httpx.post(f"{gateway.base_url}/admin/keys", json=fields, headers={"authorization": f"Bearer {MASTER}"})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def test_rpm_refusal_is_a_429_with_retry_after_and_ratelimit_headers(start: GatewayFactory) -> None:
    gateway = start(config({"rpm": 3}))
    sdk = client(gateway)
    remaining = []
    for _ in range(3):
        raw = sdk.chat.completions.with_raw_response.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as refused:
        sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
    error = refused.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded"
    assert 15 <= int(error.response.headers["retry-after"]) <= 21  # the next slot frees 20 s after the first
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.response.headers["x-request-id"]


def test_embeddings_share_the_groups_limits(start: GatewayFactory) -> None:
    gateway = start(config({"rpm": 2, "tpm": 100_000}))
    sdk = client(gateway)
    raw = sdk.embeddings.with_raw_response.create(model="demo", input=["hello world", "goodbye"])
    assert len(raw.parse().data) == 2
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 100_000
    sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError):
        sdk.embeddings.create(model="demo", input="again")


def test_exactly_n_of_3n_concurrent_requests_are_admitted(start: GatewayFactory) -> None:
    gateway = start(config({"rpm": 10}))
    url = f"{gateway.base_url}/v1/chat/completions"
    body = {"model": "demo", "messages": HELLO}
    headers = {"authorization": f"Bearer {MASTER}"}
    with ThreadPoolExecutor(15) as pool:
        statuses = list(pool.map(lambda _: httpx.post(url, json=body, headers=headers).status_code, range(30)))
    assert sorted(statuses) == [200] * 10 + [429] * 20


def test_tpm_holds_within_one_requests_tokens(start: GatewayFactory) -> None:
    tpm = 400
    gateway = start(config({"tpm": tpm}))
    sdk = client(gateway)
    used, largest, refused = 0, 0, 0
    for _ in range(40):
        try:
            reply = sdk.chat.completions.create(model="demo", messages=HELLO, max_tokens=30)  # type: ignore[arg-type]
        except openai.RateLimitError as exc:
            assert exc.response.headers["x-ratelimit-limit-tokens"] == str(tpm)
            refused += 1
            continue
        assert reply.usage is not None
        used += reply.usage.total_tokens
        largest = max(largest, reply.usage.total_tokens)
    assert refused > 0
    # Tokens refill at tpm/60 a second while the loop runs; the window is the loop's own duration at most.
    assert used <= tpm + largest + tpm  # the bucket, one request's overshoot, and at most a minute of refill
    assert used >= tpm // 2


def test_streams_are_settled_on_their_reported_usage(start: GatewayFactory) -> None:
    # Each stream reserves ~1010 tokens (max_tokens 1000) of a 3000 TPM bucket but uses ~40: only settling on
    # the real usage lets ten streams in a row through.
    gateway = start(config({"tpm": 3000}))
    sdk = client(gateway)
    for _ in range(10):
        stream = sdk.chat.completions.create(
            model="demo",
            messages=HELLO,
            max_tokens=1000,
            stream=True,  # type: ignore[arg-type]
        )
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_concurrency_limit(start: GatewayFactory) -> None:
    gateway = start(config({"max_concurrency": 2}, deployment={"simulate": {"latency_ms": 1500}}))
    url = f"{gateway.base_url}/v1/chat/completions"
    headers = {"authorization": f"Bearer {MASTER}"}

    def send(_: int) -> tuple[int, str]:
        response = httpx.post(url, json={"model": "demo", "messages": HELLO}, headers=headers, timeout=30)
        return response.status_code, response.text

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(send, range(6)))
    assert sorted(status for status, _ in results) == [200, 200, 429, 429, 429, 429]
    assert all("concurrent" in text for status, text in results if status == 429)
    # The slots were released: the next two go through.
    with ThreadPoolExecutor(2) as pool:
        assert [status for status, _ in pool.map(send, range(2))] == [200, 200]


def test_key_limits_apply_per_key(start: GatewayFactory) -> None:
    gateway = start(config())
    first, second = create_key(gateway, rpm=2), create_key(gateway, rpm=2)
    for key in (first, second):
        sdk = client(gateway, key)
        for _ in range(2):
            sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]


PRICED = {"prices": {"per_request": 0.004}}


def test_budget_refuses_after_spend_and_survives_restart(tmp_path: Path, governance_mode: GovernanceMode) -> None:
    cfg = governance_mode.config(config(deployment=PRICED))  # one config for both lives: the same databases
    gateway = GatewayProcess(cfg, tmp_path)
    try:
        key = create_key(gateway, budget_usd=0.01, budget_period="daily")
        sdk = client(gateway, key)
        for _ in range(3):  # spend before each: 0, 0.004, 0.008 (< 0.01)
            sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as refused:
            sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
        body = refused.value.body
        assert isinstance(body, dict) and body["type"] == "insufficient_quota" and body["code"] == "budget_exceeded"
        assert refused.value.response.headers["x-should-retry"] == "false"
        assert "daily budget" in body["message"] and "resets at" in body["message"]
    finally:
        gateway.stop()
    restarted = GatewayProcess(cfg, tmp_path)  # same data directory: keys and request log
    try:
        with pytest.raises(openai.RateLimitError):
            client(restarted, key).chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
    finally:
        restarted.stop()


class Receiver:
    """A local aiohttp webhook receiver on its own thread and loop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.failures_left = 1  # the first delivery fails: the notifier must retry

        async def alert(request: web.Request) -> web.Response:
            if self.failures_left:
                self.failures_left -= 1
                return web.Response(status=503)
            self.received.append(await request.json())
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/alerts", alert)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_webhook_fires_once_per_threshold(start: GatewayFactory, receiver: Receiver) -> None:
    cfg = config(deployment=PRICED, budgets={"webhook_url": receiver.url, "soft_thresholds": [0.5, 1.0]})
    gateway = start(cfg)
    key = create_key(gateway, budget_usd=0.01, budget_period="monthly")
    sdk = client(gateway, key)
    for _ in range(3):  # 0.004, 0.008 (crosses 0.5), 0.012 (crosses 1.0)
        sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="demo", messages=HELLO)  # type: ignore[arg-type]
    alerts = receiver.wait_for(2)
    assert [a["threshold"] for a in alerts] == [0.5, 1.0]
    first = alerts[0]
    assert first["scope"] == "key" and first["id"].startswith("key_") and first["period"] == "monthly"
    assert first["max_usd"] == 0.01 and first["spend_usd"] == pytest.approx(0.008)
    assert alerts[1]["spend_usd"] == pytest.approx(0.012)
    assert gateway.stop() is not None  # graceful shutdown drains the alert queue
    assert len(receiver.received) == 2  # nothing fired twice
