"""Request logging: build the record and hand it to the batched writer. Never waits on storage."""

from __future__ import annotations

import itertools
import os

import msgspec

from switchyard.pipeline.context import RequestContext, StreamLog
from switchyard.pipeline.stages.redact import MAX_BODY_CHARS, Redactor
from switchyard.storage.protocols import LogSink
from switchyard.types.logs import RequestLog

_encode = msgspec.json.Encoder().encode


class RequestLogStage:
    """``redactor``: log request and answer bodies through it; None (the default) logs no bodies."""

    def __init__(self, sink: LogSink, redactor: Redactor | None = None) -> None:
        self._sink = sink
        self._redactor = redactor
        # Log ids unique across processes without a uuid4 per request: a random prefix and a counter.
        self._prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)

    async def before(self, ctx: RequestContext) -> None:
        if self._redactor is not None:
            ctx.stream_log = StreamLog(2 * MAX_BODY_CHARS)  # filled by the relay if the answer is streamed

    def after(self, ctx: RequestContext) -> None:
        usage, trace, principal = ctx.usage, ctx.trace, ctx.principal
        record = RequestLog(
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
            log_id=f"{self._prefix}{next(self._ids):010x}",
            key_id=principal.key_id if principal else None,
            team_id=principal.team_id if principal else None,
            user_id=principal.user_id if principal else None,
            cache_status=ctx.cache_status,
            decision=ctx.decision.to_json() if ctx.decision is not None else None,
        )
        if self._redactor is not None:
            # Opt-in and costs a JSON round trip per body. A streamed answer is logged as the chunks relayed.
            if ctx.request is not None:
                record.request_body = self._redactor.body(_encode(ctx.request))
            streamed = ctx.stream_log.body() if ctx.stream and ctx.stream_log and ctx.stream_log.payloads else None
            record.response_body = self._redactor.body(streamed if streamed is not None else ctx.reply_body)
        self._sink.submit(record)
