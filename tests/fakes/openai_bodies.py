"""Response bodies in OpenAI's documented wire format. Pure functions, no server logic.

Sources for the shapes (never a gateway's output):
- openai-python types ``ChatCompletion``, ``ChatCompletionChunk``, ``CompletionUsage``,
  ``CreateEmbeddingResponse``, ``Embedding``, ``Model`` (generated from the openai-openapi spec);
- the API reference's ``stream_options.include_usage`` text: an extra chunk with ``"choices": []``
  and ``usage`` before ``data: [DONE]``, and ``"usage": null`` on every other chunk;
- streamed tool calls as the API sends them: an opening delta with index, id, type, name and empty
  arguments, then deltas carrying argument fragments only.
Error bodies live in ``openai_errors``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import string
import struct
from dataclasses import dataclass
from typing import Any, Literal

JSON = dict[str, Any]

OPENAI_VERSION = "2020-10-01"
MODEL_CREATED = 1686935002  # a fixed Unix time, so model listings are stable across runs
ARGUMENT_FRAGMENT_CHARS = 5  # streamed tool-call arguments arrive in small fragments, as from the API
IMAGE_PART_TOKENS = 85  # what the API charges for a low-detail image part

_ALNUM = string.ascii_letters + string.digits
_WORD = re.compile(r"\s*\S+")
_NON_SPACE = re.compile(r"\S+")


# ---------------------------------------------------------------------------------------------- ids


def _random_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_request_id() -> str:
    return "req_" + secrets.token_hex(16)


def new_completion_id() -> str:
    return _random_id("chatcmpl-", 29)


def new_tool_call_id() -> str:
    return _random_id("call_", 24)


def new_system_fingerprint() -> str:
    return "fp_" + secrets.token_hex(5)


def dumps(obj: Any) -> str:
    """Compact JSON, like the API's own bodies."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------------------------------- tokens
# One "token" is one whitespace-separated word. Crude, but deterministic, and the same function
# serves plain and streamed replies so their usage always agrees.


def count_tokens(text: str) -> int:
    return len(_NON_SPACE.findall(text))


def split_words(text: str) -> list[str]:
    """Split into word pieces (leading whitespace attached) whose concatenation is ``text``."""
    pieces = _WORD.findall(text)
    rest = text[len("".join(pieces)) :]  # trailing whitespace, kept so nothing is lost
    if rest:
        pieces = [*pieces[:-1], pieces[-1] + rest] if pieces else [rest]
    return pieces


