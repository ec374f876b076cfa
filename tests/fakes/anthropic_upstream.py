"""A fake Anthropic Messages API: ``POST /v1/messages`` with Anthropic's own rules, answers and errors.

    fake = FakeAnthropic(api_key="sk-ant-key")     # models: claude-haiku-4-5, -sonnet-4-6, -opus-4-7
    with fake:
        fake.base_url                             # "http://127.0.0.1:PORT" (the client appends /v1/messages)
        fake.push_fault(Fault("status", status=529))
        fake.set_cache(read=100, creation=20)     # report prompt-cache tokens in usage

Shapes from the API reference (Messages, Streaming Messages, Errors, Rate limits) and the official Python
SDK's types (``MessageCreateParams``, ``Message``, ``Usage``, ``RawMessageStreamEvent``, ``ErrorResponse``):
- auth is ``x-api-key`` (or ``Authorization: Bearer``, which the SDK now sends; 401 ``authentication_error``);
  ``anthropic-version`` is required;
- errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with 400 invalid_request_error,
  401, 403 permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error (with
  ``retry-after``), 500 api_error, 529 overloaded_error; validation messages start with the field's path;
- ``max_tokens`` is required; unknown fields are refused; roles alternate user/assistant (as the API long
  required; it now merges same-role turns, so this fake is stricter); there is no "system" role; text blocks
  must be non-empty; every ``tool_use`` needs a ``tool_result`` in the next turn and vice versa, and requests
  holding either must define tools; a forced tool choice is refused while thinking, and so is a tool loop
  whose calling turn does not start with its thinking block; ``thinking`` (with its ``signature``) and
  ``redacted_thinking`` blocks belong to assistant turns; claude-opus-4-7 thinks adaptively only
  (``thinking.type: adaptive`` + ``output_config.effort``) and refuses budgets;
- a stream is ``event: NAME`` + ``data: JSON`` frames: message_start, per block content_block_start / deltas /
  content_block_stop, ping, message_delta (stop_reason, cumulative usage), message_stop; a mid-stream failure
  is an ``error`` event.
The model: it calls the tools whose names the last user text mentions (any: else the first; tool: that one),
answers tool results with ``Results: id=content; ...``, else ``Echo: <last user text>`` plus a note per image
or document; "REFUSE" in the text gets a refusal; ``output_config.format`` (structured outputs) makes the text a
JSON object following the schema. It imports nothing from ``switchyard``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import math
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes import openai_wire as wire
from tests.fakes.openai_faults import Fault, RecordedRequest
from tests.fakes.openai_upstream import FakeOpenAI

__all__ = ["FakeAnthropic", "Fault", "RecordedRequest", "anthropic_error", "MODELS"]

JSON = dict[str, Any]
MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7")
ADAPTIVE_ONLY = ("claude-opus-4-7",)  # refuse token-budget thinking
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MAX_OUTPUT = 64_000
FIELDS = frozenset(
    "model messages max_tokens system metadata stop_sequences stream temperature top_p top_k tools tool_choice "
    "thinking service_tier container output_config cache_control inference_geo speed diagnostics".split()
)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
DEFAULT_ERRORS = {
    400: ("invalid_request_error", "messages: Field required"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def anthropic_error(type_: str, message: str) -> JSON:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": _id("req_")}


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.body = status, anthropic_error(type_, message)


def _id(prefix: str, seed: str | None = None) -> str:
    tail = hashlib.sha256(seed.encode()).hexdigest()[:24] if seed is not None else secrets.token_hex(12)
    return prefix + tail


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


class FakeAnthropic(FakeOpenAI):
    def __init__(self, api_key: str = "sk-ant-test-key", **kwargs: Any) -> None:
        kwargs.setdefault("models", MODELS)
        kwargs.setdefault("context_window", 200_000)
        super().__init__(api_key=api_key, **kwargs)
        self.cache_read = self.cache_creation = 0

    @property
    def base_url(self) -> str:
        return self.url

    def set_cache(self, read: int = 0, creation: int = 0) -> None:
        self.cache_read, self.cache_creation = read, creation

    def reset(self) -> None:
        super().reset()
        self.set_cache()

    def _headers(self, ex: wire.Exchange) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
        headers = {"request-id": ex.request_id, "anthropic-organization-id": "org-fake"}
        for limit in ("requests", "tokens", "input-tokens", "output-tokens"):
            headers |= {f"anthropic-ratelimit-{limit}-limit": "4000", f"anthropic-ratelimit-{limit}-remaining": "3999"}
            headers[f"anthropic-ratelimit-{limit}-reset"] = reset
        return headers

    def _json(self, ex: wire.Exchange, status: int, body: JSON) -> web.Response:
        ex.record.status = status
        return web.json_response(body, status=status, headers=self._headers(ex), dumps=json.dumps)

    async def _respond(self, ex: wire.Exchange) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(ex.request.path)
        ex.record.fault = fault
        if fault is not None and fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
        elif fault is not None and fault.kind == "drop_connection":
            return wire.close_connection(ex, web.Response())
        elif fault is not None and fault.kind == "wrong_content_type":
            return wire.html_response(ex)
        elif fault is not None and (fault.kind == "status" or (fault.kind == "stream_error" and not ex.record.stream)):
            return self._fault_response(ex, fault)
        try:
            self._check_headers(ex.request)
            if ex.request.method != "POST" or ex.request.path != "/v1/messages":
                raise ApiError("Not found", 404, "not_found_error")
            body = _parse(ex.record.raw)
            validate(body, self.models)
            reply = await plan(body, self)
        except ApiError as err:
            return self._json(ex, err.status, err.body)
        if not body.get("stream"):
            return await self._send_message(ex, reply, fault)
        return await self._send_stream(ex, reply, fault)

    def _check_headers(self, request: web.Request) -> None:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        key = request.headers.get("x-api-key") or (bearer.strip() if scheme.lower() == "bearer" else "")
        if not key:
            raise ApiError("x-api-key header is required", 401, "authentication_error")
        if self.api_keys is not None and key not in self.api_keys:
            raise ApiError("invalid x-api-key", 401, "authentication_error")
        if not request.headers.get("anthropic-version"):
            raise ApiError("anthropic-version: header is required")

    def _fault_response(self, ex: wire.Exchange, fault: Fault) -> web.Response:
        type_, message = DEFAULT_ERRORS.get(fault.status, ("api_error", "Internal server error"))
        response = self._json(ex, fault.status, fault.body or anthropic_error(type_, message))
        if fault.status == 429:
            response.headers["anthropic-ratelimit-requests-remaining"] = "0"
        if fault.retry_after is not None:
            response.headers["retry-after"] = f"{fault.retry_after:g}"
        response.headers.update(fault.headers)
        return response

    async def _send_message(self, ex: wire.Exchange, reply: JSON, fault: Fault | None) -> web.StreamResponse:
        response = self._json(ex, 200, reply)
        if fault is None or fault.kind not in ("cut", "malformed_chunk", "stall"):
            return response
        data = b"{not json" if fault.kind == "malformed_chunk" else json.dumps(reply).encode()
        streamed = web.StreamResponse(status=200, headers={**response.headers})
        streamed.content_length = len(data)
        await streamed.prepare(ex.request)
        await streamed.write(data[: len(data) // 2])
        if fault.kind == "cut":
            return wire.close_connection(ex, streamed)
        await asyncio.sleep(fault.delay)
        await streamed.write(data[len(data) // 2 :])
        return streamed

    async def _send_stream(self, ex: wire.Exchange, reply: JSON, fault: Fault | None) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=self._headers(ex))
        response.headers["Content-Type"] = "text/event-stream; charset=utf-8"
        response.headers["Cache-Control"] = "no-cache"
        ex.record.status = 200
        await response.prepare(ex.request)
        events = stream_events(reply)
        for index, (name, data) in enumerate(events):
            if fault is not None and index == fault.after_chunks:
                if fault.kind == "cut":
                    return wire.close_connection(ex, response)
                if fault.kind == "stall":
                    await asyncio.sleep(fault.delay)
                elif fault.kind == "malformed_chunk":
                    await response.write(b"event: content_block_delta\ndata: {not json\n\n")
                elif fault.kind == "stream_error":
                    type_, message = DEFAULT_ERRORS.get(fault.status, ("api_error", "Internal server error"))
                    error = fault.body or anthropic_error(type_, message)
                    await response.write(b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n")
                    await response.write_eof()
                    return response
            if index and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            ex.record.chunks_sent = index + 1
        await response.write_eof()
        ex.record.completed = True
        return response


# --- validation ----------------------------------------------------------------------------------------------


def _parse(raw: bytes) -> JSON:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError("There was an issue with the format of your request: invalid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("Input should be a valid dictionary")
    return body


def validate(body: JSON, models: list[str]) -> None:
    for name in body:
        if name not in FIELDS:
            raise ApiError(f"{name}: Extra inputs are not permitted")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise ApiError(f"{name}: Field required")
    if body["model"] not in models:
        raise ApiError(f"model: {body['model']}", 404, "not_found_error")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 0:
        raise ApiError("max_tokens: Input should be a valid integer greater than or equal to 0")
    if max_tokens > MAX_OUTPUT:
        raise ApiError(f"max_tokens: {max_tokens} > {MAX_OUTPUT}, which is the maximum allowed number of output "
                       f"tokens for {body['model']}")  # fmt: skip
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            raise ApiError(f"{name}: Input should be less than or equal to 1")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        for i, block in enumerate(system):
            _text_block(f"system.{i}", block)
    stops = body.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise ApiError("stop_sequences: Input should be a valid list of strings")
    if set(body.get("metadata") or {}) - {"user_id"}:
        raise ApiError("metadata: Extra inputs are not permitted")
    names = _validate_tools(body)
    _validate_messages(body["messages"], bool(names))
    _validate_thinking(body)


def _text_block(where: str, block: Any) -> None:
    if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
        raise ApiError(f"{where}: Input should be a valid text block")
    if not block["text"]:
        raise ApiError(f"{where}.text: text content blocks must be non-empty")
    if not block["text"].strip():
        raise ApiError(f"{where}.text: text content blocks must contain non-whitespace text")


def _validate_tools(body: JSON) -> set[str]:
    names: set[str] = set()
    for k, tool in enumerate(body.get("tools") or []):
        if not _TOOL_NAME.match(str(tool.get("name", ""))):
            raise ApiError(f"tools.{k}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise ApiError(f"tools.{k}.custom.input_schema: Field required")
        if schema.get("type") != "object":
            raise ApiError(f"tools.{k}.custom.input_schema.type: Input should be 'object'")
        if set(tool) - {"name", "description", "input_schema", "type", "cache_control", "strict"}:
            raise ApiError(f"tools.{k}.custom: Extra inputs are not permitted")
        if tool["name"] in names:
            raise ApiError("tools: Tool names must be unique.")
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not names:
            raise ApiError("tool_choice: tool_choice may only be specified while providing tools.")
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise ApiError("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise ApiError(f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in provided tools")
    return names


def _validate_messages(messages: Any, has_tools: bool) -> None:
    if not isinstance(messages, list) or not messages:
        raise ApiError("messages: at least one message is required")
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            raise ApiError('messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                           'parameter, not "system" as an input message role.')  # fmt: skip
        if role not in ("user", "assistant"):
            raise ApiError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i and messages[i - 1].get("role") == role:
            raise ApiError(f'messages: roles must alternate between "user" and "assistant", but found multiple '
                           f'"{role}" roles in a row')  # fmt: skip
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks and not (role == "assistant" and i == len(messages) - 1):
            raise ApiError(f"messages.{i}: all messages must have non-empty content except for the optional final "
                           "assistant message")  # fmt: skip
        uses = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if (uses or results) and not has_tools:
            raise ApiError("Requests which include `tool_use` or `tool_result` blocks must define tools.")
        for j, block in enumerate(blocks):
            _validate_block(f"messages.{i}.content.{j}", role, block)
        unexpected = [r for r in results if r not in pending]
        if unexpected:
            raise ApiError(f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                           f"{unexpected[0]}. Each `tool_result` block must have a corresponding `tool_use` "
                           "block in the previous message.")  # fmt: skip
        if pending - set(results):
            raise ApiError(f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                           f"after: {', '.join(sorted(pending - set(results)))}. Each `tool_use` block must have "
                           "a corresponding `tool_result` block in the next message.")  # fmt: skip
        pending = set(uses)


def _validate_block(where: str, role: str, block: Any) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        _text_block(where, block)
    elif kind == "image" or kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "url" and kind == "image":
            if not str(source.get("url", "")).startswith(("http://", "https://")):
                raise ApiError(f"{where}.image.source.url.url: URL must use http or https")
        elif source.get("type") != "base64":
            raise ApiError(f"{where}.{kind}.source: Input tag '{source.get('type')}' does not match any expected tag")
        else:
            allowed = IMAGE_TYPES if kind == "image" else ("application/pdf",)
            if source.get("media_type") not in allowed:
                raise ApiError(f"{where}.{kind}.source.base64.media_type: Input should be {' or '.join(allowed)}")
            try:
                base64.b64decode(source.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(f"{where}.{kind}.source.base64.data: invalid base64 data") from None
        if role != "user":
            raise ApiError(f"{where}: {kind} blocks are only allowed in user messages")
    elif kind == "tool_use":
        if role != "assistant":
            raise ApiError(f"{where}: tool_use blocks are only allowed in assistant messages")
        if not _TOOL_ID.match(str(block.get("id", ""))):
            raise ApiError(f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("input"), dict):
            raise ApiError(f"{where}.tool_use.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if role != "user":
            raise ApiError(f"{where}: tool_result blocks are only allowed in user messages")
        content = block.get("content")
        for k, item in enumerate(content if isinstance(content, list) else []):
            _validate_block(f"{where}.content.{k}", role, item)
    elif kind in ("thinking", "redacted_thinking"):
        if role != "assistant":
            raise ApiError(f"{where}: {kind} blocks are only allowed in assistant messages")
        field = "signature" if kind == "thinking" else "data"
        if not isinstance(block.get(field), str) or not block[field]:
            raise ApiError(f"{where}.{kind}.{field}: Field required")
    else:
        raise ApiError(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags")


def _validate_thinking(body: JSON) -> None:
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        raise ApiError(f"output_config.effort: Input should be {', '.join(map(repr, EFFORTS))}")
    output_format = (body.get("output_config") or {}).get("format")
    if output_format is not None and (output_format.get("type") != "json_schema" or
                                      not isinstance(output_format.get("schema"), dict)):  # fmt: skip
        raise ApiError("output_config.format: Input should be a json_schema format with a schema")
    thinking = body.get("thinking")
    if not thinking or thinking.get("type") not in ("enabled", "adaptive"):
        return
    if thinking["type"] == "enabled":
        if body["model"] in ADAPTIVE_ONLY:
            raise ApiError("thinking.type.enabled is not supported for this model. Use thinking.type.adaptive and "
                           "output_config.effort to control thinking behavior.")  # fmt: skip
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise ApiError("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= body["max_tokens"]:
            raise ApiError("`max_tokens` must be greater than `thinking.budget_tokens`")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise ApiError("Thinking may not be enabled when tool_choice forces tool use.")
    if body.get("temperature") not in (None, 1):
        raise ApiError("`temperature` may only be set to 1 when thinking is enabled.")
    # Inside a tool-use loop (the last turn only returns results) the calling turn must start with its thinking.
    messages = body["messages"]
    results = messages[-1]["content"] if len(messages) > 1 and isinstance(messages[-1]["content"], list) else []
    blocks = messages[-2]["content"] if results and all(r.get("type") == "tool_result" for r in results) else []
    if blocks and isinstance(blocks, list) and blocks[0].get("type") != "thinking":
        raise ApiError(f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
                       f"`redacted_thinking`, but found `{blocks[0].get('type')}`. When `thinking` is enabled, a "
                       "final `assistant` message must start with a thinking block.")  # fmt: skip


# --- the model -----------------------------------------------------------------------------------------------


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
        content.append({"type": "thinking", "thinking": f"Thinking about: {text}", "signature": _id("sig", text)})
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
    return {"id": _id("msg_"), "type": "message", "role": "assistant", "model": body["model"], "content": content,
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
    return [{"type": "tool_use", "id": _id("toolu_", f"{t['name']}{n}{text}"), "name": t["name"],
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


def stream_events(message: JSON) -> list[tuple[str, JSON]]:
    """The SSE events that stream ``message``: text in words, tool input in two fragments."""
    usage = message["usage"]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    events: list[tuple[str, JSON]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        deltas: list[JSON]
        if block["type"] == "text":
            opening: JSON = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": w} for w in re.findall(r"\s*\S+", block["text"])]
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": w} for w in re.findall(r"\s*\S+", block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            opening = {**block, "input": {}}
            raw = json.dumps(block["input"])
            halves = [raw[: len(raw) // 2], raw[len(raw) // 2 :]] if block["input"] else []
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *halves]]
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        )
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    final = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    counts = {k: v for k, v in usage.items() if k != "service_tier"}
    events.append(("message_delta", {"type": "message_delta", "delta": final, "usage": counts}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events
