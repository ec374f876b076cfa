"""The pipeline: before-stages, the executor, after-stages; one method per endpoint.

The server decodes the wire format and hands over a canonical call; everything from here on is plain
Python that tests can drive without HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import msgspec

from switchyard import errors
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.relay import StreamRelay
from switchyard.pipeline.stage import Stage
from switchyard.providers.base import ChatCall, EmbedCall, Reply
from switchyard.routing.executor import Executor
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.types.chat import Usage, UsageOnly
from switchyard.types.embeddings import EmbeddingUsage

_usage_of_chat = msgspec.json.Decoder(UsageOnly)


class _EmbeddingUsageOnly(msgspec.Struct):
    usage: EmbeddingUsage | None = None


_usage_of_embeddings = msgspec.json.Decoder(_EmbeddingUsageOnly)


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
        self, ctx: RequestContext, call: ChatCall, options: RouteOptions = DEFAULT_OPTIONS
    ) -> Reply | StreamRelay:
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
                client_usage = bool(stream_options and stream_options.include_usage)
                return StreamRelay(ctx, opened, client_usage, self.finish)
            reply = await self.executor.chat(group, call, ctx.trace, options)
            ctx.usage = _usage_of_chat.decode(reply.body).usage
        except msgspec.DecodeError:
            self._fail_unreadable(ctx)
        except errors.SwitchyardError as exc:
            self.fail(ctx, exc)
            raise
        ctx.upstream_request_id = reply.upstream_request_id
        self.finish(ctx)
        return reply

    async def embed(self, ctx: RequestContext, call: EmbedCall, options: RouteOptions = DEFAULT_OPTIONS) -> Reply:
        try:
            group = self.executor.group(call.request.model)
            for stage in self._stages:
                await stage.before(ctx)
            reply = await self.executor.embed(group, call, ctx.trace, options)
            usage = _usage_of_embeddings.decode(reply.body).usage
        except msgspec.DecodeError:
            self._fail_unreadable(ctx)
        except errors.SwitchyardError as exc:
            self.fail(ctx, exc)
            raise
        if usage is not None:
            ctx.usage = Usage(usage.prompt_tokens, 0, usage.total_tokens)
        ctx.upstream_request_id = reply.upstream_request_id
        self.finish(ctx)
        return reply

    def _fail_unreadable(self, ctx: RequestContext) -> NoReturn:
        error = errors.UpstreamError("upstream sent a response that is not valid JSON")
        self.fail(ctx, error)
        raise error from None

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
