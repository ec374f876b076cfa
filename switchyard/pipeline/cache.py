"""The response cache applied to requests: who may share an entry, what the caller asked for, lookup and store.

The pipeline calls ``lookup`` after its before-stages (so limits and budgets still count a hit) and before the
executor; a hit is answered from the entry, a miss goes upstream and its answer is stored afterwards, off the
request path (plain answers by a background task, streams when the relay finishes cleanly). Every failure of the
cache store degrades to a miss: the cache may make a request faster, never fail it.

Tenant isolation is part of every key: by default an entry is shared only by callers of the same virtual key
(``scope: key``), or of the same team (``scope: team``); without a principal, the hash of the API key the
caller sent; ``public`` only when no key was sent at all (a gateway without keys). A caller-chosen namespace
(``x-switchyard-cache-namespace``) narrows the tenant's namespace further and can never reach another tenant's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from switchyard.cache.entry import CacheEntry, decode_entry, encode_entry
from switchyard.cache.key import RequestKey, request_key
from switchyard.cache.policy import CachePolicy
from switchyard.cache.protocols import CacheBackend, CacheUnavailable, SemanticIndex
from switchyard.config.cache import CacheSettings
from switchyard.errors import InvalidRequestError
from switchyard.pipeline.context import RequestContext
from switchyard.providers.base import ChatCall, Reply
from switchyard.types.chat import ChatRequest

log = logging.getLogger("switchyard.cache")

HIT, SEMANTIC_HIT, MISS, BYPASS = "hit", "semantic-hit", "miss", "bypass"
_OPENAI_CHAT = "chat.completions"  # the mode of requests in the canonical (OpenAI chat) format
# Writes waiting for the store; beyond this the newest are dropped (a cache write is never worth memory).
_MAX_PENDING = 1024


@dataclass(frozen=True, slots=True)
class CacheControls:
    """What the caller asked of the cache for one request."""

    no_cache: bool = False  # do not answer from the cache; still store the new answer
    no_store: bool = False  # neither answer from nor store
    ttl_s: int | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class CachePlan:
    """A request the cache may store the answer to, and where."""

    key: RequestKey
    policy: CachePolicy
    ttl_s: int
    request: ChatRequest


def parse_controls(headers: Mapping[str, str] | None, max_ttl_s: int) -> CacheControls:
    """Cache-Control (no-cache, no-store) and the x-switchyard-cache-* headers; a bad value is a 400."""
    if not headers:
        return CacheControls()
    directives = {part.strip().lower() for part in headers.get("cache-control", "").split(",")}
    ttl_s: int | None = None
    raw_ttl = headers.get("x-switchyard-cache-ttl")
    if raw_ttl is not None:
        try:
            ttl_s = int(raw_ttl)
        except ValueError:
            ttl_s = 0
        if not 0 < ttl_s <= max_ttl_s:
            raise InvalidRequestError(
                f"header x-switchyard-cache-ttl must be whole seconds in [1, {max_ttl_s}], got {raw_ttl!r}",
                param="x-switchyard-cache-ttl",
            )
    namespace = headers.get("x-switchyard-cache-namespace")
    if namespace is not None and not (0 < len(namespace) <= 128 and namespace.isprintable()):
        raise InvalidRequestError(
            "header x-switchyard-cache-namespace must be 1 to 128 printable characters",
            param="x-switchyard-cache-namespace",
        )
    return CacheControls("no-cache" in directives, "no-store" in directives, ttl_s, namespace or None)


def tenant_of(ctx: RequestContext, scope: str) -> str:
    """Who may share entries with this caller (see the module docstring)."""
    if scope == "global":
        return "global"
    principal = ctx.principal
    if principal is not None:
        if scope == "team" and principal.team_id:
            return "team:" + principal.team_id
        if principal.key_id:
            return "key:" + principal.key_id
    if ctx.api_key:
        # Never the key itself: keys end up in memory dumps and Redis otherwise.
        return "anon:" + hashlib.blake2b(ctx.api_key.encode(), digest_size=16).hexdigest()
    return "public"


class ResponseCache:
    def __init__(
        self,
        backend: CacheBackend,
        settings: CacheSettings,
        policies: Mapping[str, CachePolicy],
        semantic: SemanticIndex | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self._settings = settings
        self._policies = policies
        self._default = CachePolicy(
            settings.enabled, settings.ttl_s, settings.only_deterministic, settings.cache_tool_calls
        )
        self._semantic = semantic
        self._must_match = frozenset(settings.semantic.must_match)
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()
        self._warned: set[str] = set()

    async def lookup(self, ctx: RequestContext, call: ChatCall) -> tuple[CachePlan | None, CacheEntry | None]:
        """(where to store the answer, or None; the entry to answer with, or None). Sets ``ctx.cache_status``."""
        request = call.request
        policy = self._policies.get(request.model, self._default)
        controls = parse_controls(ctx.cache_headers, self._settings.max_ttl_s)
        if controls.no_store or not policy.cacheable(request):
            ctx.cache_status = BYPASS
            return None, None
        native = call.native
        stream = bool(request.stream)
        mode = f"{native.format if native else _OPENAI_CHAT}:{'stream' if stream else 'plain'}"
        namespace = tenant_of(ctx, self._settings.scope)
        if controls.namespace:
            namespace += "\0" + controls.namespace
        try:
            key = request_key(
                namespace, native.body if native else call.body, mode, self._semantic is not None, self._must_match
            )
        except (msgspec.DecodeError, ValueError):
            ctx.cache_status = BYPASS  # the route decoded it, so this is not expected; just do not cache
            return None, None
        plan = CachePlan(key, policy, controls.ttl_s or policy.ttl_s, request)
        if controls.no_cache:
            ctx.cache_status = BYPASS
            return plan, None
        entry = await self._get(key.exact, stream)
        if entry is not None:
            self._answered(ctx, entry, HIT)
            return None, entry
        if self._semantic is not None and key.semantic_namespace is not None and key.semantic_text is not None:
            entry = await self._semantic_get(ctx, key.semantic_namespace, key.semantic_text, stream)
            if entry is not None:
                return None, entry
        ctx.cache_status = MISS
        return plan, None

    def store_reply(self, plan: CachePlan, ctx: RequestContext, reply: Reply) -> None:
        """Store a plain answer in the background (the caller already has it)."""
        if ctx.status != 200 or not plan.policy.storable_reply(plan.request, reply.body, reply.format):
            return
        entry = CacheEntry(
            self._clock(), plan.ttl_s, reply.format, body=reply.body, usage=reply.usage, cost_usd=ctx.cost_usd
        )
        self._put(plan, entry)

    def recorder(self, plan: CachePlan, format: str | None) -> StreamRecorder:
        return StreamRecorder(self, plan, format, self._settings.max_entry_bytes)

    def store_stream(
        self, plan: CachePlan, ctx: RequestContext, format: str | None, chunks: list[bytes], usage_only: list[int]
    ) -> None:
        """Store a stream that ended cleanly (``StreamRecorder`` calls this once the after-stages ran)."""
        if ctx.status != 200:
            return
        entry = CacheEntry(self._clock(), plan.ttl_s, format, None, chunks, usage_only or None, ctx.usage, ctx.cost_usd)
        self._put(plan, entry)

    async def clear(self) -> int:
        """Purge every stored answer (``DELETE /admin/cache``). Semantic index entries that pointed at them now
        lead to a miss, and age out with their TTL. Raises ``CacheUnavailable`` when the store is down."""
        await self.drain()  # a write still in flight would land after the purge
        return await self.backend.clear()

    async def drain(self) -> None:
        """Wait for every write started so far (shutdown: accepted writes are not lost)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.backend.close()

    # --- internals -----------------------------------------------------------------------------------------

    def _answered(self, ctx: RequestContext, entry: CacheEntry, status: str) -> None:
        ctx.cache_status = status
        ctx.cost_usd = 0.0  # nothing was spent upstream
        if entry.cost_usd:
            self._header(ctx, "x-switchyard-cache-saved-usd", f"{entry.cost_usd:.8f}")

    @staticmethod
    def _header(ctx: RequestContext, name: str, value: str) -> None:
        if ctx.extra_headers is None:
            ctx.extra_headers = {}
        ctx.extra_headers[name] = value

    async def _semantic_get(self, ctx: RequestContext, namespace: str, text: str, stream: bool) -> CacheEntry | None:
        assert self._semantic is not None
        try:
            found = await self._semantic.lookup(namespace, text)
        except Exception:  # the index is an optimisation: its failure is a miss, reported once
            self._warn_once("semantic", "semantic cache lookup failed; serving without it", exc_info=True)
            return None
        if found is None:
            return None
        entry = await self._get(found[0], stream)
        if entry is not None:
            self._answered(ctx, entry, SEMANTIC_HIT)
            self._header(ctx, "x-switchyard-cache-similarity", f"{found[1]:.4f}")
        return entry

    async def _get(self, key: str, stream: bool) -> CacheEntry | None:
        try:
            data = await self.backend.get(key)
        except CacheUnavailable:
            return None
        entry = decode_entry(data) if data is not None else None
        if entry is None or entry.expired(self._clock()):
            return None
        # The key already tells streams from plain answers; this guards against an entry of another shape.
        return entry if (entry.chunks is not None) == stream else None

    def _put(self, plan: CachePlan, entry: CacheEntry) -> None:
        if entry.size() > self._settings.max_entry_bytes:
            return
        if len(self._pending) >= _MAX_PENDING:
            self._warn_once("pending", "cache writes are backing up; dropping some")
            return
        self._spawn(self._write(plan, encode_entry(entry)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, plan: CachePlan, data: bytes) -> None:
        key = plan.key
        try:
            await self.backend.set(key.exact, data, plan.ttl_s)
        except CacheUnavailable:
            return
        except Exception:
            self._warn_once("write", "cache write failed", exc_info=True)
            return
        if self._semantic is not None and key.semantic_namespace is not None and key.semantic_text is not None:
            try:
                await self._semantic.add(key.semantic_namespace, key.semantic_text, key.exact)
            except Exception:
                self._warn_once("semantic-add", "semantic cache add failed", exc_info=True)

    def _warn_once(self, what: str, message: str, exc_info: bool = False) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning(message, exc_info=exc_info)


class StreamRecorder:
    """Collects a stream's payloads as the relay passes them; stores them once the stream ended cleanly.

    Every payload is kept, usage-only chunks included (marked, so a replay sends them only to clients that
    asked). A stream larger than ``max_bytes`` stops being recorded and is not stored.
    """

    __slots__ = ("_cache", "_plan", "_format", "_max_bytes", "_chunks", "_usage_only", "_size", "_tools")

    def __init__(self, cache: ResponseCache, plan: CachePlan, format: str | None, max_bytes: int) -> None:
        self._cache = cache
        self._plan = plan
        self._format = format
        self._max_bytes = max_bytes
        self._chunks: list[bytes] | None = []
        self._usage_only: list[int] = []
        self._size = 0
        self._tools = False

    def record(self, payload: bytes, usage_only: bool, tool_call: bool) -> None:
        chunks = self._chunks
        if chunks is None:
            return
        self._size += len(payload)
        if self._size > self._max_bytes:
            self._chunks = None
            return
        if usage_only:
            self._usage_only.append(len(chunks))
        self._tools = self._tools or tool_call
        chunks.append(payload)

    def complete(self, ctx: RequestContext) -> None:
        """The stream ended cleanly (never called for a broken or abandoned one)."""
        plan, chunks = self._plan, self._chunks
        if chunks and plan.policy.storable_stream(plan.request, self._tools, self._format):
            self._cache.store_stream(plan, ctx, self._format, chunks, self._usage_only)
