"""Incremental newline-delimited JSON (NDJSON) framing: one JSON value per line.

Bytes may be cut anywhere (inside a line, inside a multi-byte character, between ``\\r`` and ``\\n``); the
decoder hands back only complete lines, without their line end. Blank lines are skipped. JSON parsing is
left to the caller, which knows the type it expects (and decodes straight into it with msgspec).
"""

from __future__ import annotations


class NDJSONDecoder:
    """Feed bytes as they arrive; get back the complete lines so far. Call ``flush`` at the end of the stream."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            # The common case for slow token streams: part of a line; keep it without splitting anything.
            self._buffer += chunk
            return []
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()  # what follows the last newline is an incomplete line
        return [line for raw in lines if (line := raw.rstrip(b"\r").strip())]

    def flush(self) -> list[bytes]:
        """The stream ended: a last line without a newline is still a line."""
        line, self._buffer = self._buffer.strip(), b""
        return [line] if line else []

    @property
    def pending(self) -> bytes:
        """Bytes of an incomplete line received so far."""
        return self._buffer
