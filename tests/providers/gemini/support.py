"""What the Gemini provider tests share: the upstream key, messages, tools and the schema Gemini should get, and
helpers that talk to the gateway."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import openai

from tests.fakes.gemini_upstream import FakeGemini
from tests.gateway_process import GatewayProcess

KEY = "AIza-upstream-secret-0123456789"
WRONG_KEY = "AIza-wrong-key-zyxwvu987654"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CALL_ID = re.compile(r"call_[0-9a-f]{24}")
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "strict": True,
            "parameters": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {
                    "q": {"type": "string", "format": "uri", "minLength": 1},
                    "site": {"type": ["string", "null"]},
                    "kind": {"$ref": "#/$defs/kind"},
                    "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3},
                },
                "required": ["q"],
                "additionalProperties": False,
                "$defs": {"kind": {"enum": ["news", "pages", 3]}},
            },
        },
    },
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}},
]
SEARCH_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "q": {"type": "STRING", "minLength": 1},
        "site": {"type": "STRING", "nullable": True},
        "kind": {"enum": ["news", "pages", "3"], "type": "STRING"},
        "limit": {"type": "INTEGER", "nullable": True},
    },
    "required": ["q"],
}


def deployment(fake: FakeGemini, model: str = "gemini-2.5-flash", **extra: Any) -> dict[str, Any]:
    return {"provider": "gemini", "model": model, "api_base": fake.base_url, "api_key": KEY, **extra}


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def post(gateway: GatewayProcess, **body: Any) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "gem", **body}, timeout=10)


def stream_events(gateway: GatewayProcess, done: bool = True, **body: Any) -> list[dict[str, Any]]:
    """The stream's events; ``done`` says whether it must end with [DONE] (a broken one must not)."""
    payload = {"model": "gem", "messages": MESSAGES, "stream": True, **body}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=payload, timeout=10) as response:
        assert response.status_code == 200, response.read()
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert (lines[-1] == "[DONE]") is done
    return [json.loads(line) for line in (lines[:-1] if done else lines)]


CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello there"},
    {"role": "assistant", "content": "Hi!"},
    {"role": "developer", "content": [{"type": "text", "text": "Stay on topic."}]},
    {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "a gateway?"}]},
]
