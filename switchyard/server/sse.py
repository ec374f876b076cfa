"""An ASGI response that streams SSE and cancels the work as soon as the client disconnects.

Starlette's StreamingResponse notices a disconnect only when its next write fails, which for a stalled
upstream may be never; this one watches ``receive`` in a side task and cancels the stream at once, so the
upstream connection is closed and stops generating.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.types import Receive, Scope, Send

from switchyard.errors import SwitchyardError


class SSEResponse:
    def __init__(
        self,
        batches: AsyncIterator[list[bytes]],
        headers: dict[str, str],
        frame: Callable[[list[bytes]], bytes],
        done: bytes,
        error_frame: Callable[[SwitchyardError], bytes],
    ) -> None:
        self._batches = batches
        self._frame = frame
        self._done = done
        self._error_frame = error_frame
        raw = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self._headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        state = {"finished": False, "disconnected": False}

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if not state["finished"] and task is not None:
                        state["disconnected"] = True
                        task.cancel()
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            await self._stream(send, state)
        except asyncio.CancelledError:
            if not state["disconnected"]:
                raise
            # The client left: the relay's cleanup already closed the upstream. Nothing to send.
            task.uncancel() if task is not None else None
        except OSError:
            pass  # the socket went away between the disconnect and our write
        finally:
            watcher.cancel()

    async def _stream(self, send: Send, state: dict[str, bool]) -> None:
        tail = self._done
        try:
            async for batch in self._batches:
                if batch:
                    await send({"type": "http.response.body", "body": self._frame(batch), "more_body": True})
        except SwitchyardError as exc:
            # Bytes already reached the client, so the status line is spent: say so in-band, and do not
            # send [DONE], so no client mistakes a broken answer for a complete one.
            tail = self._error_frame(exc)
        state["finished"] = True
        await send({"type": "http.response.body", "body": tail, "more_body": False})
