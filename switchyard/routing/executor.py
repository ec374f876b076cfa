"""The executor: try a group's deployments in the strategy's order until one answers.

One loop for every kind of call. A failure's typed flags decide what happens next: ``retryable`` errors may
be retried on the same deployment after a backoff (honouring Retry-After), ``allow_fallback`` errors move
on to the next deployment, anything else goes straight back to the client. For streams, an attempt counts
as answered only once its first batch arrived, so failover stays invisible until bytes reach the client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from switchyard.config.schema import RouterSettings
from switchyard.errors import ModelNotFoundError, SwitchyardError
from switchyard.providers.base import ChatCall, ChunkStream, EmbedCall, Reply
from switchyard.routing.target import Group, Target
from switchyard.routing.trace import Attempt, Trace

R = TypeVar("R")


class OpenStream:
    """A stream whose first batch has already arrived."""

    __slots__ = ("stream", "batches", "first")

    def __init__(self, stream: ChunkStream, batches: AsyncIterator[list[bytes]], first: list[bytes]) -> None:
        self.stream = stream
        self.batches = batches
        self.first = first

    async def aclose(self) -> None:
        aclose = getattr(self.batches, "aclose", None)
        if aclose is not None:
            await aclose()
        await self.stream.aclose()


class Executor:
    def __init__(self, groups: dict[str, Group], settings: RouterSettings) -> None:
        self._groups = groups
        self._settings = settings
        self._rng = random.Random()

    @property
    def groups(self) -> dict[str, Group]:
        return self._groups

    def group(self, name: str) -> Group:
        group = self._groups.get(name)
        if group is None:
            raise ModelNotFoundError(
                f"The model `{name}` does not exist or you do not have access to it.", param="model"
            )
        return group

    async def chat(self, group: Group, call: ChatCall, trace: Trace) -> Reply:
        return await self._run(group, trace, lambda target: target.provider.chat(call))

    async def embed(self, group: Group, call: EmbedCall, trace: Trace) -> Reply:
        return await self._run(group, trace, lambda target: target.provider.embed(call))

    async def chat_stream(self, group: Group, call: ChatCall, trace: Trace) -> OpenStream:
        async def open_stream(target: Target) -> OpenStream:
            stream = await target.provider.chat_stream(call)
            batches = stream.batches()
            try:
                first: list[bytes] = await anext(batches, [])
            except BaseException:
                await stream.aclose()
                raise
            return OpenStream(stream, batches, first)

        return await self._run(group, trace, open_stream)

    async def _run(self, group: Group, trace: Trace, call: Callable[[Target], Awaitable[R]]) -> R:
        ranking = group.strategy.rank(group.targets)
        attempts = group.attempts
        for number in range(attempts):
            target = ranking[number % len(ranking)]
            started = time.perf_counter()
            try:
                result = await call(target)
            except SwitchyardError as exc:
                ms = (time.perf_counter() - started) * 1000
                trace.attempts.append(Attempt(target.id, round(ms, 2), exc.code))
                group.strategy.observe(target.id, False, ms)
                last = number == attempts - 1
                if last or not (exc.retryable or exc.allow_fallback):
                    raise
                following = ranking[(number + 1) % len(ranking)]
                if following is target:
                    if not exc.retryable:
                        raise
                    await asyncio.sleep(self._backoff(exc, number))
                continue
            ms = (time.perf_counter() - started) * 1000
            trace.attempts.append(Attempt(target.id, round(ms, 2)))
            trace.deployment = target.id
            group.strategy.observe(target.id, True, ms)
            return result
        raise AssertionError("unreachable: a group always makes at least one attempt")

    def _backoff(self, exc: SwitchyardError, number: int) -> float:
        if exc.retry_after is not None:
            return min(exc.retry_after, self._settings.max_retry_after_s)
        # Exponential with full jitter, so that many clients retrying at once spread out.
        return self._rng.uniform(0, self._settings.retry_backoff_s * (2**number))
