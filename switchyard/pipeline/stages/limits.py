"""Rate limits: reserve requests, tokens and a concurrency slot before the call; settle on actual usage after.

Scopes come from the caller (its key's and team's limits, copied into the principal at authentication) and
from the model group's own ``limits``. The reservation is the prompt's tokens (counted offline) plus the most
the answer may use: ``max_completion_tokens``/``max_tokens``, else the group's deployments' output cap, else
``limits.default_max_output_tokens``, times ``n``. After the call the charge is corrected to the usage the
upstream reported (streams included), so a TPM limit overshoots by at most one request's estimate.

Every answer from a limited scope carries OpenAI's ``x-ratelimit-*`` headers for the tightest scope; a
refusal is a 429 ``rate_limit_exceeded`` with ``Retry-After``. If the shared store (Redis) is down,
``limits.redis_failure`` decides: ``open`` admits and logs once per outage, ``closed`` answers 503.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

from switchyard.accounting.tokens import Encoding, TokenCounter, encoding_for_model
from switchyard.config.schema import Config
from switchyard.errors import LimitsUnavailableError, RateLimitError
from switchyard.limits.protocols import Decision, LimitBackendError, LimitStore, Quota, Scope
from switchyard.pipeline.context import RequestContext
from switchyard.types.chat import ChatRequest
from switchyard.types.identity import Limits

log = logging.getLogger("switchyard.limits")
_HITS = ("hit", "semantic-hit")


@dataclass(frozen=True, slots=True)
class GroupSizing:
    """What the stage needs to know about a model group: its own limits, its vocabulary, its output cap."""

    scope: Scope | None
    encoding: Encoding
    output_cap: int


def sizing_from_config(config: Config) -> dict[str, GroupSizing]:
    sizes: dict[str, GroupSizing] = {}
    default = config.limits.default_max_output_tokens
    for name, group in config.model_groups.items():
        limits = group.limits
        scope = None
        if limits is not None and (limits.rpm or limits.tpm or limits.max_concurrency):
            scope = Scope(f"group:{name}", Limits(limits.rpm, limits.tpm, limits.max_concurrency))
        caps = [d.max_output_tokens for d in group.deployments]
        cap = max(c for c in caps if c is not None) if caps and all(c is not None for c in caps) else default
        model = group.deployments[0].model if group.deployments else name
        sizes[name] = GroupSizing(scope, encoding_for_model(model), cap)
    return sizes


def _limited(limits: Limits) -> bool:
    return limits.rpm is not None or limits.tpm is not None or limits.max_concurrency is not None


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s"


def rate_headers(quotas: tuple[Quota, ...]) -> dict[str, str]:
    """``x-ratelimit-*`` for the tightest scope of each dimension (the one with the least remaining)."""
    headers: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        tightest: Quota | None = None
        for quota in quotas:
            if quota.kind == kind and (tightest is None or quota.remaining < tightest.remaining):
                tightest = quota
        if tightest is not None:
            headers[f"x-ratelimit-limit-{kind}"] = str(tightest.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(tightest.remaining)
            headers[f"x-ratelimit-reset-{kind}"] = duration(tightest.reset_s)
    return headers


class LimitsStage:
    def __init__(
        self,
        store: LimitStore,
        counter: TokenCounter,
        groups: Mapping[str, GroupSizing],
        *,
        fail_open: bool = True,
        default_output: int = 1024,
    ) -> None:
        self.store = store
        self._counter = counter
        self._groups = groups
        self._fail_open = fail_open
        self._default_output = default_output
        self._outage = False

    def scopes(self, ctx: RequestContext) -> list[Scope]:
        scopes: list[Scope] = []
        principal = ctx.principal
        if principal is not None:
            if principal.key_id and _limited(principal.key_limits):
                scopes.append(Scope(f"key:{principal.key_id}", principal.key_limits))
            if principal.team_id and _limited(principal.team_limits):
                scopes.append(Scope(f"team:{principal.team_id}", principal.team_limits))
        group = self._groups.get(ctx.model_group or "")
        if group is not None and group.scope is not None:
            scopes.append(group.scope)
        return scopes

    def tokens(self, ctx: RequestContext) -> int:
        """The reservation: prompt tokens plus the most the answer may use."""
        request = ctx.request
        if request is None:
            return 0
        group = self._groups.get(ctx.model_group or "")
        encoding: Encoding = group.encoding if group is not None else "o200k_base"
        if not isinstance(request, ChatRequest):
            return self._counter.embedding(request, encoding)
        output = request.max_completion_tokens or request.max_tokens
        if output is None:
            output = group.output_cap if group is not None else self._default_output
        return self._counter.chat(request, encoding) + output * (request.n or 1)

    async def before(self, ctx: RequestContext) -> None:
        scopes = self.scopes(ctx)
        if not scopes:
            return
        try:
            decision = await self.store.reserve(scopes, self.tokens(ctx))
        except LimitBackendError as exc:
            self._unavailable(exc)
            return
        if self._outage:
            self._outage = False
            log.warning("rate-limit store reachable again; limits enforced")
        self._report(ctx, decision)
        if not decision.allowed:
            # Whole seconds, rounded up: a client that waits Retry-After must find the slot free.
            raise RateLimitError(_refusal(decision), retry_after=float(max(1, math.ceil(decision.retry_after_s))))
        ctx.reservation = decision.reservation

    def after(self, ctx: RequestContext) -> None:
        reservation = ctx.reservation
        if reservation is None:
            return
        ctx.reservation = None
        usage = ctx.usage
        if ctx.cache_status in _HITS:
            actual = 0  # served from the cache: the request counts, its tokens reached no upstream
        elif usage is not None:
            actual = usage.total_tokens or usage.prompt_tokens + usage.completion_tokens
        elif ctx.trace.attempts:
            actual = reservation.tokens  # an upstream saw it but reported nothing: keep the whole charge
        else:
            actual = 0  # refused before any upstream call
        self.store.settle(reservation, actual)

    def _unavailable(self, exc: LimitBackendError) -> None:
        if not self._fail_open:
            raise LimitsUnavailableError(
                "Rate limits cannot be checked right now (the limit store is unreachable); try again shortly.",
                retry_after=1.0,
            )
        if not self._outage:
            self._outage = True
            log.warning("%s; admitting requests without rate limits (limits.redis_failure: open)", exc)

    @staticmethod
    def _report(ctx: RequestContext, decision: Decision) -> None:
        headers = rate_headers(decision.quotas)
        if headers:
            if ctx.extra_headers is None:
                ctx.extra_headers = headers
            else:
                ctx.extra_headers.update(headers)


def _refusal(decision: Decision) -> str:
    kind = decision.refused_kind or "requests"
    scope = (decision.refused_scope or "").split(":", 1)[0] or "gateway"
    what = {"key": "your API key", "team": "your team", "group": "this model"}.get(scope, scope)
    if kind == "concurrency":
        return f"Rate limit reached: too many concurrent requests for {what}. Retry when one finishes."
    return f"Rate limit reached: {kind} per minute for {what}. Retry after {max(decision.retry_after_s, 0.001):.3g}s."
