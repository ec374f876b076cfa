"""Recording a live stream and replaying it: what is kept, what a replay sends, when nothing is stored."""

from __future__ import annotations

import asyncio
import json

import msgspec

from switchyard.cache.entry import CacheEntry
from switchyard.cache.memory import MemoryCache
from switchyard.config.cache import CacheSettings
from switchyard.pipeline.cache import ResponseCache
from switchyard.pipeline.cache_replay import CachedStream
from switchyard.pipeline.context import RequestContext
from switchyard.providers.base import ChatCall
from switchyard.types.chat import ChatRequest, Usage

CHUNKS = [b'{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}', b'{"id":"c","choices":[],"usage":{}}']


def call(**fields: object) -> ChatCall:
    body = json.dumps({"model": "gpt", "messages": [{"role": "user", "content": "q"}], "temperature": 0, **fields})
    return ChatCall(msgspec.json.decode(body, type=ChatRequest), body.encode())


async def replay(entry: CacheEntry, client_usage: bool) -> tuple[list[bytes], RequestContext, list[str]]:
    ctx = RequestContext("r", "/v1/chat/completions", None)
    finished: list[str] = []
    stream = CachedStream(ctx, entry, client_usage, lambda c: finished.append(c.request_id))
    sent = [chunk async for batch in stream.batches() for chunk in batch]
    return sent, ctx, finished


def test_replay_sends_the_usage_chunk_only_to_callers_who_asked() -> None:
    entry = CacheEntry(0.0, 60, None, chunks=CHUNKS, usage_only=[1], usage=Usage(1, 1, 2))
    with_usage, ctx, finished = asyncio.run(replay(entry, True))
    assert with_usage == CHUNKS and ctx.usage == Usage(1, 1, 2) and finished == ["r"]
    without, _, finished = asyncio.run(replay(entry, False))
    assert without == CHUNKS[:1] and finished == ["r"]


def test_recorder_stores_complete_streams_within_the_size_bound() -> None:
    async def scenario() -> None:
        backend = MemoryCache(100, 10**6)
        cache = ResponseCache(backend, CacheSettings(enabled=True, max_entry_bytes=100), {})
        for size, stored in ((10, True), (200, False)):
            ctx = RequestContext("r", "/v1/chat/completions", "k")
            plan, _ = await cache.lookup(ctx, call(stream=True, max_tokens=size))
            assert plan is not None
            recorder = cache.recorder(plan, None)
            recorder.record(b"x" * size, False, False)
            recorder.record(b"{}", True, False)
            recorder.complete(ctx)
            await cache.drain()
            again = RequestContext("r", "/v1/chat/completions", "k")
            _, hit = await cache.lookup(again, call(stream=True, max_tokens=size))
            assert (hit is not None) is stored
            if hit is not None:
                assert hit.chunks == [b"x" * size, b"{}"] and hit.usage_only == [1]

    asyncio.run(scenario())


def test_recorded_tool_calls_are_not_stored_by_default() -> None:
    async def scenario() -> None:
        cache = ResponseCache(MemoryCache(100, 10**6), CacheSettings(enabled=True), {})
        tools = [{"type": "function", "function": {"name": "f"}}]
        ctx = RequestContext("r", "/v1/chat/completions", "k")
        plan, _ = await cache.lookup(ctx, call(stream=True, tools=tools))
        assert plan is not None
        recorder = cache.recorder(plan, None)
        recorder.record(b"{}", False, True)
        recorder.complete(ctx)
        await cache.drain()
        _, hit = await cache.lookup(RequestContext("r", "/v1/chat/completions", "k"), call(stream=True, tools=tools))
        assert hit is None

    asyncio.run(scenario())
