"""The exact-cache key: a hash of everything in a request that can change the answer.

The key is computed from the body the upstream will see (the client's own JSON, or its native body for formats
that pass through), not from the typed request, so parameters the gateway does not model but forwards still
count. Fields that cannot change the answer are dropped (``user``, ``metadata``, ``stream_options``, ``store``),
object keys are sorted, ``null`` equals absent and ``1.0`` equals ``1``; the result is hashed with BLAKE2b
together with the tenant namespace, so two tenants never compute the same key.

For the semantic index the same body is split in two: the last user message (the text compared by meaning) and
everything else (hashed into the semantic namespace, so tools and parameters must still match exactly, and by
default the system prompt and earlier turns too). An operator may let the system prompt or the earlier turns
differ (``SEMANTIC_PARTS``): they are then left out of the namespace instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

# Carry no meaning for the answer: who asked, tags, how the answer is delivered, what the upstream keeps.
IGNORED_FIELDS = frozenset({"user", "metadata", "stream", "stream_options", "store"})
# A field equal to its documented default is the same request as one without it.
_DEFAULTS: dict[str, Any] = {"n": 1}
# What besides tools and parameters a semantic hit requires to be identical; every one of them by default.
SEMANTIC_PARTS = frozenset({"system", "history"})
_SYSTEM_ROLES = frozenset({"system", "developer"})


def _number(text: str) -> int | float:
    value = float(text)
    # JSON does not tell 1 from 1.0; neither does any upstream.
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


_decoder = msgspec.json.Decoder(float_hook=_number)
_encoder = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True, slots=True)
class RequestKey:
    exact: str
    # Set only when a semantic lookup is possible: the last user message is plain text.
    semantic_namespace: str | None = None
    semantic_text: str | None = None


def _digest(namespace: str, canonical: bytes) -> str:
    hasher = hashlib.blake2b(digest_size=20)
    hasher.update(namespace.encode())
    hasher.update(b"\0")
    hasher.update(canonical)
    return hasher.hexdigest()


def canonical_body(body: bytes) -> dict[str, Any]:
    """The request as a plain dict with the ignored fields, nulls and defaults removed."""
    decoded = _decoder.decode(body)
    if not isinstance(decoded, dict):
        raise ValueError("a request body is a JSON object")
    return {
        name: value
        for name, value in decoded.items()
        if name not in IGNORED_FIELDS and value is not None and _DEFAULTS.get(name, _MISSING) != value
    }


_MISSING = object()


def request_key(
    namespace: str, body: bytes, mode: str, semantic: bool = False, must_match: frozenset[str] = SEMANTIC_PARTS
) -> RequestKey:
    """``namespace``: tenant and any caller-chosen namespace; ``mode``: the API and delivery the entry is stored in
    (a streamed answer is kept as its chunks, a plain one as its body, so they are separate entries);
    ``must_match``: which of ``SEMANTIC_PARTS`` go into the semantic namespace."""
    canonical = canonical_body(body)
    scope = f"{namespace}\0{mode}"
    exact = _digest(scope, _encoder.encode(canonical))
    if not semantic:
        return RequestKey(exact)
    split = _split_last_user(canonical, must_match)
    if split is None:
        return RequestKey(exact)
    rest, text = split
    return RequestKey(exact, _digest(scope, _encoder.encode(rest)), text)


def _split_last_user(canonical: dict[str, Any], must_match: frozenset[str]) -> tuple[dict[str, Any], str] | None:
    """(the request with the last user message's content blanked and the parts that need not match removed,
    that content as text), if it is text."""
    messages = canonical.get("messages")
    if not isinstance(messages, list):
        return None
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            text = _text_of(message.get("content"))
            if text is None:
                return None
            before = messages[:index]
            if "history" not in must_match:
                before = [m for m in before if _is_system(m)]
            rest = {**canonical, "messages": [*before, {**message, "content": None}, *messages[index + 1 :]]}
            if "system" not in must_match:
                rest["messages"] = [m for m in rest["messages"] if not _is_system(m)]
                rest.pop("system", None)  # Anthropic's Messages API carries it beside the messages
            return rest, text
    return None


def _is_system(message: object) -> bool:
    return isinstance(message, dict) and message.get("role") in _SYSTEM_ROLES


def _text_of(content: object) -> str | None:
    """Plain text, or a list of text parts only (OpenAI's and Anthropic's shapes); anything else is not compared."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        return None
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            return None
        texts.append(part["text"])
    return "\n".join(texts)
