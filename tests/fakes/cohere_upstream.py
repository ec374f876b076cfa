"""A fake Cohere API: ``POST /v2/chat`` (JSON or typed SSE events) and ``POST /v2/embed``.

    fake = FakeCohere(api_key="co-key")         # models: command-a-03-2025, embed-v4.0
    with fake:
        fake.base_url                           # "http://127.0.0.1:PORT" (paths carry /v2)

Shapes from Cohere's v2 API reference (chat, chat-stream, embed) and its official Python client
(``V2ChatResponse``, ``StreamedChatResponseV2`` events, ``Usage{billed_units, tokens}``, ``EmbedByTypeResponse``):
- request: ``model``, ``messages`` (system / user / assistant with ``tool_calls`` and ``tool_plan`` / tool with
  ``tool_call_id``), ``tools``, ``strict_tools``, ``tool_choice`` REQUIRED or NONE, ``response_format``
  ``{type: json_object, json_schema}``, ``max_tokens``, ``temperature``, ``p`` (0.01..0.99), ``k``,
  ``stop_sequences`` (at most 5), ``seed``, penalties (0..1); other fields are refused;
- answer: ``{id, finish_reason: COMPLETE | STOP_SEQUENCE | MAX_TOKENS | TOOL_CALL | ERROR, message: {role,
  content: [{type: text, text}], tool_plan, tool_calls}, usage: {billed_units, tokens}}``;
- stream: ``event: NAME`` + ``data: {"type": NAME, ...}`` for message-start, content-start/-delta/-end,
  tool-plan-delta, tool-call-start/-delta/-end and message-end (finish_reason, usage); then the body ends;
- errors: ``{"message": "..."}`` with 400 / 401 / 402 / 404 / 422 / 429 / 499 / 500 / 503; a prompt saying
  ``FAIL_MIDWAY`` ends with ``finish_reason: ERROR`` (and, streamed, an ``error`` in message-end).
Answers come from the OpenAI fake's planner (same "Echo: ..." text and tool rules); nothing from ``switchyard``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
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

__all__ = ["FakeCohere", "Fault", "cohere_error", "MODELS"]

MODELS = ("command-a-03-2025", "command-a-vision-07-2025", "embed-v4.0")
CHAT_FIELDS = frozenset(
    "model messages stream tools strict_tools documents citation_options response_format safety_mode max_tokens "
    "stop_sequences temperature seed frequency_penalty presence_penalty k p logprobs tool_choice thinking".split()
)
ROLES = ("system", "user", "assistant", "tool")
_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}


def cohere_error(message: str) -> JSON:
    return {"message": message}


class CohereApiError(ApiError):
    def __init__(self, status: int, message: str) -> None:
        Exception.__init__(self, message)
        self.status, self.body = status, cohere_error(message)


def _bad(message: str) -> CohereApiError:
    return CohereApiError(400, f"invalid request: {message}")


def _validate(body: Any, models: tuple[str, ...]) -> JSON:
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        raise _bad(f'json: unknown field "{unknown[0]}"')
    if not isinstance(body.get("model"), str):
        raise _bad("model must be a string")
    if body["model"] not in models:
        raise CohereApiError(404, f"model '{body['model']}' not found, make sure the correct model ID was used and "
                                  "that you have access to the model.")  # fmt: skip
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages must be a non-empty list")
    for i, m in enumerate(messages):
        if m.get("role") not in ROLES:
            raise _bad(f"messages[{i}].role must be one of {', '.join(ROLES)}")
        if m["role"] == "tool" and ("tool_call_id" not in m or "content" not in m):
            raise _bad(f"messages[{i}]: a tool message needs tool_call_id and content")
        if m["role"] in ("system", "user") and not m.get("content"):
            raise _bad(f"messages[{i}].content is required")
        for call in m.get("tool_calls") or []:
            if not call.get("id") or not isinstance((call.get("function") or {}).get("arguments"), str):
                raise _bad(f"messages[{i}].tool_calls need an id and function.arguments as a string")
    choice = body.get("tool_choice")
    if choice is not None and (choice not in ("REQUIRED", "NONE") or not body.get("tools")):
        raise _bad("tool_choice must be REQUIRED or NONE, and needs tools")
    p = body.get("p")
    if p is not None and not 0.01 <= p <= 0.99:
        raise _bad("p must be between 0.01 and 0.99")
    for name in ("frequency_penalty", "presence_penalty"):
        if body.get(name) is not None and not 0 <= body[name] <= 1:
            raise _bad(f"{name} must be between 0 and 1")
    if len(body.get("stop_sequences") or []) > 5:
        raise _bad("stop_sequences can hold at most 5 strings")
    return body


def _as_openai(body: JSON) -> JSON:
    """The same request in the OpenAI fake planner's vocabulary."""
    planned: JSON = {"model": body["model"], "messages": body["messages"], "tools": body.get("tools")}
    if body.get("tool_choice"):
        planned["tool_choice"] = body["tool_choice"].lower()
    if body.get("max_tokens") is not None:
        planned["max_tokens"] = body["max_tokens"]
    fmt = body.get("response_format") or {}
    if fmt.get("json_schema"):
        planned["response_format"] = {"type": "json_schema", "json_schema": {"name": "s", "schema": fmt["json_schema"]}}
    elif fmt.get("type") == "json_object":
        planned["response_format"] = {"type": "json_object"}
    return {k: v for k, v in planned.items() if v is not None}


