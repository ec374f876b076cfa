"""Same-format pass-through, piece by piece: the model rename, the Anthropic stream probe, the executor's choice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import msgspec
import pytest

from switchyard import errors
from switchyard.config.schema import Deployment, Fallbacks, HedgeSettings, RouterSettings
from switchyard.providers.anthropic._native import NativeAnthropicStream, _frame
from switchyard.providers.base import (
    ANTHROPIC_MESSAGES,
    ChatCall,
    EmbedCall,
    EventProbe,
    NativeBody,
    Reply,
    native_provider,
    with_model,
)
from switchyard.routing.executor import Executor
from switchyard.routing.strategies import Ordered
from switchyard.routing.target import Group, GroupPolicy, Target
from switchyard.routing.trace import Trace
from switchyard.storage.memory import MemoryHealthStore
from switchyard.types.chat import ChatRequest, Usage

# --- with_model --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"max_tokens":64,"messages":[{"role":"user","content":"hi"}],"model":"group"}',
        b'{ "model" : "group", "top_k": 5, "x": 1.50, "s": "\\u00e9\\n" }',
        # A nested "model" with the same value comes first: only the top-level one changes.
        b'{"tools":[{"input":{"model":"group"}}], "model":"group"}',
        b'{"messages":[{"content":"say \\"model\\": \\"group\\""}],\n  "model":\t"group"}',
    ],
)
def test_with_model_changes_only_the_top_level_model(body: bytes) -> None:
    renamed = with_model(body, "claude-haiku-4-5")
    before, after = json.loads(body), json.loads(renamed)
    assert after.pop("model") == "claude-haiku-4-5" and before.pop("model") == "group"
    assert after == before
    # Every byte but the model's value is the client's: one "group" became the new name, in place.
    assert renamed.count(b'"group"') == body.count(b'"group"') - 1
    assert renamed.replace(b'"claude-haiku-4-5"', b'"group"') == body


def test_with_model_escaped_key_falls_back_to_re_encoding_the_top_level() -> None:
    body = b'{"\\u006dodel": "group", "x": [1.50, 2]}'
    renamed = with_model(body, "m")
    assert json.loads(renamed) == {"model": "m", "x": [1.5, 2]}
    assert b"[1.50, 2]" in renamed  # values other than the model stay verbatim


def test_with_model_same_model_is_the_same_bytes() -> None:
    body = b'{"model": "m",  "x": 1}'
    assert with_model(body, "m") is body


# --- the Anthropic native stream's probe -----------------------------------------------------------------


def frame(name: str, data: dict[str, object]) -> bytes:
    return _frame(name.encode(), json.dumps(data).encode())


class _Upstream:
    headers = {"request-id": "req_1"}

    async def aclose(self) -> None:
        return None


def stream() -> NativeAnthropicStream:
    return NativeAnthropicStream(_Upstream(), ("sk-secret-key",))  # type: ignore[arg-type]


START = frame(
    "message_start",
    {"type": "message_start", "message": {"usage": {"input_tokens": 5, "cache_read_input_tokens": 100,
                                                    "cache_creation_input_tokens": 20, "output_tokens": 1}}},
)  # fmt: skip
DELTA = frame("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}})
END = frame(
    "message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
)


def test_probe_reads_content_and_cumulative_usage_idempotently() -> None:
    native = stream()
    for _ in range(2):  # the opening probes the first frames, then the relay does again
        start = native.probe(START)
        assert not start.meaningful and start.usage is not None and start.usage.prompt_tokens == 125
    assert native.probe(frame("ping", {"type": "ping"})) == EventProbe(False)
    assert native.probe(DELTA).meaningful
    end = native.probe(END)
    assert end.meaningful and end.usage is not None
    assert (end.usage.prompt_tokens, end.usage.completion_tokens, end.usage.total_tokens) == (125, 9, 134)
    details = end.usage.prompt_tokens_details
    assert details is not None and (details.cached_tokens, details.cache_creation_tokens) == (100, 20)


def test_probe_turns_error_events_and_bad_frames_into_typed_errors() -> None:
    overloaded = frame("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    with pytest.raises(errors.UpstreamUnavailableError):
        stream().probe(overloaded)
    too_long = {"type": "invalid_request_error", "message": "prompt is too long: 9 > 8 (sk-secret-key)"}
    with pytest.raises(errors.ContextWindowExceededError) as caught:
        stream().probe(frame("error", {"type": "error", "error": too_long}))
    assert caught.value.message == "prompt is too long: 9 > 8 ([redacted])"
    with pytest.raises(errors.UpstreamError):
        stream().probe(b"event: content_block_delta\ndata: {not json\n\n")


def test_multi_line_data_is_framed_and_read_back() -> None:
    framed = _frame(b"message_delta", b'{"type": "message_delta",\n "usage": {"output_tokens": 3}}')
    assert framed.count(b"\ndata: ") == 2
    probed = stream().probe(framed)
    assert probed.meaningful and probed.usage is not None and probed.usage.completion_tokens == 3


# --- the executor decides per attempt ------------------------------------------------------------------------

REQUEST = msgspec.convert({"model": "g", "messages": [{"role": "user", "content": "x"}]}, ChatRequest)
NATIVE_CALL = ChatCall(REQUEST, b"{}", NativeBody(ANTHROPIC_MESSAGES, b'{"model":"g"}'))


class Translating:
    """A provider without native formats."""

    def __init__(self, failure: errors.SwitchyardError | None = None) -> None:
        self.failure = failure
        self.calls = 0

    async def chat(self, call: ChatCall) -> Reply:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return Reply(b'{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}')

    async def chat_stream(self, call: ChatCall) -> object:
        raise AssertionError("not used")

    async def embed(self, call: EmbedCall) -> Reply:
        raise AssertionError("not used")


class Native(Translating):
    native_formats = frozenset({ANTHROPIC_MESSAGES})

    def __init__(self, failure: errors.SwitchyardError | None = None) -> None:
        super().__init__(failure)
        self.native_calls = 0

    async def chat_native(self, call: ChatCall) -> Reply:
        self.native_calls += 1
        if self.failure is not None:
            raise self.failure
        return Reply(b'{"type":"message"}', None, Usage(7, 1, 8), ANTHROPIC_MESSAGES)

    async def chat_native_stream(self, call: ChatCall) -> AsyncIterator[bytes]:
        raise AssertionError("not used")


def run(*providers: Translating, call: ChatCall = NATIVE_CALL) -> tuple[Reply, Trace]:
    targets = [Target(f"t{i}", Deployment(provider="demo", model="m", priority=-i), p) for i, p in enumerate(providers)]
    policy = GroupPolicy(3, 5.0, 30.0, None, None, Fallbacks(), HedgeSettings())
    group = Group("g", targets, Ordered(), policy, 0)  # type: ignore[arg-type]
    executor = Executor({"g": group}, RouterSettings(retry_backoff_s=0.001), MemoryHealthStore())
    trace = Trace()
    return asyncio.run(executor.chat(group, call, trace)), trace


def test_native_body_goes_to_a_provider_that_speaks_its_format() -> None:
    native = Native()
    reply, _ = run(native)
    assert native.native_calls == 1 and native.calls == 0
    assert reply.format == ANTHROPIC_MESSAGES and reply.usage == Usage(7, 1, 8)


def test_fallback_to_another_kind_of_provider_is_translated() -> None:
    native, other = Native(errors.UpstreamError("boom")), Translating()
    reply, trace = run(native, other)
    assert (native.native_calls, other.calls) == (1, 1)
    assert reply.format is None and reply.usage is not None and reply.usage.total_tokens == 3
    assert trace.summary() == "t0:upstream_error,t1:ok"


def test_calls_without_a_native_body_are_translated_everywhere() -> None:
    native = Native()
    reply, _ = run(native, call=ChatCall(REQUEST, b"{}"))
    assert native.calls == 1 and native.native_calls == 0 and reply.format is None
    assert native_provider(native, ChatCall(REQUEST, b"{}")) is None  # type: ignore[arg-type]
    unknown = ChatCall(REQUEST, b"{}", NativeBody("some.other.api", b"{}"))
    assert native_provider(native, unknown) is None  # type: ignore[arg-type]
