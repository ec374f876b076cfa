"""The Anthropic stream translator and the retry hint, on recorded wire data (no gateway process)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchyard import errors
from switchyard.providers.anthropic._response import retry_after
from switchyard.providers.anthropic._stream import AnthropicStream
from tests.providers.anthropic.support import KEY, MODEL


class _Recorded:
    """Stands in for an open upstream stream: the given bytes, in the given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.headers = {"request-id": "req_1", "content-type": "text/event-stream"}
        self.pieces = pieces
        self.closed = False

    async def chunks(self) -> Any:
        for piece in self.pieces:
            yield piece

    async def aclose(self) -> None:
        self.closed = True


def _frames(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n".encode() for e in events)


def _run(pieces: list[bytes], json_tool: str | None = None) -> tuple[list[dict[str, Any]], _Recorded]:
    upstream = _Recorded(pieces)

    async def drain() -> list[dict[str, Any]]:
        stream = AnthropicStream(upstream, MODEL, json_tool, (KEY,))  # type: ignore[arg-type]
        return [json.loads(p) async for batch in stream.batches() for p in batch]

    return asyncio.run(drain()), upstream


USAGE = {"input_tokens": 12, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 0, "output_tokens": 1}
START = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "content": [], "usage": USAGE}}
TOOL = {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1",
                                                                      "name": "ping", "input": {}}}  # fmt: skip
END = [
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 5}},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
    {"type": "message_stop"},
]


def test_stream_translator_on_recorded_events_cut_anywhere() -> None:
    wire = _frames(START, {"type": "ping"}, TOOL, {"type": "future_event"}, *END) + b"event: ping\r\n"
    for size in (1, 7, len(wire)):
        chunks, upstream = _run([wire[i : i + size] for i in range(0, len(wire), size)])
        assert upstream.closed and chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert chunks[0]["id"] == "chatcmpl-msg_1" and chunks[0]["model"] == "claude-x"
        head, empty = chunks[1]["choices"][0]["delta"]["tool_calls"][0], chunks[2]["choices"][0]["delta"]
        assert head == {"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "ping", "arguments": ""}}
        # A tool called without input streams no fragment; the client still gets parseable arguments.
        assert empty["tool_calls"] == [{"index": 0, "function": {"arguments": "{}"}}]
        assert chunks[3]["choices"][0]["finish_reason"] == "tool_calls" and chunks[4]["choices"] == []
        assert chunks[4]["usage"] == {"prompt_tokens": 15, "completion_tokens": 9, "total_tokens": 24,
                                      "prompt_tokens_details": {"cached_tokens": 3}}  # fmt: skip
        assert len(chunks) == 5


def test_stream_translator_refuses_a_stream_without_message_stop() -> None:
    with pytest.raises(errors.UpstreamError, match="before message_stop"):
        _run([_frames(START, TOOL, *END[:-1])])
    with pytest.raises(errors.UpstreamUnavailableError, match="Overloaded"):
        _run([_frames(START, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})])


def test_retry_hint_from_rate_limit_reset_headers() -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    later = (datetime.now(UTC) + timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": soon,
        "anthropic-ratelimit-tokens-remaining": "500",
        "anthropic-ratelimit-tokens-reset": later,
    }
    assert 28 < (retry_after(headers) or 0) <= 30
    assert retry_after({**headers, "retry-after": "4"}) == 4
    assert retry_after({"anthropic-ratelimit-tokens-reset": later}) is None
