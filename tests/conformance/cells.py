"""Running one cell: ask the scenario through an inbound driver, check the answer, and say which outcome it was.

The checks are the same for every provider and every inbound format (that is the point of the matrix); what
differs per provider (how an error is provoked, where an image must show up) comes from its adapter.
"""

from __future__ import annotations

import json
import struct
from dataclasses import replace

from tests.conformance.inbound import Answer, Ask, Embedded, Inbound, OpenAIInbound, Refusal, ToolChoice, as_json, embed
from tests.conformance.rows import BY_NAME, expectation
from tests.conformance.scenarios import (
    COLUMN,
    EMBED_COLUMNS,
    EMBED_TEXTS,
    FORCED_TOOL,
    JSON,
    JSON_PROMPT,
    PROMPT,
    TOOL_PROMPT,
    VISION_PROMPT,
    Outcome,
)
from tests.conformance.upstream import Upstream, embed_group, error_group


def scenario(column: str, upstream: Upstream) -> Ask:
    """What a success (or unsupported) column asks."""
    unforced: ToolChoice = "auto" if upstream.calls_tools_unforced else "required"
    asks = {
        "plain": Ask(PROMPT),
        "stream": Ask(PROMPT, stream=True),
        "tools": Ask(TOOL_PROMPT, tools=True, tool_choice=unforced),
        "stream-tools": Ask(TOOL_PROMPT, tools=True, tool_choice=unforced, stream=True),
        "tool-choice": Ask(PROMPT, tools=True, tool_choice="named"),
        "vision": Ask(VISION_PROMPT, image=True),
        "json-object": Ask(JSON_PROMPT, json="object"),
        "json-schema": Ask(JSON_PROMPT, json="schema"),
        "n2": Ask(PROMPT, n=2),
    }
    return asks[column]


def run_cell(inbound: Inbound, provider: str, column: str) -> Outcome:
    """Run the cell and return its outcome; a cell that does not hold raises AssertionError."""
    expected = expectation(inbound.name, provider, column)
    upstream = BY_NAME[provider]
    upstream.reset()
    if expected.outcome is Outcome.UNSUPPORTED:
        seen = inbound.ask(provider, scenario(column, upstream))
        assert isinstance(seen, Refusal), f"expected a 400 naming {expected.param}, got an answer: {seen}"
        assert seen.status == 400 and expected.param is not None, seen
        if getattr(inbound, "carries_param", True):
            assert seen.param == expected.param, seen
        else:  # an envelope without ``param`` (Anthropic's): the message names it
            assert expected.param in json.loads(seen.raw)["error"]["message"], seen
        assert upstream.bodies() == [], "an unsupported request must not reach the upstream"
        return Outcome.UNSUPPORTED
    if column in EMBED_COLUMNS:
        assert isinstance(inbound, OpenAIInbound), "only OpenAI's API has embeddings"
        check_embeddings(inbound, upstream, column)
    elif COLUMN[column].is_error:
        check_error(inbound, upstream, column)
    else:
        check_success(inbound, upstream, column)
    return Outcome.PASS


def answered(seen: Answer | Refusal) -> Answer:
    assert isinstance(seen, Answer), f"expected an answer, got {seen}"
    return seen


def check_usage(answer: Answer) -> None:
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0, answer
    assert answer.total_tokens == answer.prompt_tokens + answer.completion_tokens, answer


def calls_of(answer: Answer) -> list[tuple[str, JSON]]:
    return [(call.name, as_json(call.arguments)) for call in answer.calls]


