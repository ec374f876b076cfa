"""The fake Anthropic model: the whole answer to a valid request as a non-streamed Message. It calls the tools
the last user text names, answers tool results, echoes text (noting images and documents), refuses on
"REFUSE" and follows a structured-output schema."""

from __future__ import annotations

import base64
import json
import math
import re
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.fakes.anthropic_errors import JSON, ApiError, make_id
from tests.fakes.anthropic_validation import IMAGE_TYPES

if TYPE_CHECKING:
    from tests.fakes.anthropic_upstream import FakeAnthropic


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


async def plan(body: JSON, fake: FakeAnthropic) -> JSON:
    """The whole answer, as a non-streamed Message; streams are rendered from it."""
    messages = body["messages"]
    user = next((m for m in reversed(messages) if m["role"] == "user"), None)
    if user is None:
        raise ApiError('messages: first message must use the "user" role')
    blocks = [{"type": "text", "text": user["content"]}] if isinstance(user["content"], str) else user["content"]
    text = " ".join(b["text"] for b in blocks if b["type"] == "text")
    prompt = json.dumps(body.get("system") or "") + json.dumps(messages) + json.dumps(body.get("tools") or [])
    input_tokens = _tokens(prompt)
    if input_tokens > fake.context_window:
        raise ApiError(f"prompt is too long: {input_tokens} tokens > {fake.context_window} maximum")
    content: list[JSON] = []
    if (body.get("thinking") or {}).get("type") in ("enabled", "adaptive"):
        content.append({"type": "thinking", "thinking": f"Thinking about: {text}", "signature": make_id("sig", text)})
    stop_reason, stop_sequence = "end_turn", None
    calls = _tool_calls(body, text) if not any(b["type"] == "tool_result" for b in blocks) else []
    if calls:
        content += calls
        stop_reason = "tool_use"
    elif "REFUSE" in text:
        stop_reason = "refusal"
    else:
        answer = await _answer(blocks, text)
        output_format = (body.get("output_config") or {}).get("format")
        if output_format is not None:
            answer = json.dumps(_example(output_format["schema"], text))
        for sequence in body.get("stop_sequences") or []:
            if sequence in answer:
                answer, stop_reason, stop_sequence = answer[: answer.index(sequence)], "stop_sequence", sequence
        words = answer.split(" ")
        if len(words) > body["max_tokens"]:
            answer, stop_reason = " ".join(words[: body["max_tokens"]]), "max_tokens"
        content.append({"type": "text", "text": answer})
    output = sum(len(b["text"].split()) if b["type"] == "text" else len(json.dumps(b.get("input")).split())
                 for b in content if b["type"] != "thinking")  # fmt: skip
    usage: JSON = {
        "input_tokens": max(0, input_tokens - fake.cache_read - fake.cache_creation),
        "cache_creation_input_tokens": fake.cache_creation,
        "cache_read_input_tokens": fake.cache_read,
        "output_tokens": output,
        "service_tier": "standard",
    }
    if content and content[0]["type"] == "thinking":
        usage["output_tokens_details"] = {"thinking_tokens": len(content[0]["thinking"].split())}
        usage["output_tokens"] += usage["output_tokens_details"]["thinking_tokens"]
    return {"id": make_id("msg_"), "type": "message", "role": "assistant", "model": body["model"], "content": content,
            "stop_reason": stop_reason, "stop_sequence": stop_sequence, "usage": usage}  # fmt: skip


def _tool_calls(body: JSON, text: str) -> list[JSON]:
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    chosen = [t for t in tools if re.search(rf"\b{re.escape(t['name'])}\b", text)]
    if choice["type"] == "none":
        chosen = []
    elif choice["type"] == "tool":
        chosen = [t for t in tools if t["name"] == choice["name"]]
    elif choice["type"] == "any" and not chosen:
        chosen = tools[:1]
    if choice.get("disable_parallel_tool_use"):
        chosen = chosen[:1]
    return [{"type": "tool_use", "id": make_id("toolu_", f"{t['name']}{n}{text}"), "name": t["name"],
             "input": _example(t["input_schema"], text)} for n, t in enumerate(chosen)]  # fmt: skip


def _example(schema: JSON, text: str) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties") or {"answer": {"type": "string"}}
        return {name: _example(sub, text) for name, sub in properties.items()}
    return {"string": f"Echo: {text}", "number": 42, "integer": 42, "boolean": True, "array": []}.get(str(kind))


async def _answer(blocks: list[JSON], text: str) -> str:
    results = [b for b in blocks if b["type"] == "tool_result"]
    if results:
        return "Results: " + "; ".join(f"{b['tool_use_id']}={_result_text(b.get('content'))}" for b in results)
    notes = []
    for block in blocks:
        source = block.get("source") or {}
        if block["type"] in ("image", "document") and source.get("type") == "base64":
            notes.append(f"[{source['media_type']} {len(base64.b64decode(source['data']))} bytes]")
        elif block["type"] == "image":
            notes.append(await _fetch(source["url"]))
    return " ".join([f"Echo: {text}", *notes])


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(b.get("text", f"[{b['type']}]") for b in content)
    return str(content or "")


async def _fetch(url: str) -> str:
    """Anthropic downloads URL images itself; so does the fake."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url, timeout=aiohttp.ClientTimeout(5)) as got:
            data, media_type = await got.read(), got.headers.get("Content-Type", "")
            ok = got.status == 200 and media_type in IMAGE_TYPES
    except (aiohttp.ClientError, TimeoutError):
        ok = False
    if not ok:
        raise ApiError("Unable to download the file. Please verify the URL and try again.")
    return f"[url {media_type} {len(data)} bytes]"