def _usage(plan: ChatPlan) -> JSON:
    completion = sum(c.completion_tokens for c in plan.choices)
    billed = {"input_tokens": plan.prompt_tokens, "output_tokens": completion}
    return {"billed_units": billed, "tokens": {"input_tokens": plan.prompt_tokens + 120, "output_tokens": completion}}


class FakeCohere(FakeOpenAI):
    def __init__(self, api_key: str = "co-key", **kwargs: Any) -> None:
        super().__init__(models=MODELS, api_key=api_key, **kwargs)

    @property
    def base_url(self) -> str:
        return self.url

    def _check_auth(self, request: web.Request) -> JSON | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.api_keys is not None and key.strip() in self.api_keys:
            return None
        return cohere_error("invalid api token")

    async def _route(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        if ex.request.method == "POST" and ex.request.path == "/v2/chat":
            return await self._cohere_chat(ex, fault)
        if ex.request.method == "POST" and ex.request.path == "/v2/embed":
            return await self._cohere_embed(ex, fault)
        return wire.json_response(ex, 404, cohere_error("404 page not found"))

    async def _cohere_chat(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        body = _validate(validation.parse_json(ex.record.raw), MODELS)
        plan = replies.plan_chat(_as_openai(body), self.reply, "")
        choice = plan.choices[0]
        calls = [{"id": f"{c.name}_{uuid.uuid4().hex[:8]}", "type": "function",
                  "function": {"name": c.name, "arguments": c.arguments}} for c in choice.tool_calls]  # fmt: skip
        message: JSON = {"role": "assistant"}
        if calls:
            message |= {"tool_plan": "I will use the tools.", "tool_calls": calls}
        else:
            message["content"] = [{"type": "text", "text": choice.content or ""}]
        answer = {"id": str(uuid.uuid4()), "finish_reason": _FINISH[choice.finish_reason], "message": message,
                  "usage": _usage(plan)}  # fmt: skip
        if "FAIL_MIDWAY" in replies.last_user_text(body["messages"]):
            answer["finish_reason"] = "ERROR"  # generation failed after it began (message-end carries "error")
        if not body.get("stream"):
            return await wire.send_json(ex, answer, fault, plan.prompt_tokens)
        return await self._send_events(ex, _events(answer, choice.content or ""), fault)

    async def _send_events(self, ex: wire.Exchange, events: list[JSON], fault: Fault | None) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=ex.headers())
        response.headers["Content-Type"] = "text/event-stream"
        ex.record.status = 200
        await response.prepare(ex.request)
        fault_at = fault.after_chunks if fault is not None and fault.kind in STREAM_FAULTS else -1
        for index, event in enumerate(events):
            if index == fault_at and fault is not None:
                if fault.kind == "cut":
                    return wire.close_connection(ex, response)
                if fault.kind == "malformed_chunk":
                    await response.write(b"event: content-delta\ndata: {not json\n\n")
                if fault.kind == "stall":
                    await asyncio.sleep(fault.delay)
            if index and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await response.write(f"event: {event['type']}\ndata: {bodies.dumps(event)}\n\n".encode())
            ex.record.chunks_sent = index + 1
        await response.write_eof()
        ex.record.completed = True
        return response

    async def _cohere_embed(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        body = validation.parse_json(ex.record.raw)
        texts = body.get("texts") if isinstance(body, dict) else None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise _bad("texts must be a list of strings")
        if body.get("model") not in MODELS:
            raise CohereApiError(404, f"model '{body.get('model')}' not found")
        if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering"):
            raise _bad("valid input_type must be provided with the provided model")
        size = body.get("output_dimension") or self.embedding_dim
        vectors = [bodies.embedding_vector(body["model"], t, size) for t in texts]
        tokens = sum(bodies.count_tokens(t) for t in texts)
        answer = {"id": str(uuid.uuid4()), "texts": texts, "embeddings": {"float": vectors},
                  "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
                  "response_type": "embeddings_by_type"}  # fmt: skip
        return await wire.send_json(ex, answer, fault, tokens)


def _events(answer: JSON, text: str) -> list[JSON]:
    message = answer["message"]
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    events: list[JSON] = [{"id": answer["id"], "type": "message-start", "delta": {"message": start}}]
    if message.get("tool_calls"):
        events += [{"type": "tool-plan-delta", "delta": {"message": {"tool_plan": w}}}
                   for w in bodies.split_words(message["tool_plan"])]  # fmt: skip
        for index, call in enumerate(message["tool_calls"]):
            opening = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
            events.append({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": opening}}})
            events += [{"type": "tool-call-delta", "index": index,
                        "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}}
                       for piece in bodies.split_fragments(call["function"]["arguments"])]  # fmt: skip
            events.append({"type": "tool-call-end", "index": index})
    else:
        content = {"type": "text", "text": ""}
        events.append({"type": "content-start", "index": 0, "delta": {"message": {"content": content}}})
        events += [{"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": w}}}}
                   for w in bodies.split_words(text)]  # fmt: skip
        events.append({"type": "content-end", "index": 0})
    end = {"finish_reason": answer["finish_reason"], "usage": answer["usage"]}
    if answer["finish_reason"] == "ERROR":
        end["error"] = "internal error while generating"
    events.append({"type": "message-end", "delta": end})
    return events


def decode_events(raw: bytes) -> list[JSON]:
    """The ``data`` payloads of an SSE body (for self-checks)."""
    return [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
