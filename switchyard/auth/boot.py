"""Start-up work that needs a database which may be down when the gateway boots (PostgreSQL in scale-out).

The gateway starts anyway: ``start_or_retry`` tries once inline and, if that fails, keeps trying in a background
task with capped backoff. Until the key store is up the authenticator stays closed: the master key works (it needs
no database) and virtual keys get a 503 from the store, never a 500 and never an open door.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("switchyard.auth")


async def start_or_retry(
    what: str, start: Callable[[], Awaitable[object]], *, first_retry_s: float = 0.5, max_retry_s: float = 10.0
) -> asyncio.Task[None] | None:
    """Run ``start``; on failure, retry it in a background task (returned, for shutdown to cancel)."""
    try:
        await start()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure here is retried; the reason is logged
        log.warning("%s failed at start-up (%s); retrying in the background", what, _reason(exc))
    return asyncio.get_running_loop().create_task(_retry(what, start, first_retry_s, max_retry_s))


async def _retry(what: str, start: Callable[[], Awaitable[object]], delay_s: float, max_retry_s: float) -> None:
    while True:
        await asyncio.sleep(delay_s)
        try:
            await start()
        except Exception as exc:  # noqa: BLE001
            log.debug("%s still failing: %s", what, _reason(exc))
            delay_s = min(max_retry_s, delay_s * 2)
            continue
        log.warning("%s succeeded after retrying", what)
        return


def _reason(exc: BaseException) -> str:
    # The type only: a driver's message may quote the DSN, and with it a password.
    return type(exc).__name__
