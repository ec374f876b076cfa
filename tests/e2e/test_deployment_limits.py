"""Per-deployment rpm through a real gateway process: two fake OpenAI upstreams count what reaches them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.conftest import GatewayFactory
from tests.gateway_process import GatewayProcess, free_port

MASTER = "sk-master-deployment-limits"
HELLO = [{"role": "user", "content": "hello"}]


class Upstream:
    """A minimal OpenAI chat completions server on its own thread that counts the calls it answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def chat(request: web.Request) -> web.Response:
            self.calls += 1
            body = await request.json()
            return web.json_response(
                {
                    "id": f"chatcmpl-{self.name}-{self.calls}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": self.name}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                }
            )

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def upstreams() -> Iterator[tuple[Upstream, Upstream]]:
    a, b = Upstream("A"), Upstream("B")
    yield a, b
    a.close()
    b.close()


def deployment(upstream: Upstream, priority: int, **limits: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "id": upstream.name,
        "api_base": upstream.base_url,
        "api_key": "sk-upstream",
        "priority": priority,
        **limits,
    }


def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=MASTER, max_retries=0)


def test_a_deployment_at_its_rpm_is_skipped_and_all_at_limit_is_a_429(
    start_gateway: GatewayFactory, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    group = {
        "strategy": "ordered",
        "num_retries": 0,
        "deployments": [deployment(a, 1, rpm=2), deployment(b, 0, rpm=1)],
    }
    gateway = start_gateway({"server": {"master_key": MASTER}, "model_groups": {"chat": group}})
    sdk = client(gateway)
    answers = [
        sdk.chat.completions.create(model="chat", messages=HELLO).choices[0].message.content  # type: ignore[arg-type]
        for _ in range(3)
    ]
    assert answers == ["A", "A", "B"]
    assert (a.calls, b.calls) == (2, 1)
    with pytest.raises(openai.RateLimitError) as refused:
        sdk.chat.completions.create(model="chat", messages=HELLO)  # type: ignore[arg-type]
    error = refused.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded"
    # A frees a request slot 30 s after its first call, B 60 s after its only one: the sooner is reported.
    assert 25 <= int(error.response.headers["retry-after"]) <= 31
    assert (a.calls, b.calls) == (2, 1)  # the refusal reached no upstream
