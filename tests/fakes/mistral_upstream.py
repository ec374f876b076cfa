"""A fake Mistral La Plateforme: ``/v1/chat/completions`` and ``/v1/embeddings`` with Mistral's own rules.

    fake = FakeMistral(api_key="mistral-key")   # models: mistral-small-latest, mistral-embed
    with fake:
        fake.base_url                           # "http://127.0.0.1:PORT/v1"

Shapes from Mistral's API reference and its official Python client (``ChatCompletionRequest``,
``ToolCall``, ``UsageInfo``, ``HTTPValidationError``) and error bodies quoted in public issue threads:
- unknown fields are refused: 422 ``{"object": "error", "message": {"detail": [{"type": "extra_forbidden",
  "loc": ["body", FIELD], ...}]}, "type": "invalid_request_error", "param": null, "code": null}``
  (so ``seed``, ``max_completion_tokens``, ``user``, ``stream_options``, a user message's ``name`` all fail);
- ``tool_choice`` is auto / none / any / required or ``{"type": "function", "function": {"name"}}``;
- tool-call ids must be nine alphanumerics (400 "Tool call id was X but must be a-z, A-Z, 0-9, with a
  length of 9."); the last message must be user or tool (or an assistant ``prefix``);
- answers have nine-character tool-call ids, ``finish_reason`` stop / length / model_length / error /
  tool_calls; a stream sends each tool call whole in one delta and ``usage`` on its last chunk, unasked;
- a bad key is a 401 ``{"message": "Unauthorized", "request_id": ...}``.
The model's answers come from the OpenAI fake's planner; this module imports nothing from ``switchyard``.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from aiohttp import web

from tests.fakes import openai_bodies as bodies
from tests.fakes import openai_replies as replies
from tests.fakes import openai_validation as validation
from tests.fakes import openai_wire as wire
from tests.fakes.openai_bodies import JSON, ChatPlan
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.openai_validation import ApiError

__all__ = ["FakeMistral", "Fault", "mistral_error", "MODELS"]

MODELS = ("mistral-small-latest", "mistral-large-latest", "mistral-embed")
CHAT_FIELDS = frozenset(
    "model messages temperature top_p max_tokens stream stop random_seed response_format tools tool_choice "
    "presence_penalty frequency_penalty n prediction parallel_tool_calls safe_prompt prompt_mode".split()
)
MESSAGE_FIELDS = {
    "system": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "prefix"},
    "tool": {"role", "content", "tool_call_id", "name"},
}
EMBED_FIELDS = frozenset({"model", "input", "output_dimension", "output_dtype", "encoding_format"})
_ID = re.compile(r"[a-zA-Z0-9]{9}")


def mistral_error(message: Any, type_: str = "invalid_request_error", code: str | None = None) -> JSON:
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


def _extra(loc: list[Any], value: Any) -> JSON:
    return {"type": "extra_forbidden", "loc": ["body", *loc], "msg": "Extra inputs are not permitted", "input": value}


class MistralApiError(ApiError):
    """An error answer in Mistral's shape (the OpenAI fake's handler writes ``status`` and ``body``)."""

    def __init__(self, status: int, body: JSON) -> None:
        Exception.__init__(self, str(body.get("message")))
        self.status, self.body = status, body


def _new_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(9))


class FakeMistral(FakeOpenAI):
    def __init__(self, api_key: str = "mistral-key", **kwargs: Any) -> None:
        super().__init__(models=MODELS, api_key=api_key, **kwargs)

    def _check_auth(self, request: web.Request) -> JSON | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.api_keys is not None and key.strip() in self.api_keys:
            return None
        return {"message": "Unauthorized", "request_id": secrets.token_hex(16)}

    async def _route(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        method, path = ex.request.method, ex.request.path
        if method == "POST" and path == "/v1/chat/completions":
            return await self._mistral_chat(ex, fault)
        if method == "POST" and path == "/v1/embeddings":
            return await self._mistral_embeddings(ex, fault)
        return wire.json_response(ex, 404, {"detail": "Not Found"})

    def _check_fields(self, body: JSON) -> None:
        problems = [_extra([k], v) for k, v in body.items() if k not in CHAT_FIELDS]
        for i, message in enumerate(body.get("messages") or []):
            allowed = MESSAGE_FIELDS.get(message.get("role"), set())
            problems += [_extra(["messages", i, k], v) for k, v in message.items() if k not in allowed]
        if problems:
            raise MistralApiError(422, mistral_error({"detail": problems}))

    async def _mistral_chat(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        body = validation.parse_json(ex.record.raw)
        if not isinstance(body, dict):
            raise MistralApiError(
                422, mistral_error({"detail": [{"type": "dict_type", "loc": ["body"], "msg": "bad"}]})
            )
        self._check_fields(body)
        if body.get("model") not in self.models:
            raise MistralApiError(400, mistral_error("Invalid model: " + str(body.get("model")), code="1500"))
        messages = body.get("messages") or []
        for message in messages:
            ids = [c.get("id", "") for c in message.get("tool_calls") or []] + (
                [message["tool_call_id"]] if "tool_call_id" in message else []
            )
            for call_id in ids:
                if not _ID.fullmatch(str(call_id)):
                    raise MistralApiError(400, mistral_error(
                        f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9."
                    ))  # fmt: skip
        last = messages[-1] if messages else {}
        if last.get("role") not in ("user", "tool") and not last.get("prefix"):
            role = last.get("role")
            expected = "Expected last role User or Tool (or Assistant with prefix True) for serving"
            raise MistralApiError(400, mistral_error(f"{expected} but got {role}"))
        choice = body.get("tool_choice")
        if choice is not None and choice not in ("auto", "none", "any", "required") and not isinstance(choice, dict):
            msg = "Input should be 'auto', 'none', 'any' or 'required'"
            detail = [{"type": "enum", "loc": ["body", "tool_choice"], "msg": msg}]
            raise MistralApiError(422, mistral_error({"detail": detail}))
        # The OpenAI planner decides the answer; only the vocabulary differs.
        planned = {**body, "tool_choice": "required" if choice == "any" else choice}
        planned = {k: v for k, v in planned.items() if v is not None}
        checked = validation.validate_chat(planned, self.models, self.context_window)
        plan = replies.plan_chat(checked, self.reply, "")
        ids = [[_new_id() for _ in c.tool_calls] for c in plan.choices]
        if not body.get("stream"):
            return await wire.send_json(ex, _completion(plan, ids), fault, plan.prompt_tokens)
        return await wire.send_stream(ex, _chunks(plan, ids), plan.prompt_tokens, fault, self.chunk_delay)

    async def _mistral_embeddings(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        body = validation.parse_json(ex.record.raw)
        problems = [_extra([k], v) for k, v in body.items() if k not in EMBED_FIELDS]
        if problems:
            raise MistralApiError(422, mistral_error({"detail": problems}))
        items = [body["input"]] if isinstance(body.get("input"), str) else list(body.get("input") or [])
        size = body.get("output_dimension") or self.embedding_dim
        vectors = [bodies.embedding_vector(body["model"], item, size) for item in items]
        answer = bodies.embeddings_response(body["model"], vectors, body.get("encoding_format", "float"), len(items))
        answer["id"] = secrets.token_hex(16)
        answer["usage"]["completion_tokens"] = 0
        return await wire.send_json(ex, answer, fault)


def _usage(plan: ChatPlan) -> JSON:
    usage = plan.usage()
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _calls(choice: bodies.ChoicePlan, ids: list[str]) -> list[JSON]:
    return [
        {"id": i, "function": {"name": c.name, "arguments": c.arguments}, "index": n}
        for n, (i, c) in enumerate(zip(ids, choice.tool_calls, strict=True))
    ]


def _completion(plan: ChatPlan, ids: list[list[str]]) -> JSON:
    choices = [
        {
            "index": c.index,
            "message": {"role": "assistant", "content": c.content or "", "prefix": False,
                        "tool_calls": _calls(c, ids[c.index]) or None},
            "finish_reason": c.finish_reason,
        }
        for c in plan.choices
    ]  # fmt: skip
    return {"id": plan.id, "object": "chat.completion", "created": plan.created, "model": plan.model,
            "choices": choices, "usage": _usage(plan)}  # fmt: skip


def _chunks(plan: ChatPlan, ids: list[list[str]]) -> list[JSON]:
    def chunk(index: int, delta: JSON, finish: str | None = None) -> JSON:
        choice = {"index": index, "delta": delta, "finish_reason": finish}
        return {"id": plan.id, "object": "chat.completion.chunk", "created": plan.created, "model": plan.model,
                "choices": [choice]}  # fmt: skip

    out: list[JSON] = []
    for c in plan.choices:
        out.append(chunk(c.index, {"role": "assistant", "content": ""}))
        if c.tool_calls:
            out.append(chunk(c.index, {"tool_calls": _calls(c, ids[c.index])}))
        else:
            out += [chunk(c.index, {"content": piece}) for piece in bodies.split_words(c.content or "")]
        out.append(chunk(c.index, {"content": ""}, c.finish_reason))
    out[-1]["usage"] = _usage(plan)
    return out
