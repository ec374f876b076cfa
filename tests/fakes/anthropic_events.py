"""The fake Anthropic API's stream: the SSE events (``event: NAME`` + ``data: JSON``) that render a Message."""

from __future__ import annotations

import json
import re

from tests.fakes.anthropic_errors import JSON


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
