"""One attempt under its deadline, optionally hedged.

Hedging: when the primary has not answered within ``delay`` (the deployment's high percentile of time to
first byte), the same request starts on a backup deployment; the first to answer is kept and the other is
cancelled, so a slow tail costs at most one extra call instead of the user's time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from switchyard import errors
from switchyard.routing.health import Health
from switchyard.routing.target import Target
from switchyard.routing.trace import Attempt, Trace

R = TypeVar("R")


async def run_hedged(
    primary: Target,
    backup: Target | None,
    call: Callable[[Target], Coroutine[Any, Any, R]],
    timeout: float,
    delay: float | None,
    health: Health,
    trace: Trace,
    group: str,
) -> tuple[R, Target]:
    """The result and the target that produced it; raises the primary's error if nobody answered."""
    if backup is None or delay is None or delay >= timeout:
        try:  # _within, inlined: this is every unhedged call, and each frame on it costs every resume
            async with asyncio.timeout(timeout):
                return await call(primary), primary
        except TimeoutError:
            raise errors.UpstreamTimeoutError(f"no answer within {timeout:g}s") from None
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    first: asyncio.Task[R] = loop.create_task(call(primary))
    tasks: dict[asyncio.Task[R], Target] = {first: primary}
    try:
        done, _ = await asyncio.wait({first}, timeout=delay)
        if done or not health.acquire(backup.id):
            return await _within(first, timeout - delay), primary
        tasks[loop.create_task(call(backup))] = backup
        remaining = timeout - delay
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise errors.UpstreamTimeoutError(f"no answer within {timeout:g}s")
            remaining = max(0.0, timeout - (time.perf_counter() - started))
            for task in done:
                if task.exception() is None:
                    winner = tasks[task]
                    await _settle_losers(tasks, task, health, trace, started)
                    return task.result(), winner
        # Both failed: account for the backup here; the caller accounts for the primary.
        _note_backup_failure(tasks, first, health, trace, started)
        raise first.exception() or errors.UpstreamError("hedged attempts failed")
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()


async def _within(awaitable: Awaitable[R], timeout: float) -> R:
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        raise errors.UpstreamTimeoutError(f"no answer within {timeout:g}s") from None


async def _settle_losers(
    tasks: dict[asyncio.Task[R], Target], winner: asyncio.Task[R], health: Health, trace: Trace, started: float
) -> None:
    ms = round((time.perf_counter() - started) * 1000, 2)
    primary = next(iter(tasks.values()))
    for task, target in tasks.items():
        if task is winner:
            continue
        if not task.done():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001 - the loser's fate no longer matters
                pass
        elif task.exception() is None:
            aclose = getattr(task.result(), "aclose", None)
            if aclose is not None:
                await aclose()
        # The caller frees the slot of whoever served; the loser's slot is freed here.
        health.finish(target.id)
        trace.record(Attempt(target.id, ms, "hedge_lost", hedge=target is not primary))


def _note_backup_failure(
    tasks: dict[asyncio.Task[R], Target], first: asyncio.Task[R], health: Health, trace: Trace, started: float
) -> None:
    ms = round((time.perf_counter() - started) * 1000, 2)
    for task, target in tasks.items():
        if task is first:
            continue
        exc = task.exception()
        error = exc if isinstance(exc, errors.SwitchyardError) else errors.UpstreamError("hedge failed")
        trace.record(Attempt(target.id, ms, error.code, hedge=True))
        health.finish(target.id)
        health.outcome(target.id, ok=False, counts=error.counts_against_health)
