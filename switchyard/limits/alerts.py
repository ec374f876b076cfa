"""Budget alerts delivered by webhook from a background task, never on the request path.

``notify`` only puts the alert on a bounded queue (dropping, with a log line, if the queue is full); the
task POSTs each alert as JSON ``{scope, id, threshold, spend_usd, max_usd, period}`` and retries failures
with exponential backoff a few times. ``close`` delivers what is queued before shutdown (bounded in time).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from switchyard.limits.budget import Alert

log = logging.getLogger("switchyard.limits")


def payload(alert: Alert) -> dict[str, Any]:
    return {
        "scope": alert.scope,
        "id": alert.id,
        "threshold": alert.threshold,
        "spend_usd": alert.spend_usd,
        "max_usd": alert.max_usd,
        "period": alert.period,
        "period_key": alert.period_key,
    }


class WebhookNotifier:
    def __init__(
        self, url: str, *, max_queue: int = 1000, attempts: int = 5, backoff_s: float = 0.5, timeout_s: float = 10.0
    ) -> None:
        self._url = url
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(max_queue)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def notify(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            log.warning("budget alert queue full; dropped the alert for %s:%s", alert.scope, alert.id)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._deliver(alert)
            finally:
                self._queue.task_done()

    async def _deliver(self, alert: Alert) -> None:
        assert self._session is not None
        body = payload(alert)
        for attempt in range(self._attempts):
            try:
                async with self._session.post(self._url, json=body) as response:
                    if response.status < 300:
                        return
                    reason = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = type(exc).__name__
            if attempt + 1 < self._attempts:
                await asyncio.sleep(self._backoff_s * 2**attempt)
        log.warning(
            "budget alert for %s:%s not delivered after %d attempts (%s)", alert.scope, alert.id, self._attempts, reason
        )

    async def close(self, timeout_s: float = 5.0) -> None:
        if self._task is not None:
            try:
                await asyncio.wait_for(self._queue.join(), timeout_s)
            except TimeoutError:
                log.warning("budget alerts still queued at shutdown: %d", self._queue.qsize())
            self._task.cancel()
        if self._session is not None:
            await self._session.close()
