"""The SSE decoder: any chunking of a stream gives the same events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.streaming.sse import SSEDecoder, SSEEvent

payloads = st.lists(
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), min_size=1),
    min_size=1,
    max_size=8,
)


def encode(events: list[str], newline: str) -> bytes:
    text = "".join(f"data: {e}{newline}{newline}" for e in events)
    return text.encode()


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for point in [*points, len(data)]:
        events += decoder.feed(data[start:point])
        start = point
    events += decoder.flush()
    assert decoder.pending == b""
    return events


@settings(max_examples=200, deadline=None)
@given(payloads, st.sampled_from(["\n", "\r\n", "\r"]), st.lists(st.integers(min_value=0), max_size=12))
def test_any_chunking_gives_the_same_events(events: list[str], newline: str, cuts: list[int]) -> None:
    decoded = decode_in_pieces(encode(events, newline), cuts)
    # The one space after "data:" belongs to the framing; any further spaces are the payload's.
    assert [e.data.decode() for e in decoded] == events


def test_multiline_data_comments_and_event_names() -> None:
    data = b': keep-alive\n\nevent: message_start\ndata: {"a":\ndata: 1}\n\nid: 7\nretry: 10\n\n'
    events = SSEDecoder().feed(data)
    assert events == [SSEEvent(b'{"a":\n1}', b"message_start")]


def test_a_cut_stream_leaves_pending_bytes() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x": 1}\n\ndata: {"y"') == [SSEEvent(b'{"x": 1}')]
    assert decoder.pending == b'data: {"y"'


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    decoder = SSEDecoder()
    for event in decoder.feed(data) + decoder.flush():
        assert isinstance(event.data, bytes)
