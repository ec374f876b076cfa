"""Same-format pass-through: a Messages API body from an Anthropic-format client, answered in that format.

The client's body goes upstream with only ``model`` renamed to the deployment's (``base.with_model``), so every
member the canonical request cannot carry (``cache_control``, ``top_k``, thinking blocks and their signatures,
citations, members added to the API after this was written) reaches Anthropic as the client wrote it. The answer
comes back untouched: a plain ``Message`` body, or the stream's SSE events re-framed one by one with their
``event:`` names and data unchanged. Alongside it the gateway gets the usage in canonical form (see
``_response.usage_of``: prompt tokens count the cached and cache-written ones too), so cost and logs are the same
as for a translated answer. Errors map exactly as for translated calls, except that a context-window error keeps
Anthropic's own wording ("prompt is too long: ..."), which clients such as coding agents look for.

Streams: ``probe`` reads each frame for the relay. Content (``content_block_delta``, ``message_delta``) commits the
stream; ``message_start`` and ``message_delta`` carry the usage (merged, as they are cumulative); an ``error``
event raises its typed error. The stream ends normally only after ``message_stop``.

Headers: the client's ``anthropic-version`` replaces the deployment's (the body is written for that version) and its
``anthropic-beta`` features are added to any the deployment configures (a beta body member fails without its
header); nothing else the client sent reaches the upstream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import msgspec

from switchyard import errors
from switchyard.providers.anthropic._response import PROVIDER, ErrorDetail, TokenUsage, classify, usage_of
from switchyard.providers.base import ANTHROPIC_MESSAGES, EventProbe, NativeBody
from switchyard.streaming.sse import SSEDecoder, SSEEvent
from switchyard.transport import UpstreamStream
from switchyard.types.chat import Usage


class _UsageOnly(msgspec.Struct):
    usage: TokenUsage = msgspec.field(default_factory=TokenUsage)


class _Type(msgspec.Struct):
    type: str = ""


class _Event(msgspec.Struct):
    # Only what the gateway reads; msgspec still checks the rest is well-formed JSON while skipping it.
    type: str = ""
    message: _UsageOnly | None = None
    usage: TokenUsage | None = None
    error: ErrorDetail | None = None


_message_usage = msgspec.json.Decoder(_UsageOnly)
_event_decoder = msgspec.json.Decoder(_Event)
_type_decoder = msgspec.json.Decoder(_Type)
_NOTHING = EventProbe(False)
_CONTENT = EventProbe(True)
_STOP = b"message_stop"


def message_usage(body: bytes) -> Usage:
    """The canonical usage of a ``Message`` body; a body that is not JSON is the upstream's failure."""
    try:
        return usage_of(_message_usage.decode(body).usage)
    except msgspec.DecodeError:
        raise errors.UpstreamError(f"upstream {PROVIDER} sent an unreadable message") from None


_BETA, _VERSION = "anthropic-beta", "anthropic-version"


def client_headers(headers: Mapping[str, str], native: NativeBody | None) -> Mapping[str, str]:
    """``headers`` (the deployment's) with the client's API headers carried on ``native`` applied (see above)."""
    if native is None or not native.headers:
        return headers
    sent = dict(native.headers)
    merged: dict[str, str] = {}
    betas: list[str] = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == _BETA:
            betas.append(value)
        elif lowered != _VERSION or _VERSION not in sent:
            merged[name] = value
    if _VERSION in sent:
        merged[_VERSION] = sent[_VERSION].strip()
    betas.append(sent.get(_BETA, ""))
    unique = dict.fromkeys(beta.strip() for value in betas for beta in value.split(",") if beta.strip())
    if unique:
        merged[_BETA] = ",".join(unique)  # each feature once, the deployment's first
    return merged


def _name(event: SSEEvent) -> bytes:
    """The event's name; Anthropic always sends one, and it is the data's ``type``, so that stands in for it."""
    if event.event is not None:
        return event.event
    try:
        return _type_decoder.decode(event.data).type.encode() or b"message"
    except msgspec.DecodeError:
        return b"message"  # the probe reports the malformed data


def _frame(name: bytes, data: bytes) -> bytes:
    if b"\n" in data:  # a multi-line data field stays multi-line
        data = data.replace(b"\n", b"\ndata: ")
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def _data(frame: bytes) -> bytes:
    """The data of a frame made by ``_frame``."""
    data = frame[frame.index(b"\ndata: ") + 7 : -2]
    return data.replace(b"\ndata: ", b"\n") if b"\n" in data else data


class NativeAnthropicStream:
    """An upstream Messages stream relayed event by event, in Anthropic's own framing."""

    __slots__ = ("_stream", "_secrets", "_usage", "upstream_request_id")

    format = ANTHROPIC_MESSAGES

    def __init__(self, stream: UpstreamStream, secrets: tuple[str | None, ...]) -> None:
        self._stream = stream
        self._secrets = secrets
        self._usage = TokenUsage()
        self.upstream_request_id: str | None = stream.headers.get("request-id")

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder = SSEDecoder()
        try:
            async for chunk in self._stream.chunks():
                batch, stopped = self._frames(decoder.feed(chunk))
                if batch:
                    yield batch
                if stopped:
                    return
            batch, stopped = self._frames(decoder.flush())
            if batch:
                yield batch
            if not stopped:
                raise errors.UpstreamError(f"upstream {PROVIDER} ended the stream before message_stop")
        finally:
            await self._stream.aclose()

    @staticmethod
    def _frames(events: list[SSEEvent]) -> tuple[list[bytes], bool]:
        batch: list[bytes] = []
        for event in events:
            if not event.data:
                continue
            name = _name(event)
            batch.append(_frame(name, event.data))
            if name == _STOP:
                return batch, True  # anything after message_stop is not part of the message
        return batch, False

    def probe(self, frame: bytes) -> EventProbe:
        try:
            event = _event_decoder.decode(_data(frame))
        except (msgspec.DecodeError, ValueError):
            raise errors.UpstreamError(f"upstream {PROVIDER} sent an unreadable stream event") from None
        kind = event.type
        if kind == "content_block_delta":
            return _CONTENT
        if kind == "message_start" and event.message is not None:
            self._usage = self._usage.merge(event.message.usage)
            return EventProbe(False, usage_of(self._usage))
        if kind == "message_delta":
            if event.usage is not None:
                self._usage = self._usage.merge(event.usage)
            return EventProbe(True, usage_of(self._usage))
        if kind == "error":
            detail = event.error or ErrorDetail()
            raise classify(detail.type, 0, detail.message, None, self._secrets, native=True)
        return _NOTHING  # ping, block starts and stops, message_stop, event types added later

    async def aclose(self) -> None:
        await self._stream.aclose()
