"""The AWS event-stream decoder: any chunking gives the same messages; anything malformed is a typed error.

Frames are built by the fake Bedrock's encoder (written apart from the decoder), and that encoder is itself
checked against botocore's reference parser, so the decoder is not tested against its own mirror image.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.errors import UpstreamError
from switchyard.streaming.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from tests.fakes.bedrock_wire import encode_frame, encode_header, event_frame, exception_frame

# (type code, strategy for its value, the value the decoder should give back)
_NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: len(s.encode()) <= 255
)
_VALUES: list[st.SearchStrategy[tuple[int, Any]]] = [
    st.just((0, True)),
    st.just((1, False)),
    st.integers(-128, 127).map(lambda v: (2, v)),
    st.integers(-(2**15), 2**15 - 1).map(lambda v: (3, v)),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: (4, v)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: (5, v)),
    st.binary(max_size=40).map(lambda v: (6, v)),
    st.text(max_size=40).filter(lambda s: len(s.encode()) < 65536).map(lambda v: (7, v)),
    st.integers(0, 4_102_444_800_000).map(lambda v: (8, v)),
    st.uuids().map(lambda v: (9, v.bytes)),
]
headers_strategy = st.dictionaries(_NAMES, st.one_of(_VALUES), max_size=6)
messages_strategy = st.lists(st.tuples(headers_strategy, st.binary(max_size=200)), min_size=1, max_size=6)


def encode(headers: dict[str, tuple[int, Any]], payload: bytes) -> bytes:
    raw = b"".join(encode_header(name, kind, value) for name, (kind, value) in headers.items())
    return encode_frame(raw, payload)


def expected(kind: int, value: Any) -> Any:
    if kind == 8:
        return datetime.fromtimestamp(value / 1000, UTC)
    if kind == 9:
        return uuid.UUID(bytes=value)
    return value


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[EventMessage]:
    decoder, messages, start = EventStreamDecoder(), [], 0
    for point in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        messages += decoder.feed(data[start:point])
        start = point
    decoder.finish()
    assert decoder.pending == 0
    return messages


@settings(max_examples=200, deadline=None)
@given(messages_strategy, st.lists(st.integers(min_value=0), max_size=20))
def test_any_chunking_gives_the_same_messages(messages: list[Any], cuts: list[int]) -> None:
    data = b"".join(encode(headers, payload) for headers, payload in messages)
    decoded = decode_in_pieces(data, cuts)
    assert [m.payload for m in decoded] == [payload for _, payload in messages]
    for message, (headers, _) in zip(decoded, messages, strict=True):
        assert message.headers == {name: expected(kind, value) for name, (kind, value) in headers.items()}


@settings(max_examples=100, deadline=None)
@given(messages_strategy)
def test_the_fake_encoder_agrees_with_botocore(messages: list[Any]) -> None:
    # botocore's parser is AWS's reference: it must read the fake's frames as we do.
    data = b"".join(encode(headers, payload) for headers, payload in messages)
    reference = EventStreamBuffer()
    reference.add_data(data)
    theirs = list(reference)
    ours = EventStreamDecoder().feed(data)
    assert [m.payload for m in theirs] == [m.payload for m in ours]
    for mine, other in zip(ours, theirs, strict=True):
        assert set(mine.headers) == set(other.headers)
        for name, value in mine.headers.items():
            if isinstance(value, datetime):
                assert other.headers[name] == round(value.timestamp() * 1000)
            elif isinstance(value, uuid.UUID):
                assert other.headers[name] == value.bytes
            else:
                assert other.headers[name] == value


@settings(max_examples=200, deadline=None)
@given(messages_strategy, st.data())
def test_any_corrupted_byte_is_a_typed_error(messages: list[Any], data: st.DataObject) -> None:
    frames = b"".join(encode(headers, payload) for headers, payload in messages)
    position = data.draw(st.integers(0, len(frames) - 1))
    flip = data.draw(st.integers(1, 255))
    broken = frames[:position] + bytes([frames[position] ^ flip]) + frames[position + 1 :]
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError):
        decoder.feed(broken)
        decoder.finish()


@settings(max_examples=200, deadline=None)
@given(messages_strategy, st.data())
def test_a_truncated_stream_is_a_typed_error_at_finish(messages: list[Any], data: st.DataObject) -> None:
    frames = b"".join(encode(headers, payload) for headers, payload in messages)
    cut = data.draw(st.integers(1, len(frames) - 1))
    decoder = EventStreamDecoder()
    complete = decoder.feed(frames[:cut])
    assert len(complete) < len(messages)
    if decoder.pending:
        with pytest.raises(EventStreamError):
            decoder.finish()


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_random_bytes_never_crash(chunks: list[bytes]) -> None:
    decoder = EventStreamDecoder()
    try:
        for chunk in chunks:
            for message in decoder.feed(chunk):
                assert isinstance(message.payload, bytes)
        decoder.finish()
    except EventStreamError as exc:
        assert isinstance(exc, UpstreamError) and exc.status == 502


def test_good_messages_before_a_broken_one_are_returned_first() -> None:
    good = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}})
    bad = bytearray(event_frame("messageStop", {"stopReason": "end_turn"}))
    bad[-1] ^= 0xFF
    decoder = EventStreamDecoder()
    [message] = decoder.feed(good + bytes(bad))
    assert message.header(":event-type") == "contentBlockDelta" and message.header(":message-type") == "event"
    with pytest.raises(EventStreamError, match="message checksum"):
        decoder.feed(b"")
    with pytest.raises(EventStreamError):
        decoder.finish()


def test_exception_messages_and_impossible_lengths() -> None:
    [message] = EventStreamDecoder().feed(exception_frame("throttlingException", "slow down"))
    assert message.header(":exception-type") == "throttlingException" and message.payload == b'{"message": "slow down"}'
    # A prelude whose CRC holds but whose lengths cannot: headers longer than the whole message.
    prelude = struct.pack("!II", 20, 100)
    with pytest.raises(EventStreamError, match="too short"):
        EventStreamDecoder().feed(prelude + struct.pack("!I", zlib.crc32(prelude)) + b"\0" * 8)
    huge = struct.pack("!II", 2**31, 0)
    with pytest.raises(EventStreamError, match="exceeds the limit"):
        EventStreamDecoder().feed(huge + struct.pack("!I", zlib.crc32(huge)))
    for bad_header in (encode_header("x", 7, "abc")[:-1], b"\x01x\x0a", b"\x00\x07", b"\x01x"):
        with pytest.raises(EventStreamError):
            EventStreamDecoder().feed(encode_frame(bad_header, b""))
    with pytest.raises(EventStreamError, match="twice"):
        EventStreamDecoder().feed(encode_frame(encode_header("a", 0) * 2, b""))
