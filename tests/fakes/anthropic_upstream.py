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
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes import openai_wire as wire
from tests.fakes.anthropic_errors import DEFAULT_ERRORS, JSON, ApiError, anthropic_error
from tests.fakes.anthropic_events import stream_events
from tests.fakes.anthropic_model import plan
from tests.fakes.anthropic_validation import parse, validate_fields
from tests.fakes.openai_faults import Fault, RecordedRequest
from tests.fakes.openai_upstream import FakeOpenAI

__all__ = ["FakeAnthropic", "Fault", "RecordedRequest", "anthropic_error", "MODELS"]

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7")
FIELDS = frozenset(
    "model messages max_tokens system metadata stop_sequences stream temperature top_p top_k tools tool_choice "
    "thinking service_tier container output_config cache_control inference_geo speed diagnostics".split()
)


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
            body = parse(ex.record.raw)
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


def validate(body: JSON, models: list[str]) -> None:
    # Unknown fields are checked here, against this module's FIELDS, so a test can widen FIELDS with monkeypatch.
    for name in body:
        if name not in FIELDS:
            raise ApiError(f"{name}: Extra inputs are not permitted")
    validate_fields(body, models)
