"""Incremental Server-Sent Events decoding and encoding.

The decoder follows the WHATWG event-stream rules (LF, CRLF or CR line ends; ``data:`` lines joined by LF;
comments and unknown fields ignored) and accepts bytes cut at arbitrary places. Upstreams almost always
send LF-only streams, so that case takes a fast path that never splits lines it does not need to.
"""

from __future__ import annotations

from typing import NamedTuple

DONE = b"[DONE]"


class SSEEvent(NamedTuple):
    data: bytes
    event: bytes | None = None


class SSEDecoder:
    """Feed bytes as they arrive; get back the events completed so far. Call ``flush`` at end of stream."""

    __slots__ = ("_buffer", "_cr_mode", "_held_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._cr_mode = False
        self._held_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._cr_mode or b"\r" in chunk:
            chunk = self._normalise(chunk)
        blocks = (self._buffer + chunk).split(b"\n\n")
        # The last block is incomplete (possibly empty): keep it for the next feed.
        self._buffer = blocks.pop()
        events: list[SSEEvent] = []
        for block in blocks:
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """The stream ended: a held-back CR was a line end."""
        if not self._held_cr:
            return []
        self._held_cr = False
        return self.feed(b"\n")

    def _normalise(self, chunk: bytes) -> bytes:
        # A CRLF may straddle two chunks, so a trailing CR is held back until the next byte tells us what
        # it was; once a stream has shown a CR, every chunk goes through here.
        self._cr_mode = True
        if self._held_cr:
            chunk = b"\r" + chunk
            self._held_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._held_cr = True
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete event (a stream that ends here was cut)."""
        return self._buffer.strip(b"\r\n")


def _parse_block(block: bytes) -> SSEEvent | None:
    if block.startswith(b"data: ") and b"\n" not in block:
        return SSEEvent(block[6:])
    data: list[bytes] = []
    event: bytes | None = None
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value
    if not data and event is None:
        return None
    return SSEEvent(b"\n".join(data), event)


def encode_data(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def encode_event(event: str, payload: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


DONE_FRAME = b"data: [DONE]\n\n"
