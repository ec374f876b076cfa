"""Budget alerts delivered by webhook from a background task, never on the request path.

``notify`` only puts the alert on a bounded queue (dropping, with a log line, if the queue is full); the
task POSTs each alert as JSON ``{scope, id, threshold, spend_usd, max_usd, period}`` and retries failures
with exponential backoff a few times. ``close`` delivers what is queued before shutdown (bounded in time).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from switchyard.errors import UpstreamError
from switchyard.limits.budget import Alert
from switchyard.transport import HttpTransport, Timeouts

log = logging.getLogger("switchyard.limits")
_JSON = {"Content-Type": "application/json"}


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
        self._timeouts = Timeouts(total=timeout_s, connect=timeout_s)
        self._task: asyncio.Task[None] | None = None
        self._transport: HttpTransport | None = None

    def notify(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            log.warning("budget alert queue full; dropped the alert for %s:%s", alert.scope, alert.id)

    async def start(self) -> None:
        self._transport = HttpTransport()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._deliver(alert)
            finally:
                self._queue.task_done()

    async def _deliver(self, alert: Alert) -> None:
        assert self._transport is not None
        body = json.dumps(payload(alert)).encode()
        for attempt in range(self._attempts):
            try:
                response = await self._transport.post(self._url, body, _JSON, self._timeouts)
                if response.status < 300:
                    return
                reason = f"HTTP {response.status}"
            except UpstreamError as exc:
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
        if self._transport is not None:
            await self._transport.close()
