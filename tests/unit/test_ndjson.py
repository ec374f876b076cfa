"""The NDJSON decoder: any chunking of a stream gives the same lines."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from switchyard.streaming.ndjson import NDJSONDecoder

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    decoder = NDJSONDecoder()
    lines: list[bytes] = []
    start = 0
    for point in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        lines += decoder.feed(data[start:point])
        start = point
    return lines + decoder.flush()


@settings(max_examples=300, deadline=None)
@given(st.lists(values, min_size=1, max_size=8), st.lists(st.integers(min_value=0), max_size=12),
       st.sampled_from(["\n", "\r\n"]), st.booleans(), st.booleans())  # fmt: skip
def test_any_chunking_gives_the_same_values(
    items: list[object], cuts: list[int], newline: str, final_newline: bool, blank_lines: bool
) -> None:
    separator = newline * 2 if blank_lines else newline
    text = separator.join(json.dumps(item, ensure_ascii=False) for item in items) + (newline if final_newline else "")
    lines = decode_in_pieces(text.encode(), cuts)
    assert [json.loads(line) for line in lines] == items


def test_partial_line_is_pending_until_its_newline() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == [b'{"a": 1}']
    assert decoder.pending == b'{"b"'
    assert decoder.feed(b": 2}") == []
    assert decoder.feed(b"\r\n\n") == [b'{"b": 2}']
    assert decoder.flush() == [] and decoder.pending == b""


def test_flush_returns_an_unterminated_last_line() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"done": true}') == []
    assert decoder.flush() == [b'{"done": true}']
