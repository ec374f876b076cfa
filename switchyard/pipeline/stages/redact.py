"""Redaction of logged bodies: secrets never reach the request log, even with ``server.log_bodies`` on.

A value is replaced when its JSON key is a known secret name (any depth, case-insensitive), and any string
is scrubbed of text matching the patterns (API-key and bearer-token shapes by default). Config adds keys, or
patterns written as ``/regex/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

REDACTED = "[REDACTED]"
MAX_BODY_CHARS = 64 * 1024

DEFAULT_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "authorization",
        "proxy-authorization",
        "password",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
DEFAULT_PATTERNS = (
    r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic (sk-ant-) and Switchyard (sk-sy-) keys
    r"\b(?i:bearer)\s+[A-Za-z0-9._~+/\-]+=*",
    r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key ids
    r"\bAIza[0-9A-Za-z_\-]{35}\b",  # Google API keys
    r"\bgsk_[A-Za-z0-9]{20,}",  # Groq
    r"\bxai-[A-Za-z0-9]{20,}",
)

_encode = msgspec.json.encode


class Redactor:
    def __init__(self, extra: Iterable[str] = ()) -> None:
        keys = set(DEFAULT_KEYS)
        patterns = list(DEFAULT_PATTERNS)
        for item in extra:
            if len(item) > 2 and item.startswith("/") and item.endswith("/"):
                patterns.append(item[1:-1])
            else:
                keys.add(item.lower())
        self._keys = frozenset(keys)
        self._pattern = re.compile("|".join(f"(?:{p})" for p in patterns))

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: REDACTED if isinstance(k, str) and k.lower() in self._keys else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def body(self, raw: bytes | str | None) -> str | None:
        """A JSON body as redacted JSON text (a body that is not JSON is scrubbed as text), capped in size."""
        if raw is None:
            return None
        try:
            text = _encode(self.value(msgspec.json.decode(raw))).decode()
        except msgspec.DecodeError:
            text = self.text(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
        if len(text) > MAX_BODY_CHARS:
            return text[:MAX_BODY_CHARS] + "...[truncated]"
        return text
