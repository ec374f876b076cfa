"""Helpers for the chaos suite: two fake upstreams and a gateway in front of them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import GatewayProcess

KEY = "sk-chaos-0123456789"
MESSAGES = [{"role": "user", "content": "Tell me something reliable."}]


def deployment(fake: FakeOpenAI, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": name,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "api_base": fake.base_url,
        "api_key": KEY,
        **extra,
    }


def chat_config(*deployments: dict[str, Any], router: dict[str, Any] | None = None, **groups: Any) -> dict[str, Any]:
    return {
        "router": {"strategy": "ordered", "num_retries": 2, "retry_backoff_s": 0.01, **(router or {})},
        "model_groups": {"chat": {"deployments": list(deployments)}, **groups},
    }


def ordered(fakes: list[FakeOpenAI], **extra: Any) -> list[dict[str, Any]]:
    """Deployments named primary, secondary, ... with falling priority, so the order is fixed."""
    names = ["primary", "secondary", "tertiary"]
    return [deployment(f, names[i], priority=10 - i, **extra) for i, f in enumerate(fakes)]


@dataclass
class Outcome:
    status: int
    headers: httpx.Headers
    body: Any
    seconds: float
    events: list[str]

    @property
    def done(self) -> bool:
        return "[DONE]" in self.events

    @property
    def error_event(self) -> dict[str, Any] | None:
        if self.events and self.events[-1] != "[DONE]":
            last = json.loads(self.events[-1])
            return last.get("error") if isinstance(last, dict) else None
        return None

    def text(self) -> str:
        parts = []
        for event in self.events:
            if event != "[DONE]":
                for choice in json.loads(event).get("choices", []):
                    parts.append(choice.get("delta", {}).get("content") or "")
        return "".join(parts)


def call(gateway: GatewayProcess, stream: bool = False, headers: dict[str, str] | None = None, **body: Any) -> Outcome:
    payload = {"model": "chat", "messages": MESSAGES, **body}
    started = time.perf_counter()
    if not stream:
        response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=payload, headers=headers, timeout=30)
        return Outcome(response.status_code, response.headers, response.json(), time.perf_counter() - started, [])
    payload["stream"] = True
    with httpx.stream(
        "POST", f"{gateway.base_url}/v1/chat/completions", json=payload, headers=headers, timeout=30
    ) as response:
        if response.status_code != 200:
            response.read()
            return Outcome(response.status_code, response.headers, response.json(), time.perf_counter() - started, [])
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        return Outcome(200, response.headers, None, time.perf_counter() - started, events)


def chat_calls(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


def fakes(count: int) -> Iterator[list[FakeOpenAI]]:
    upstreams = [FakeOpenAI(api_key=KEY).start() for _ in range(count)]
    try:
        yield upstreams
    finally:
        for upstream in upstreams:
            upstream.stop()
