"""What the Anthropic provider tests share: the upstream key, model, messages, tools and images, and helpers
that talk to the gateway and read what the fake received."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.gateway_process import GatewayProcess

KEY = "sk-ant-secret-key-0123456789"
WRONG = "sk-ant-wrong-key-zyxwvu987654"
MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "Search the web", "parameters": SCHEMA}},
    {"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}},
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PIXEL = "data:image/png;base64," + base64.b64encode(PNG).decode()
AUDIO = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}


def deployment(fake: FakeAnthropic, **extra: Any) -> dict[str, Any]:
    return {"provider": "anthropic", "model": MODEL, "api_base": fake.base_url, "api_key": KEY, **extra}


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def post(gateway: GatewayProcess, **body: Any) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "claude", **body}, timeout=10)


def sent(fake: FakeAnthropic) -> dict[str, Any]:
    assert fake.last_request is not None
    body: dict[str, Any] = fake.last_request.json
    return body


def collect(stream: Any) -> tuple[str, str, dict[int, dict[str, str]], str | None, Any]:
    """Content, reasoning, tool calls by index, finish reason and usage of a streamed answer."""
    content, reasoning, calls, finish, usage = "", "", {}, None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            content += choice.delta.content or ""
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                entry["name"] += (delta.function and delta.function.name) or ""
                entry["arguments"] += (delta.function and delta.function.arguments) or ""
    return content, reasoning, calls, finish, usage
