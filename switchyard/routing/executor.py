"""The executor: serve a request from a group's deployments, then from its fallback groups.

One loop for every kind of call. Within a group, candidates are the deployments able to serve the request
and not behind an open breaker, tried in the strategy's order. A failure's typed flags decide what follows:
``retryable`` errors may be retried on the same deployment after a backoff (honouring Retry-After) within
the retry budget; ``allow_fallback`` errors move on to the next deployment, and when the group is
exhausted, to the group's fallback chain for that error class; anything else goes straight back to the
client. Deadlines bound each attempt and the whole request; for streams an attempt counts as answered
only at its first content, so failover stays invisible until bytes reach the client.

A call that carries the client's native body (``ChatCall.native``) is decided per attempt: a deployment whose
adapter speaks that format gets the body as it is (``chat_native``), any other the translated call. So one
request can fall back from a same-format upstream to another kind, and the answer says which format it is in.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from switchyard import errors
from switchyard.config.schema import RouterSettings
from switchyard.limits.protocols import LimitStore, Reservation
from switchyard.providers.base import ChatCall, EmbedCall, Reply, native_provider
from switchyard.routing.candidates import capable, healthy
from switchyard.routing.chunks import chat_usage, embedding_usage
from switchyard.routing.deployment_limits import DeploymentLimits, soonest
from switchyard.routing.health import Health
from switchyard.routing.hedge import run_hedged
from switchyard.routing.options import DEFAULT_OPTIONS, EMBEDDING_SHAPE, RequestShape, RouteOptions, shape_of
from switchyard.routing.strategies.base import RankContext
from switchyard.routing.streams import OpenStream, open_native_stream, open_stream
from switchyard.routing.target import Group, Target
from switchyard.routing.trace import Attempt, Trace
from switchyard.storage.protocols import HealthStore

R = TypeVar("R")
Call = Callable[[Target], Coroutine[Any, Any, R]]


def _native_chat(call: ChatCall, translated: Call[Reply]) -> Call[Reply]:
    """An attempt that sends the native body to a deployment that speaks its format, else the translated call."""

    async def attempt(target: Target) -> Reply:
        native = native_provider(target.provider, call)
        if native is None:
            return await translated(target)
        return await native.chat_native(call)  # the adapter read the usage, in its own format

    return attempt


def _native_stream(call: ChatCall, translated: Call[OpenStream], ttft: float | None) -> Call[OpenStream]:
    async def attempt(target: Target) -> OpenStream:
        native = native_provider(target.provider, call)
        if native is None:
            return await translated(target)
        return await open_native_stream(target, native, call, ttft)

    return attempt


class Deadline:
    __slots__ = ("at", "total")

    def __init__(self, at: float, total: float) -> None:
        self.at = at
        self.total = total

    def left(self) -> float:
        return self.at - asyncio.get_running_loop().time()

    def expired(self) -> errors.UpstreamTimeoutError:
        error = errors.UpstreamTimeoutError(f"no answer within the request's total timeout of {self.total:g}s")
        error.allow_fallback = False  # the time is spent for every group alike
        return error


class Executor:
    def __init__(
        self, groups: dict[str, Group], settings: RouterSettings, store: HealthStore, limits: LimitStore | None = None
    ) -> None:
        self._groups = groups
        # None unless some deployment has rpm/tpm/max_concurrency: then the request path skips it entirely.
        self._limits = DeploymentLimits.build(limits, groups.values())
        self._settings = settings
        self._store = store
        self.health = Health(store, settings.breaker, settings.retry_budget)
        self._rng = random.Random()

    @property
    def groups(self) -> dict[str, Group]:
        return self._groups

    def group(self, name: str) -> Group:
        group = self._groups.get(name)
        if group is None:
            raise errors.ModelNotFoundError(
                f"The model `{name}` does not exist or you do not have access to it.", param="model"
            )
        return group

    async def chat(self, group: Group, call: ChatCall, trace: Trace, options: RouteOptions = DEFAULT_OPTIONS) -> Reply:
        async def attempt(target: Target) -> Reply:
            reply = await target.provider.chat(call)
            reply.usage = chat_usage(reply.body)
            return reply

        chosen = attempt if call.native is None else _native_chat(call, attempt)
        return await self._execute(group, shape_of(call.request), trace, options, chosen, stream=False)

    async def embed(
        self, group: Group, call: EmbedCall, trace: Trace, options: RouteOptions = DEFAULT_OPTIONS
    ) -> Reply:
        async def attempt(target: Target) -> Reply:
            reply = await target.provider.embed(call)
            reply.usage = embedding_usage(reply.body)
            return reply

        return await self._execute(group, EMBEDDING_SHAPE, trace, options, attempt, stream=False)

    async def chat_stream(
        self, group: Group, call: ChatCall, trace: Trace, options: RouteOptions = DEFAULT_OPTIONS
    ) -> OpenStream:
        ttft = options.ttft_timeout_s or group.policy.ttft_timeout_s

        async def attempt(target: Target) -> OpenStream:
            return await open_stream(target, call, ttft)

        chosen = attempt if call.native is None else _native_stream(call, attempt, ttft)
        total = options.total_timeout_s or group.policy.total_timeout_s
        deadline = asyncio.get_running_loop().time() + total
        opened = await self._execute(group, shape_of(call.request), trace, options, chosen, stream=True)
        opened.deadline = deadline
        opened.stall_s = options.stall_timeout_s or group.policy.stall_timeout_s
        health, limits = self.health, self._limits

        def ended(error: errors.SwitchyardError | None) -> None:
            health.finish(opened.deployment)
            if limits is not None:
                limits.settle(opened.held, opened.usage, upstream_saw_it=True)
            trace.stream_ended(opened.deployment, error.code if error is not None else None)
            if error is not None:
                health.outcome(opened.deployment, ok=False, counts=error.counts_against_health)

        opened.on_end(ended)
        return opened

    # --- the loop ---------------------------------------------------------------------------------------------

    async def _execute(
        self, group: Group, shape: RequestShape, trace: Trace, options: RouteOptions, call: Call[R], stream: bool
    ) -> R:
        # One deadline for the whole request; each attempt's own timer is clipped to it, so a request costs
        # one timer per attempt rather than a timer per attempt plus one around everything.
        total = options.total_timeout_s or group.policy.total_timeout_s
        deadline = Deadline(asyncio.get_running_loop().time() + total, total)
        first, visited = group, [group.name]
        while True:
            try:
                return await self._run_group(
                    group, shape, trace, options, call, stream, deadline, fallback=group is not first
                )
            except errors.SwitchyardError as exc:
                following = self._fallback(first, exc, visited)
                if following is None:
                    raise
                trace.fallbacks.append(f"{group.name}>{following.name}:{exc.fallback_class or 'default'}")
                visited.append(following.name)
                group = following

    def _fallback(self, first: Group, exc: errors.SwitchyardError, visited: list[str]) -> Group | None:
        if not exc.allow_fallback:
            return None
        chains = first.policy.fallbacks
        chain = getattr(chains, exc.fallback_class, None) if exc.fallback_class else None
        for name in chain if chain is not None else chains.default:
            if name not in visited and name in self._groups:
                return self._groups[name]
        return None

    async def _run_group(
        self,
        group: Group,
        shape: RequestShape,
        trace: Trace,
        options: RouteOptions,
        call: Call[R],
        stream: bool,
        deadline: Deadline,
        fallback: bool,
    ) -> R:
        health = self.health
        call = trace.observed(call, group.name)  # live attempt spans when tracing is on
        targets = healthy(group, capable(group, shape, options), health)
        ranking = group.strategy.rank(targets, RankContext(shape, self._store, time.monotonic()))
        attempts = options.num_retries + 1 if options.num_retries is not None else group.policy.attempts
        timeout = options.timeout_s or group.policy.timeout_s
        failed: dict[str, errors.SwitchyardError] = {}
        last: errors.SwitchyardError | None = None
        limits, refused = self._limits, list[errors.RateLimitError]()
        number = 0
        while number < attempts:
            target = self._next(ranking, failed)
            if target is None:
                break
            if target.id in failed:
                previous = failed[target.id]
                wait = self._backoff(previous, number, health.seconds_until_available(target.id))
                if wait is None or not previous.retryable or not health.take_retry(target.id):
                    break
                await asyncio.sleep(min(wait, deadline.left()))
            held: Reservation | None = None
            if limits is not None:
                admitted = await limits.reserve(target.id, shape.prompt_tokens + shape.max_output_tokens)
                if isinstance(admitted, errors.RateLimitError):
                    # At its own limit: not an attempt; the next candidate is tried (the refusal is not retryable).
                    failed[target.id] = admitted
                    refused.append(admitted)
                    continue
                held = admitted
            number += 1
            if not health.acquire(target.id):
                if limits is not None:
                    limits.settle(held, None, upstream_saw_it=False)
                continue
            health.note_tokens(target.id, shape.prompt_tokens)
            backup = self._backup(ranking, target, failed, group)
            started = time.perf_counter()
            left = deadline.left()
            try:
                if left <= 0:
                    raise deadline.expired()
                result, served = await run_hedged(
                    target,
                    backup,
                    call,
                    min(timeout, left),
                    self._hedge_delay(group, target),
                    health,
                    trace,
                    group.name,
                )
            except BaseException as exc:
                if limits is not None:
                    limits.settle(held, None, upstream_saw_it=False)  # errors and cancellation free the slot
                if not isinstance(exc, errors.SwitchyardError):
                    raise
                if left < timeout and isinstance(exc, errors.UpstreamTimeoutError):
                    exc = deadline.expired()
                ms = (time.perf_counter() - started) * 1000
                trace.record(Attempt(target.id, round(ms, 2), exc.code, group.name if fallback else None))
                health.finish(target.id)
                health.outcome(target.id, ok=False, counts=exc.counts_against_health)
                if isinstance(exc, errors.UpstreamRateLimitError):
                    health.cool_down(target.id, exc.retry_after if exc.retry_after is not None else 1.0)
                group.strategy.observe(target.id, False, ms)
                if not (exc.retryable or exc.allow_fallback) or deadline.left() <= 0:
                    raise exc from None
                failed[target.id] = last = exc
                continue
            ms = (time.perf_counter() - started) * 1000
            trace.record(
                Attempt(served.id, round(ms, 2), None, group.name if fallback else None, hedge=served is not target),
                stream,
            )
            trace.deployment = served.id
            trace.price = served.price
            if not stream:
                health.finish(served.id)
            if limits is not None:
                if isinstance(result, OpenStream) and served is target:
                    result.held = held  # settled when the stream ends, with the usage the relay read
                else:
                    usage = getattr(result, "usage", None) if served is target else None
                    limits.settle(held, usage, upstream_saw_it=served is target)
            health.outcome(served.id, ok=True, counts=True, ms=ms, ttft=stream)
            group.strategy.observe(served.id, True, ms)
            return result
        if last is None and refused:
            last = soonest(refused)  # every candidate was at its own limit: 429 with the soonest reset
        if last is None:
            last = errors.NoHealthyDeploymentError(f"no deployment of {group.name!r} could take the request")
        raise last

    @staticmethod
    def _next(ranking: list[Target], failed: dict[str, errors.SwitchyardError]) -> Target | None:
        for target in ranking:
            if target.id not in failed:
                return target
        for target in ranking:
            if failed[target.id].retryable:
                return target
        return None

    def _backup(
        self, ranking: list[Target], primary: Target, failed: dict[str, errors.SwitchyardError], group: Group
    ) -> Target | None:
        if not group.policy.hedge.enabled:
            return None
        for target in ranking:
            if target is not primary and target.id not in failed and self.health.available(target.id):
                # A hedge takes no reservation, so a deployment with hard limits is never a hedge backup.
                if self._limits is None or not self._limits.limited(target.id):
                    return target
        return None

    def _hedge_delay(self, group: Group, target: Target) -> float | None:
        hedge = group.policy.hedge
        if not hedge.enabled:
            return None
        if hedge.delay_s is not None:
            return hedge.delay_s
        ms = self.health.first_byte_quantile(target.id, hedge.quantile, hedge.min_samples)
        return None if ms is None else ms / 1000

    def _backoff(self, exc: errors.SwitchyardError, number: int, cooling: float) -> float | None:
        """Seconds to wait before retrying the same deployment; None when the wait is not worth it."""
        if exc.retry_after is not None or cooling > 0:
            wait = max(exc.retry_after or 0.0, cooling + 0.001 if cooling else 0.0)
            return wait if wait <= self._settings.max_retry_after_s else None
        # Exponential with full jitter, so that many clients retrying at once spread out.
        return self._rng.uniform(0, self._settings.retry_backoff_s * (2**number))
