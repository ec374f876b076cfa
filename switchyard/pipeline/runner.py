"""The pipeline: before-stages, the executor, after-stages; one method per endpoint.

The server decodes the wire format and hands over a canonical call; everything from here on is plain
Python that tests can drive without HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from switchyard import errors
from switchyard.pipeline.cache import CachePlan, ResponseCache
from switchyard.pipeline.cache_replay import CachedStream
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.relay import StreamRelay
from switchyard.pipeline.routed import complete, open_stream, resolve
from switchyard.pipeline.stage import Stage
from switchyard.providers.base import ChatCall, EmbedCall, Reply
from switchyard.routing.executor import Executor
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.routing.router_group import RouterGroup


class Pipeline:
    def __init__(
        self,
        executor: Executor,
        stages: Sequence[Stage] = (),
        auth: Stage | None = None,
        routers: Mapping[str, RouterGroup] | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.executor = executor
        # Router groups (``model: auto``): names whose requests a router sends to one of its member groups.
        self.routers: Mapping[str, RouterGroup] = routers or {}
        self._stages = tuple(stages)
        self._reversed = tuple(reversed(self._stages))
        self._auth = auth
        # The response cache, consulted after the before-stages (limits count a hit) and before the executor.
        self.cache = cache

    async def authenticate(self, ctx: RequestContext) -> None:
        """Runs before the body is decoded, so a caller without a key learns nothing about the API."""
        if self._auth is not None:
            await self._auth.before(ctx)

    async def chat(
        self, ctx: RequestContext, call: ChatCall, options: RouteOptions = DEFAULT_OPTIONS, *, usage_chunk: bool = False
    ) -> Reply | StreamRelay | CachedStream:
        """``usage_chunk``: relay a stream's usage chunk even if the request did not ask for it (an inbound format
        that reports usage at the end of every stream); upstreams are asked for usage either way."""
        try:
            group = resolve(self.executor, self.routers, call.request.model)
            ctx.request = call.request
            for stage in self._stages:
                await stage.before(ctx)
            stream_options = call.request.stream_options
            client_usage = usage_chunk or bool(stream_options and stream_options.include_usage)
            plan: CachePlan | None = None
            if self.cache is not None:
                plan, hit = await self.cache.lookup(ctx, call)
                if hit is not None and call.request.stream:
                    ctx.stream = True
                    ctx.ttft_ms = round(ctx.elapsed_ms(), 3)
                    return CachedStream(ctx, hit, client_usage, self.finish)
                if hit is not None:
                    return self._done(ctx, Reply(hit.body or b"", None, hit.usage, hit.format))
            if call.request.stream:
                ctx.stream = True
                opened = await open_stream(self.executor, group, ctx, call, options)
                ctx.upstream_request_id = opened.stream.upstream_request_id
                ctx.ttft_ms = round(ctx.elapsed_ms(), 3)
                recorder = None if plan is None or self.cache is None else self.cache.recorder(plan, opened.format)
                return StreamRelay(ctx, opened, client_usage, self.finish, recorder)
            reply = await complete(self.executor, group, ctx, call, options)
        except errors.SwitchyardError as exc:
            self.fail(ctx, exc)
            raise
        self._done(ctx, reply)
        if plan is not None and self.cache is not None:
            self.cache.store_reply(plan, ctx, reply)  # after the after-stages: the entry records the cost
        return reply

    async def embed(self, ctx: RequestContext, call: EmbedCall, options: RouteOptions = DEFAULT_OPTIONS) -> Reply:
        try:
            group = self.executor.group(call.request.model)
            ctx.request = call.request
            for stage in self._stages:
                await stage.before(ctx)
            reply = await self.executor.embed(group, call, ctx.trace, options)
        except errors.SwitchyardError as exc:
            self.fail(ctx, exc)
            raise
        return self._done(ctx, reply)

    def _done(self, ctx: RequestContext, reply: Reply) -> Reply:
        ctx.usage = reply.usage
        ctx.upstream_request_id = reply.upstream_request_id
        ctx.reply_body = reply.body
        self.finish(ctx)
        return reply

    def fail(self, ctx: RequestContext, exc: errors.SwitchyardError) -> None:
        """Record a failure and run the after-stages (once)."""
        ctx.status, ctx.error_code = exc.status, exc.code
        self.finish(ctx)

    def finish(self, ctx: RequestContext) -> None:
        if ctx.finished:
            return
        ctx.finished = True
        for stage in self._reversed:
            stage.after(ctx)
