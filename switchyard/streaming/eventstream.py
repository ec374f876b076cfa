"""Incremental decoding of the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Each message on the wire is::

    prelude:  total length (uint32) | headers length (uint32) | CRC32 of those 8 bytes (uint32)
    headers:  repeated  name length (uint8) | name (UTF-8) | type (uint8) | value (by type)
    payload:  total length - headers length - 16 bytes
    trailer:  CRC32 of everything before it (uint32)

All integers are big-endian. Header value types: 0 true, 1 false (no value bytes), 2 byte, 3 short,
4 int, 5 long (signed), 6 bytes and 7 string (uint16 length first), 8 timestamp (int64 milliseconds since
the epoch), 9 UUID (16 bytes).

The decoder accepts bytes cut at arbitrary places and returns whole messages only. Anything malformed (a
CRC that does not match, impossible lengths, a header that runs past its section, an unknown header
type, a duplicate header) raises ``EventStreamError``, a typed upstream error: an upstream that sends
garbage ends the stream cleanly instead of crashing the relay. The prelude CRC is checked before its
lengths are trusted, so a corrupted length cannot make the decoder wait for gigabytes.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from switchyard.errors import UpstreamError

PRELUDE_LENGTH = 12
# prelude + message CRC, with no headers and an empty payload
MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + 4
# The limits AWS's own SDKs enforce: headers up to 128 KiB, payloads up to 24 MiB.
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024

HeaderValue = bool | int | bytes | str | datetime | uuid.UUID

_PRELUDE = struct.Struct("!III")
_UINT32 = struct.Struct("!I")
# Fixed-size integer header types: type byte → (struct, size).
_FIXED: dict[int, struct.Struct] = {
    2: struct.Struct("!b"),
    3: struct.Struct("!h"),
    4: struct.Struct("!i"),
    5: struct.Struct("!q"),
    8: struct.Struct("!q"),
}
_UINT16 = struct.Struct("!H")


class EventStreamError(UpstreamError):
    """The upstream's event stream is not valid framing (corrupt, truncated or impossible)."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        """A string header's value; None when it is absent or not a string."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


class EventStreamDecoder:
    """Feed bytes as they arrive; get back the messages completed so far.

    When a chunk holds good messages followed by a broken one, ``feed`` returns the good ones and the
    error is raised by the next call (``feed`` or ``finish``), so nothing that arrived intact is lost.
    """

    __slots__ = ("_buffer", "_expected", "_error")

    def __init__(self) -> None:
        self._buffer = bytearray()
        # The total length of the message being received, once its prelude has been checked.
        self._expected: int | None = None
        self._error: EventStreamError | None = None

    def feed(self, chunk: bytes) -> list[EventMessage]:
        if self._error is not None:
            raise self._error
        self._buffer += chunk
        messages: list[EventMessage] = []
        buffer, start = self._buffer, 0
        try:
            while True:
                available = len(buffer) - start
                if self._expected is None:
                    if available < PRELUDE_LENGTH:
                        break
                    self._expected = _check_prelude(buffer, start)
                total = self._expected
                if available < total:
                    break
                messages.append(_parse_message(bytes(buffer[start : start + total])))
                start += total
                self._expected = None
        except EventStreamError as exc:
            # Resynchronising on a byte stream without delimiters is guesswork: the decoder stays broken.
            self._error = exc
            if not messages:
                raise
        finally:
            del buffer[:start]
        return messages

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message (a stream that ends here was cut)."""
        return len(self._buffer)

    def finish(self) -> None:
        """The stream ended: raise if it stopped in the middle of a message (or after a broken one)."""
        if self._error is not None:
            raise self._error
        if self._buffer:
            raise EventStreamError(f"event stream ended in the middle of a message ({len(self._buffer)} bytes left)")


def _check_prelude(buffer: bytearray, start: int) -> int:
    total, headers_length, crc = _PRELUDE.unpack_from(buffer, start)
    computed = zlib.crc32(buffer[start : start + 8])
    if computed != crc:
        raise EventStreamError(f"event stream prelude checksum mismatch (0x{crc:08x} != 0x{computed:08x})")
    if headers_length > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"event stream headers of {headers_length} bytes exceed the limit")
    if total < MIN_MESSAGE_LENGTH + headers_length:
        raise EventStreamError(f"event stream message length {total} is too short for its headers")
    if total - MIN_MESSAGE_LENGTH - headers_length > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"event stream payload of {total} bytes exceeds the limit")
    return int(total)


def _parse_message(message: bytes) -> EventMessage:
    (crc,) = _UINT32.unpack_from(message, len(message) - 4)
    computed = zlib.crc32(memoryview(message)[:-4])
    if computed != crc:
        raise EventStreamError(f"event stream message checksum mismatch (0x{crc:08x} != 0x{computed:08x})")
    (headers_length,) = _UINT32.unpack_from(message, 4)
    headers_end = PRELUDE_LENGTH + headers_length
    headers = parse_headers(message[PRELUDE_LENGTH:headers_end])
    return EventMessage(headers, message[headers_end:-4])


def parse_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    position, end = 0, len(data)
    while position < end:
        name_length = data[position]
        position += 1
        name = _text(_take(data, position, name_length), "header name")
        position += name_length
        if not name:
            raise EventStreamError("event stream header with an empty name")
        if position >= end:
            raise EventStreamError(f"event stream header {name!r} has no value type")
        kind = data[position]
        position += 1
        value, position = _value(data, position, kind, name)
        if name in headers:
            raise EventStreamError(f"event stream header {name!r} appears twice")
        headers[name] = value
    return headers


def _value(data: bytes, position: int, kind: int, name: str) -> tuple[HeaderValue, int]:
    if kind == 0:
        return True, position
    if kind == 1:
        return False, position
    fixed = _FIXED.get(kind)
    if fixed is not None:
        (number,) = fixed.unpack(_take(data, position, fixed.size))
        position += fixed.size
        if kind == 8:
            try:
                return datetime.fromtimestamp(number / 1000, UTC), position
            except (OverflowError, OSError, ValueError):
                raise EventStreamError(f"event stream header {name!r} has an impossible timestamp") from None
        return int(number), position
    if kind in (6, 7):
        (length,) = _UINT16.unpack(_take(data, position, 2))
        raw = _take(data, position + 2, length)
        return (raw if kind == 6 else _text(raw, f"header {name!r}")), position + 2 + length
    if kind == 9:
        return uuid.UUID(bytes=_take(data, position, 16)), position + 16
    raise EventStreamError(f"event stream header {name!r} has unknown type {kind}")


def _take(data: bytes, position: int, length: int) -> bytes:
    if position + length > len(data):
        raise EventStreamError("event stream header runs past the end of the headers")
    return data[position : position + length]


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EventStreamError(f"event stream {what} is not valid UTF-8") from None
