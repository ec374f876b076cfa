"""The pipeline: before-stages, the executor, after-stages; one method per endpoint.

The server decodes the wire format and hands over a canonical call; everything from here on is plain
Python that tests can drive without HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchyard import errors
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.relay import StreamRelay
from switchyard.pipeline.stage import Stage
from switchyard.providers.base import ChatCall, EmbedCall, Reply
from switchyard.routing.executor import Executor
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions


class Pipeline:
    def __init__(self, executor: Executor, stages: Sequence[Stage] = (), auth: Stage | None = None) -> None:
        self.executor = executor
        self._stages = tuple(stages)
        self._reversed = tuple(reversed(self._stages))
        self._auth = auth

    async def authenticate(self, ctx: RequestContext) -> None:
        """Runs before the body is decoded, so a caller without a key learns nothing about the API."""
        if self._auth is not None:
            await self._auth.before(ctx)

    async def chat(
        self, ctx: RequestContext, call: ChatCall, options: RouteOptions = DEFAULT_OPTIONS, *, usage_chunk: bool = False
    ) -> Reply | StreamRelay:
        """``usage_chunk``: relay a stream's usage chunk even if the request did not ask for it (an inbound format
        that reports usage at the end of every stream); upstreams are asked for usage either way."""
        try:
            group = self.executor.group(call.request.model)
            for stage in self._stages:
                await stage.before(ctx)
            if call.request.stream:
                ctx.stream = True
                stream_options = call.request.stream_options
                opened = await self.executor.chat_stream(group, call, ctx.trace, options)
                ctx.upstream_request_id = opened.stream.upstream_request_id
                ctx.ttft_ms = round(ctx.elapsed_ms(), 3)
                client_usage = usage_chunk or bool(stream_options and stream_options.include_usage)
                return StreamRelay(ctx, opened, client_usage, self.finish)
            reply = await self.executor.chat(group, call, ctx.trace, options)
        except errors.SwitchyardError as exc:
            self.fail(ctx, exc)
            raise
        return self._done(ctx, reply)

    async def embed(self, ctx: RequestContext, call: EmbedCall, options: RouteOptions = DEFAULT_OPTIONS) -> Reply:
        try:
            group = self.executor.group(call.request.model)
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
