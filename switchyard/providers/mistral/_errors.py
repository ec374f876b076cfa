"""Mistral's error bodies → the typed error tree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from switchyard import errors
from switchyard.providers._openai_compat import upstream_error

_encode = msgspec.json.Encoder().encode


class _ErrorBody(msgspec.Struct):
    message: Any = None
    detail: Any = None
    type: str | None = None
    code: str | int | None = None


def mistral_error(status: int, headers: Mapping[str, str], body: bytes, secret: str | None) -> errors.SwitchyardError:
    """Mistral's error shapes (``{"object": "error", "message": ...}``, 422 ``detail`` lists) → the error tree."""
    try:
        generic = msgspec.json.decode(body)
    except msgspec.DecodeError:
        generic = None
    if isinstance(generic, dict) and isinstance(generic.get("error"), dict):
        # Some of Mistral's own validation errors come in OpenAI's shape: read them as such.
        return upstream_error("mistral", status, headers, body, secret)
    try:
        parsed = msgspec.json.decode(body, type=_ErrorBody)
    except (msgspec.ValidationError, msgspec.DecodeError):
        parsed = _ErrorBody(message=body.decode(errors="replace")[:300] or None)
    detail = parsed.detail
    if isinstance(parsed.message, dict):
        detail = parsed.message.get("detail", detail)
    message, param = (parsed.message if isinstance(parsed.message, str) else None), None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        locations = [".".join(str(p) for p in d.get("loc", [])[1:]) for d in detail if isinstance(d, dict)]
        param = locations[0] or None
        message = "; ".join(f"{loc}: {d.get('msg', '')}" for loc, d in zip(locations, detail, strict=False))
    normalised = {"error": {"message": message, "type": parsed.type, "param": param, "code": parsed.code}}
    return upstream_error("mistral", status, headers, _encode(normalised), secret)
