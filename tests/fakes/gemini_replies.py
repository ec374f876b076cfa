"""The fake Gemini API's replies: sample values for a schema, token counts, response ids, the SSE events that
stream a reply, and the JSON response itself."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from aiohttp import web

from tests.fakes.gemini_errors import JSON


def sample(schema: JSON) -> Any:
    kind = str(schema.get("type", "OBJECT")).upper()
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "OBJECT":
        return {name: sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    return {"STRING": "example", "NUMBER": 1.5, "INTEGER": 1, "BOOLEAN": True, "ARRAY": []}.get(kind)


def count_words(contents: list[Any]) -> int:
    return sum(len(str(p.get("text", "x")).split()) for c in contents for p in (c.get("parts") or []))


def rid(raw: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode()


def stream_events(reply: JSON) -> list[JSON]:
    """Text arrives two words an event, a function call whole; the last event of a candidate finishes it."""
    events: list[JSON] = []
    meta = {"modelVersion": reply["modelVersion"], "responseId": reply["responseId"]}
    prompt = {"promptTokenCount": reply["usageMetadata"].get("promptTokenCount", 0)}
    for candidate in reply["candidates"]:
        pieces: list[JSON] = []
        for part in candidate.get("content", {}).get("parts", []):
            if "text" in part and not part.get("thought"):
                words = part["text"].split(" ")
                pieces += [{"text": " ".join(words[i : i + 2]) + (" " if i + 2 < len(words) else "")}
                           for i in range(0, len(words), 2)]  # fmt: skip
            else:
                pieces.append(part)
        for n, piece in enumerate(pieces or [None]):
            out: JSON = {"index": candidate.get("index", 0)}
            if piece is not None:
                out["content"] = {"parts": [piece], "role": "model"}
            if n == len(pieces or [None]) - 1:
                out["finishReason"] = candidate["finishReason"]
            events.append({"candidates": [{k: v for k, v in out.items() if v}], "usageMetadata": prompt, **meta})
    if not events:  # a blocked prompt: one event with the feedback and no candidates
        events.append({"promptFeedback": reply["promptFeedback"], "usageMetadata": prompt, **meta})
    events[-1]["usageMetadata"] = reply["usageMetadata"]
    return events


def frame(event: JSON) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\r\n\r\n"


def json_response(status: int, body: JSON) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json", charset="UTF-8")
