"""A fake Ollama server: ``POST /api/chat`` (one JSON object, or NDJSON lines) and ``POST /api/embed``.

    fake = FakeOllama()                         # models: llama3.2, llava, nomic-embed-text; no key needed
    with fake:
        fake.base_url                           # "http://127.0.0.1:PORT"

Shapes from Ollama's docs/api.md and its Go types (``api.ChatRequest``, ``api.Message``, ``api.ToolCall``,
``api.ChatResponse`` with ``Metrics``, ``api.EmbedRequest``/``EmbedResponse``):
- request: ``model``, ``messages`` (role system / user / assistant / tool; ``content`` a string; ``images`` base64
  strings; ``tool_calls[{function: {name, arguments: OBJECT}}]``; ``tool_name`` on tool results), ``tools``,
  ``format`` ("json" or a JSON schema), ``options`` (temperature, top_p, seed, num_predict, stop, ...),
  ``stream`` (true by default!), ``think``, ``keep_alive``; unknown fields are ignored, as Go does;
- answer: ``{model, created_at, message: {role, content, tool_calls?}, done: true, done_reason, total_duration,
  load_duration, prompt_eval_count, prompt_eval_duration, eval_count, eval_duration}``; a stream is one such
  object per line (``application/x-ndjson``) with ``done: false`` until the last, which carries the counts;
  tool calls have no ids and arrive whole in one line;
- errors: ``{"error": "..."}``; an unknown model is a 404 ``model "x" not found, try pulling it first``; a
  wrongly typed field is a 400 with Go's unmarshal message; a failure mid-stream is a ``{"error"}`` line.
``api_key`` set: a bearer token is required (as a proxy in front of Ollama would). Nothing from ``switchyard``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

from aiohttp import web

from tests.fakes import openai_bodies as bodies
from tests.fakes import openai_replies as replies
from tests.fakes import openai_validation as validation
from tests.fakes import openai_wire as wire
from tests.fakes.openai_bodies import JSON, ChatPlan
from tests.fakes.openai_faults import STREAM_FAULTS, Fault
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.openai_validation import ApiError

__all__ = ["FakeOllama", "Fault", "MODELS"]

MODELS = ("llama3.2", "llava", "nomic-embed-text")
ROLES = ("system", "user", "assistant", "tool")
CREATED_AT = "2024-07-22T20:33:28.123648Z"


class OllamaApiError(ApiError):
    def __init__(self, status: int, message: str) -> None:
        Exception.__init__(self, message)
        self.status, self.body = status, {"error": message}


def _unmarshal(value: Any, field: str, go_type: str) -> OllamaApiError:
    kind = {str: "string", list: "array", dict: "object", bool: "bool"}.get(type(value), "number")
    return OllamaApiError(400, f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}")


def _validate(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise OllamaApiError(400, "invalid request body")
    if not body.get("model"):
        raise OllamaApiError(400, "model is required")
    if body["model"] not in MODELS:
        raise OllamaApiError(404, f'model "{body["model"]}" not found, try pulling it first')
    for message in body.get("messages") or []:
        if not isinstance(message.get("content", ""), str):
            raise _unmarshal(message["content"], "Message.messages.content", "string")
        if str(message.get("role", "")).lower() not in ROLES:
            raise OllamaApiError(400, f"invalid role: {message.get('role')}")
        for image in message.get("images") or []:
            try:
                base64.b64decode(image, validate=True)
            except (binascii.Error, TypeError):
                raise OllamaApiError(400, "illegal base64 data at input byte 0") from None
        for call in message.get("tool_calls") or []:
            arguments = (call.get("function") or {}).get("arguments")
            if not isinstance(arguments, dict):
                raise _unmarshal(arguments, "ToolCallFunction.messages.tool_calls.function.arguments",
                                 "api.ToolCallFunctionArguments")  # fmt: skip
    if not isinstance(body.get("options") or {}, dict):
        raise _unmarshal(body["options"], "ChatRequest.options", "map[string]interface {}")
    return body


def _as_openai(body: JSON) -> JSON:
    """The same request in the OpenAI fake planner's vocabulary."""
    options = body.get("options") or {}
    planned: JSON = {"model": body["model"], "messages": body.get("messages") or [], "tools": body.get("tools")}
    if options.get("num_predict") is not None:
        planned["max_tokens"] = options["num_predict"]
    fmt = body.get("format")
    if fmt == "json":
        planned["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict):
        planned["response_format"] = {"type": "json_schema", "json_schema": {"name": "f", "schema": fmt}}
    return {k: v for k, v in planned.items() if v is not None}


def _metrics(plan: ChatPlan) -> JSON:
    completion = sum(c.completion_tokens for c in plan.choices)
    return {"total_duration": 885095291, "load_duration": 3753500, "prompt_eval_count": plan.prompt_tokens,
            "prompt_eval_duration": 328493000, "eval_count": completion, "eval_duration": 552222000}  # fmt: skip


class FakeOllama(FakeOpenAI):
    def __init__(self, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(models=MODELS, api_key=api_key, **kwargs)
        self._require_key = api_key is not None

    @property
    def base_url(self) -> str:
        return self.url

    def _check_auth(self, request: web.Request) -> JSON | None:
        if not self._require_key:
            return None
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.api_keys is not None and key in self.api_keys:
            return None
        return {"error": "unauthorized"}

    async def _route(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        if ex.request.method == "POST" and ex.request.path == "/api/chat":
            return await self._ollama_chat(ex, fault)
        if ex.request.method == "POST" and ex.request.path == "/api/embed":
            return await self._ollama_embed(ex, fault)
        return web.Response(status=404, text="404 page not found")

    async def _ollama_chat(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        try:
            raw = validation.parse_json(ex.record.raw)
        except ApiError:
            raise OllamaApiError(400, "invalid character looking for beginning of value") from None
        body = _validate(raw)
        plan = replies.plan_chat(_as_openai(body), self.reply, "")
        choice = plan.choices[0]
        calls = [{"function": {"index": n, "name": c.name, "arguments": json.loads(c.arguments)}}
                 for n, c in enumerate(choice.tool_calls)]  # fmt: skip
        message: JSON = {"role": "assistant", "content": "" if calls else choice.content or ""}
        if calls:
            message["tool_calls"] = calls
        done_reason = "length" if choice.finish_reason == "length" else "stop"
        final = {"model": body["model"], "created_at": CREATED_AT, "done": True, "done_reason": done_reason,
                 **_metrics(plan)}  # fmt: skip
        if body.get("stream", True) is False:
            return await wire.send_json(ex, {**final, "message": message}, fault, plan.prompt_tokens)
        lines = [{"model": body["model"], "created_at": CREATED_AT, "done": False,
                  "message": {"role": "assistant", "content": piece}}
                 for piece in bodies.split_words(message["content"])]  # fmt: skip
        if calls:
            lines.append({"model": body["model"], "created_at": CREATED_AT, "done": False,
                          "message": {"role": "assistant", "content": "", "tool_calls": calls}})  # fmt: skip
        lines.append({**final, "message": {"role": "assistant", "content": ""}})
        return await self._send_lines(ex, lines, fault)

    async def _send_lines(self, ex: wire.Exchange, lines: list[JSON], fault: Fault | None) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/x-ndjson"})
        ex.record.status = 200
        await response.prepare(ex.request)
        fault_at = fault.after_chunks if fault is not None and fault.kind in STREAM_FAULTS else -1
        for index, line in enumerate(lines):
            if index == fault_at and fault is not None:
                if fault.kind == "cut":
                    return wire.close_connection(ex, response)
                if fault.kind == "malformed_chunk":
                    await response.write(b"{not json\n")
                if fault.kind == "stream_error":
                    await response.write(b'{"error":"an error was encountered while running the model"}\n')
                    await response.write_eof()
                    return response
                if fault.kind == "stall":
                    await asyncio.sleep(fault.delay)
            if index and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await response.write(bodies.dumps(line).encode() + b"\n")
            ex.record.chunks_sent = index + 1
        await response.write_eof()
        ex.record.completed = True
        return response

    async def _ollama_embed(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        body = validation.parse_json(ex.record.raw)
        if body.get("model") not in MODELS:
            raise OllamaApiError(404, f'model "{body.get("model")}" not found, try pulling it first')
        items = [body["input"]] if isinstance(body.get("input"), str) else body.get("input")
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise OllamaApiError(400, "invalid input type")
        size = body.get("dimensions") or self.embedding_dim
        vectors = [bodies.embedding_vector(body["model"], item, size) for item in items]
        tokens = sum(bodies.count_tokens(i) for i in items)
        answer = {"model": body["model"], "embeddings": vectors, "total_duration": 14143917,
                  "load_duration": 1019500, "prompt_eval_count": tokens}  # fmt: skip
        return await wire.send_json(ex, answer, fault, tokens)