def check_success(inbound: Inbound, upstream: Upstream, column: str) -> None:
    ask = scenario(column, upstream)
    answer = answered(inbound.ask(upstream.name, ask))
    check_usage(answer)
    if column in ("plain", "stream", "vision"):
        assert answer.text and answer.finish == "stop" and not answer.calls, answer
    if column in ("stream", "stream-tools"):
        # The fakes are deterministic: the stream, reassembled, is the plain answer, usage included.
        plain = answered(inbound.ask(upstream.name, replace(ask, stream=False)))
        assert answer.text == plain.text, "the reassembled stream differs from the plain answer"
        assert answer.finish == plain.finish, (answer.finish, plain.finish)
        assert calls_of(answer) == calls_of(plain), "the reassembled tool calls differ from the plain ones"
        assert answer.prompt_tokens == plain.prompt_tokens, (answer, plain)
        assert answer.completion_tokens == plain.completion_tokens, (answer, plain)
    if column in ("tools", "stream-tools"):
        assert answer.finish == "tool_calls" and [c.name for c in answer.calls] == ["search"], answer
        call = answer.calls[0]
        assert call.id, call
        arguments = as_json(call.arguments)
        assert isinstance(arguments.get("q"), str) or not upstream.follows_schema, arguments
    if column == "tool-choice":
        # OpenAI itself ends a call forced by name with "stop"; either is a call the client must run.
        assert answer.finish in ("tool_calls", "stop") and [c.name for c in answer.calls] == [FORCED_TOOL], answer
        as_json(answer.calls[0].arguments)
    if column == "vision" and upstream.bodies():
        upstream.check_vision(upstream.bodies()[-1])
    elif column == "vision":
        assert upstream.name == "demo", "the image never reached the upstream"
    if column in ("json-object", "json-schema"):
        assert answer.finish == "stop" and not answer.calls, answer
        value = as_json(answer.text)
        if column == "json-schema" and upstream.follows_schema:
            assert isinstance(value.get("city"), str), value
    if column == "n2":
        assert len(answer.texts) == 2 and all(answer.texts), answer


def float32(vector: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


def embedded(seen: Embedded | Refusal) -> Embedded:
    assert isinstance(seen, Embedded), f"expected embeddings, got {seen}"
    return seen


def check_embeddings(inbound: OpenAIInbound, upstream: Upstream, column: str) -> None:
    """Two texts give two vectors of one size, in input order, with usage; base64 is the float answer, packed."""
    group = embed_group(upstream.name)
    answer = embedded(embed(inbound.client, group, EMBED_TEXTS, "float"))
    first, second = answer.vectors
    assert len(first) == len(second) and first != second, "two texts, two different vectors of one size"
    assert answer.prompt_tokens > 0 and answer.total_tokens >= answer.prompt_tokens, answer
    if upstream.name != "demo":
        assert upstream.bodies(), "the embeddings never reached the upstream"
    if column == "embeddings-b64":
        packed = embedded(embed(inbound.client, group, EMBED_TEXTS, "base64"))
        # The fakes are deterministic: the same texts give the same vectors, here as float32.
        assert packed.vectors == [float32(vector) for vector in answer.vectors], "base64 differs from float"
        assert packed.prompt_tokens == answer.prompt_tokens, (packed, answer)


def check_error(inbound: Inbound, upstream: Upstream, column: str) -> None:
    """The error class, plain and streamed: an error before the first token is an HTTP status either way."""
    expected = COLUMN[column]
    for stream in (False, True):
        armed = upstream.arm(column)
        group = error_group(upstream.name, inbound.name, column, stream)
        seen = inbound.ask(group, Ask(armed.prompt, stream=stream))
        if armed.finish is not None:
            answer = answered(seen)
            assert answer.finish == armed.finish, answer
            continue
        assert isinstance(seen, Refusal), f"expected {expected.status} (stream: {stream}), got an answer: {seen}"
        assert seen.status == expected.status, (stream, seen)
        assert seen.code == inbound_code(inbound, column), (stream, seen)
        if armed.retry_after is not None:
            assert seen.retry_after == armed.retry_after, (stream, seen)
        for secret in upstream.secrets:
            assert secret not in seen.raw, "an upstream credential reached the client"


def inbound_code(inbound: Inbound, column: str) -> str | None:
    """The error code the client sees: the gateway's own code in OpenAI's envelope, else the API's error type."""
    codes = getattr(inbound, "error_codes", None)
    return codes[column] if codes is not None else COLUMN[column].code