def split_fragments(text: str, size: int = ARGUMENT_FRAGMENT_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def content_text(content: Any) -> str:
    """Text of a message ``content``: a string or an array of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(t for t in texts if isinstance(t, str))
    return ""


def message_tokens(message: JSON) -> int:
    tokens = count_tokens(content_text(message.get("content")))
    content = message.get("content")
    if isinstance(content, list):
        tokens += IMAGE_PART_TOKENS * sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    for call in message.get("tool_calls") or []:
        function = (call.get("function") if isinstance(call, dict) else None) or {}
        tokens += count_tokens(str(function.get("name", ""))) + count_tokens(str(function.get("arguments", "")))
    return tokens


def prompt_tokens(messages: list[JSON]) -> int:
    return max(1, sum(message_tokens(m) for m in messages))


# -------------------------------------------------------------------------------------------- chat


@dataclass(frozen=True)
class ToolCallPlan:
    id: str
    name: str
    arguments: str  # a JSON text, as the API sends it


@dataclass(frozen=True)
class ChoicePlan:
    """What one choice says; plain and streamed bodies are both rendered from this."""

    index: int
    content: str | None
    tool_calls: tuple[ToolCallPlan, ...]
    finish_reason: Literal["stop", "length", "tool_calls"]

    @property
    def completion_tokens(self) -> int:
        if self.tool_calls:
            return sum(1 + len(split_fragments(c.arguments)) for c in self.tool_calls)
        return count_tokens(self.content or "")


@dataclass(frozen=True)
class ChatPlan:
    id: str
    created: int
    model: str
    system_fingerprint: str
    choices: tuple[ChoicePlan, ...]
    prompt_tokens: int

    def usage(self) -> JSON:
        completion = sum(c.completion_tokens for c in self.choices)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _tool_call_json(call: ToolCallPlan) -> JSON:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def chat_completion(plan: ChatPlan) -> JSON:
    choices = [
        {
            "index": c.index,
            "message": {
                "role": "assistant",
                "content": c.content,
                "refusal": None,
                "annotations": [],
                **({"tool_calls": [_tool_call_json(t) for t in c.tool_calls]} if c.tool_calls else {}),
            },
            "logprobs": None,
            "finish_reason": c.finish_reason,
        }
        for c in plan.choices
    ]
    return {
        "id": plan.id,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": choices,
        "usage": plan.usage(),
        "service_tier": "default",
        "system_fingerprint": plan.system_fingerprint,
    }


def _choice_deltas(choice: ChoicePlan) -> list[JSON]:
    """The deltas of one streamed choice, without its final (finish_reason) delta."""
    if not choice.tool_calls:
        first: JSON = {"role": "assistant", "content": "", "refusal": None}
        return [first] + [{"content": piece} for piece in split_words(choice.content or "")]
    deltas: list[JSON] = []
    for index, call in enumerate(choice.tool_calls):
        # First delta of a call: index, id, type, name and empty arguments; then argument fragments.
        opening: JSON = {
            "tool_calls": [
                {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            ]
        }
        if index == 0:
            opening = {"role": "assistant", "content": None, **opening, "refusal": None}
        deltas.append(opening)
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
            for fragment in split_fragments(call.arguments)
        ]
    return deltas


def chat_chunks(plan: ChatPlan, *, include_usage: bool, obfuscation: bool = False) -> list[JSON]:
    """Every ``chat.completion.chunk`` of a streamed reply, in send order (choices interleaved)."""
    per_choice: list[list[tuple[int, JSON, str | None]]] = [
        [(c.index, d, None) for d in _choice_deltas(c)] + [(c.index, {}, c.finish_reason)] for c in plan.choices
    ]
    ordered = [item for row in _interleave(per_choice) for item in row]
    chunks = [_chunk(plan, [_chunk_choice(i, d, f)], include_usage, obfuscation) for i, d, f in ordered]
    if include_usage:
        usage_chunk = _chunk(plan, [], include_usage, obfuscation)
        usage_chunk["usage"] = plan.usage()
        chunks.append(usage_chunk)
    return chunks


def _interleave(rows: list[list[tuple[int, JSON, str | None]]]) -> list[list[tuple[int, JSON, str | None]]]:
    # With n > 1 the API interleaves choices; clients must route deltas by index, so do the same.
    width = max(len(r) for r in rows)
    return [[r[i] for r in rows if i < len(r)] for i in range(width)]


def _chunk_choice(index: int, delta: JSON, finish_reason: str | None) -> JSON:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _chunk(plan: ChatPlan, choices: list[JSON], include_usage: bool, obfuscation: bool) -> JSON:
    chunk: JSON = {
        "id": plan.id,
        "object": "chat.completion.chunk",
        "created": plan.created,
        "model": plan.model,
        "service_tier": "default",
        "system_fingerprint": plan.system_fingerprint,
        "choices": choices,
    }
    if include_usage:
        chunk["usage"] = None
    if obfuscation:
        chunk["obfuscation"] = secrets.token_urlsafe(6)
    return chunk


# -------------------------------------------------------------------------------------- embeddings


def embedding_vector(model: str, item: str | list[int], dimensions: int) -> list[float]:
    """Deterministic unit vector for one input, exactly representable as float32.

    Shorter ``dimensions`` are a renormalised prefix of the longer vector, like the v3 embedding
    models, so ``dimensions`` behaves as documented (shortening, not a different vector).
    """
    key = f"{model}\x00{item if isinstance(item, str) else ','.join(map(str, item))}".encode()
    raw = hashlib.shake_256(key).digest(4 * dimensions)
    return unit_float32([v / 2**31 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw)])


def unit_float32(vector: list[float]) -> list[float]:
    """Scale to unit length and round through float32, so float and base64 answers agree exactly."""
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    packed = struct.pack(f"<{len(vector)}f", *(v / norm for v in vector))
    return list(struct.unpack(f"<{len(vector)}f", packed))


def encode_base64(vector: list[float]) -> str:
    """Little-endian float32 bytes, base64 — the API's ``encoding_format: "base64"``."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embeddings_response(model: str, vectors: list[list[float]], encoding: str, tokens: int) -> JSON:
    data = [
        {"object": "embedding", "index": i, "embedding": encode_base64(v) if encoding == "base64" else v}
        for i, v in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ---------------------------------------------------------------------------------------- models


def model_object(model_id: str) -> JSON:
    return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": "system"}


def models_list(model_ids: list[str]) -> JSON:
    return {"object": "list", "data": [model_object(m) for m in model_ids]}
