"""The cache applied to requests, without HTTP: tenants, per-request controls, semantic seam, failures."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest

from switchyard.cache.memory import MemoryCache
from switchyard.cache.policy import CachePolicy
from switchyard.cache.protocols import CacheUnavailable
from switchyard.cache.redis import RedisCache
from switchyard.config.cache import CacheSettings
from switchyard.errors import InvalidRequestError
from switchyard.pipeline.cache import ResponseCache, parse_controls, tenant_of
from switchyard.pipeline.context import RequestContext
from switchyard.providers.base import ChatCall, Reply
from switchyard.types.chat import ChatRequest, Usage
from switchyard.types.identity import Principal
from tests.gateway_process import free_port

SETTINGS = CacheSettings(enabled=True)
ANSWER = b'{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}'


def call(text: str = "hello", **fields: Any) -> ChatCall:
    body = json.dumps({"model": "gpt", "messages": [{"role": "user", "content": text}], "temperature": 0, **fields})
    return ChatCall(msgspec.json.decode(body, type=ChatRequest), body.encode())


def context(api_key: str | None = "k1", principal: Principal | None = None, **headers: str) -> RequestContext:
    ctx = RequestContext("r", "/v1/chat/completions", api_key)
    ctx.principal = principal
    ctx.cache_headers = {name.replace("_", "-"): value for name, value in headers.items()} or None
    return ctx


class FailingBackend:
    async def get(self, key: str) -> bytes | None:
        raise CacheUnavailable("down")

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        raise CacheUnavailable("down")

    async def delete(self, key: str) -> None:
        raise CacheUnavailable("down")

    async def close(self) -> None:
        return None


class FakeIndex:
    def __init__(self) -> None:
        self.added: list[tuple[str, str, str]] = []

    async def lookup(self, namespace: str, text: str) -> tuple[str, float] | None:
        for added_namespace, added_text, key in self.added:
            if added_namespace == namespace and added_text.lower() == text.lower():
                return key, 0.97
        return None

    async def add(self, namespace: str, text: str, key: str) -> None:
        self.added.append((namespace, text, key))


async def ask(cache: ResponseCache, ctx: RequestContext, chat: ChatCall) -> str | None:
    """One request through the cache: store on a miss (as the pipeline does), return the status."""
    plan, hit = await cache.lookup(ctx, chat)
    if hit is None and plan is not None:
        ctx.cost_usd = 0.002
        cache.store_reply(plan, ctx, Reply(ANSWER, usage=Usage(3, 1, 4)))
        await cache.drain()
    return ctx.cache_status


def test_hit_after_miss_answers_from_the_entry_at_no_cost() -> None:
    async def scenario() -> None:
        cache = ResponseCache(MemoryCache(100, 10**6), SETTINGS, {})
        assert await ask(cache, context(), call()) == "miss"
        ctx = context()
        plan, hit = await cache.lookup(ctx, call())
        assert plan is None and hit is not None and ctx.cache_status == "hit"
        assert hit.body == ANSWER and hit.usage == Usage(3, 1, 4)
        assert ctx.cost_usd == 0.0 and ctx.extra_headers == {"x-switchyard-cache-saved-usd": "0.00200000"}

    asyncio.run(scenario())


def test_tenants_never_share_an_entry() -> None:
    async def scenario() -> None:
        cache = ResponseCache(MemoryCache(100, 10**6), SETTINGS, {})
        alice = Principal(role="user", key_id="alice", team_id="t1")
        bob = Principal(role="user", key_id="bob", team_id="t1")
        assert await ask(cache, context(principal=alice), call()) == "miss"
        assert await ask(cache, context(principal=bob), call()) == "miss"
        assert await ask(cache, context(api_key="other"), call()) == "miss"
        assert await ask(cache, context(api_key=None), call()) == "miss"
        assert await ask(cache, context(principal=alice), call()) == "hit"
        # Same team, team scope: shared.
        team = ResponseCache(MemoryCache(100, 10**6), CacheSettings(enabled=True, scope="team"), {})
        assert await ask(team, context(principal=alice), call()) == "miss"
        assert await ask(team, context(principal=bob), call()) == "hit"

    asyncio.run(scenario())


def test_tenant_names() -> None:
    key_only = Principal(role="user", key_id="k")
    assert tenant_of(context(principal=key_only), "team") == "key:k"
    assert tenant_of(context(principal=Principal(role="user", key_id="k", team_id="t")), "team") == "team:t"
    assert tenant_of(context(principal=key_only), "global") == "global"
    anonymous = tenant_of(context(api_key="secret-key"), "key")
    assert anonymous.startswith("anon:") and "secret-key" not in anonymous
    assert tenant_of(context(api_key=None), "key") == "public"


def test_request_controls() -> None:
    async def scenario() -> None:
        cache = ResponseCache(MemoryCache(100, 10**6), SETTINGS, {})
        assert await ask(cache, context(cache_control="no-store"), call()) == "bypass"
        assert await ask(cache, context(), call()) == "miss"  # no-store stored nothing
        assert await ask(cache, context(cache_control="no-cache"), call("two")) == "bypass"
        assert await ask(cache, context(), call("two")) == "hit"  # no-cache still stored
        # A caller namespace narrows the tenant's namespace.
        assert await ask(cache, context(x_switchyard_cache_namespace="n1"), call()) == "miss"
        assert await ask(cache, context(x_switchyard_cache_namespace="n1"), call()) == "hit"
        assert await ask(cache, context(api_key="k2", x_switchyard_cache_namespace="n1"), call()) == "miss"
        # Not deterministic: not looked up, not stored.
        assert await ask(cache, context(), call(temperature=0.7)) == "bypass"

    asyncio.run(scenario())


def test_ttl_header_sets_the_entry_lifetime() -> None:
    async def scenario() -> None:
        now = [1000.0]
        backend = MemoryCache(100, 10**6, clock=lambda: now[0])
        cache = ResponseCache(backend, SETTINGS, {}, clock=lambda: now[0])
        assert await ask(cache, context(x_switchyard_cache_ttl="5"), call()) == "miss"
        now[0] += 4.9
        assert await ask(cache, context(), call()) == "hit"
        now[0] += 0.2
        assert await ask(cache, context(), call()) == "miss"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "headers",
    [
        {"x-switchyard-cache-ttl": "soon"},
        {"x-switchyard-cache-ttl": "0"},
        {"x-switchyard-cache-ttl": str(31 * 86400)},
        {"x-switchyard-cache-namespace": "x" * 129},
        {"x-switchyard-cache-namespace": "a\x00b"},
    ],
)
def test_bad_controls_are_the_callers_400(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_controls(headers, SETTINGS.max_ttl_s)
    assert caught.value.status == 400 and caught.value.param in headers


def test_controls_parse() -> None:
    controls = parse_controls({"cache-control": "No-Cache, max-age=0", "x-switchyard-cache-ttl": "60"}, 3600)
    assert controls.no_cache and not controls.no_store and controls.ttl_s == 60


def test_group_policy_and_tool_calls() -> None:
    async def scenario() -> None:
        cache = ResponseCache(MemoryCache(100, 10**6), SETTINGS, {"gpt": CachePolicy(enabled=False)})
        assert await ask(cache, context(), call()) == "bypass"

    asyncio.run(scenario())


def test_semantic_index_finds_a_paraphrase_in_the_same_namespace_only() -> None:
    async def scenario() -> None:
        index = FakeIndex()
        cache = ResponseCache(MemoryCache(100, 10**6), SETTINGS, {}, semantic=index)
        assert await ask(cache, context(), call("What is a gateway?")) == "miss"
        assert len(index.added) == 1
        ctx = context()
        assert await ask(cache, ctx, call("WHAT IS A GATEWAY?")) == "semantic-hit"
        assert ctx.extra_headers and ctx.extra_headers["x-switchyard-cache-similarity"] == "0.9700"
        assert await ask(cache, context(api_key="someone-else"), call("WHAT IS A GATEWAY?")) == "miss"
        assert await ask(cache, context(), call("WHAT IS A GATEWAY?", top_p=0.5)) == "miss"

    asyncio.run(scenario())


def test_an_unreachable_store_is_a_miss_never_a_failure() -> None:
    async def scenario() -> None:
        cache = ResponseCache(FailingBackend(), SETTINGS, {})
        assert await ask(cache, context(), call()) == "miss"
        assert await ask(cache, context(), call()) == "miss"
        # Redis on a port nobody listens on: the same, and fast after the first failure.
        redis = RedisCache(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
        with pytest.raises(CacheUnavailable):
            await redis.get("k")
        with pytest.raises(CacheUnavailable):
            await redis.set("k", b"v", 5)
        redis_cache = ResponseCache(redis, SETTINGS, {})
        assert await ask(redis_cache, context(), call()) == "miss"
        await redis_cache.close()

    asyncio.run(scenario())
