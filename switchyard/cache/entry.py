"""What the exact cache stores for one answer, and its byte encoding (msgpack: compact, and bytes stay bytes)."""

from __future__ import annotations

import msgspec

from switchyard.types.chat import Usage


class CacheEntry(msgspec.Struct, array_like=True, omit_defaults=True):
    """A complete answer as the client received it.

    A plain answer is its JSON ``body``; a streamed one is its ``chunks`` in order (OpenAI chunk payloads without
    SSE framing, or a native format's complete frames). ``format`` is None for OpenAI's format, else the native
    API the body or frames are written in. ``usage_only`` lists the chunks that carry only usage, which are
    replayed only to clients that asked for usage, as the live relay does.
    """

    created: float
    ttl_s: int
    format: str | None = None
    body: bytes | None = None
    chunks: list[bytes] | None = None
    usage_only: list[int] | None = None
    usage: Usage | None = None
    # What the original answer cost: what every hit saves.
    cost_usd: float | None = None

    def expired(self, now: float) -> bool:
        return now >= self.created + self.ttl_s

    def size(self) -> int:
        return len(self.body or b"") + sum(len(chunk) for chunk in self.chunks or ())


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CacheEntry)


def encode_entry(entry: CacheEntry) -> bytes:
    return _encoder.encode(entry)


def decode_entry(data: bytes) -> CacheEntry | None:
    """None for bytes that are not an entry of this version (written by another release): a miss, not an error."""
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError:
        return None
