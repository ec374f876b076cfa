"""Request logging: build the record and hand it to the batched writer. Never waits on storage."""

from __future__ import annotations

import msgspec

from switchyard.pipeline.context import RequestContext
from switchyard.storage.protocols import LogSink
from switchyard.types.logs import RequestLog

_encode = msgspec.json.Encoder().encode


class RequestLogStage:
    def __init__(self, sink: LogSink) -> None:
        self._sink = sink

    async def before(self, ctx: RequestContext) -> None:
        return None

    def after(self, ctx: RequestContext) -> None:
        usage, trace = ctx.usage, ctx.trace
        self._sink.submit(
            RequestLog(
                request_id=ctx.request_id,
                ts=ctx.started_wall,
                endpoint=ctx.endpoint,
                status=ctx.status,
                latency_ms=round(ctx.elapsed_ms(), 3),
                model_group=ctx.model_group,
                # A failed request names the deployment that failed last; the trace has every attempt.
                deployment=trace.deployment or (trace.attempts[-1].deployment if trace.attempts else None),
                stream=ctx.stream,
                error_code=ctx.error_code,
                ttft_ms=ctx.ttft_ms,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                total_tokens=usage.total_tokens if usage else None,
                attempts=len(trace.attempts),
                trace=_encode(trace.attempts).decode() if trace.attempts else None,
                upstream_request_id=ctx.upstream_request_id,
                cost_usd=ctx.cost_usd,
            )
        )
