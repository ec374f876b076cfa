"""What the Bedrock provider tests share: models, credentials, messages, tools and images, and helpers that talk
to the gateway and read its answers."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai

from tests.fakes.bedrock_upstream import ACCESS_KEY, SECRET_KEY, FakeBedrock
from tests.gateway_process import GatewayProcess

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"
API_KEY = "bedrock-api-key-ABCDEFGHIJKLMNOP"
SECRETS = (SECRET_KEY, TOKEN, API_KEY)
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} something",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
    for name in ("search", "lookup")
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PIXEL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def deployment(fake: FakeBedrock, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "bedrock",
        "model": CLAUDE,
        "api_base": fake.base_url,
        "aws_region": "us-east-1",
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "aws_session_token": TOKEN,
        **extra,
    }


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def chat(gateway: GatewayProcess, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "claude")
    kwargs.setdefault("messages", MESSAGES)
    return sdk(gateway).chat.completions.create(**kwargs)


def stream(gateway: GatewayProcess, **kwargs: Any) -> list[Any]:
    return list(chat(gateway, stream=True, **kwargs))


def joined(chunks: list[Any], field: str = "content") -> str:
    return "".join(getattr(c.choices[0].delta, field, None) or "" for c in chunks if c.choices)


def streamed_calls(chunks: list[Any]) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    return calls


def post(gateway: GatewayProcess, model: str = "claude", stream: bool = False, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": MESSAGES, "stream": stream, **extra}
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30)


def assert_no_secret(text: str) -> None:
    assert not any(secret in text for secret in SECRETS)
