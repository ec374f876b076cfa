"""Keep-alive connections to one upstream origin, at most ``limit`` open at a time.

The most recently used idle connection is reused first (it is the least likely to have been closed by the
upstream's own idle timeout); connections idle longer than ``keepalive_s`` are closed instead of reused.
Callers beyond the limit wait in order for a connection or a free slot.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque

from switchyard.transport.connection import Connection
from switchyard.transport.proxy import Proxy, tunnel


class Pool:
    __slots__ = ("_host", "_port", "_ssl", "_limit", "_keepalive_s", "_idle", "_open", "_waiters", "_proxy", "closed")

    def __init__(
        self,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        limit: int,
        keepalive_s: float,
        proxy: Proxy | None = None,
    ) -> None:
        self._proxy = proxy if tls is not None else None  # only https upstreams are tunnelled
        self._host = host
        self._port = port
        self._ssl = tls
        self._limit = max(1, limit)
        self._keepalive_s = keepalive_s
        self._idle: list[Connection] = []
        self._open = 0  # slots taken: open connections plus connections being opened
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self.closed = False

    async def acquire(self, connect_timeout_s: float) -> Connection:
        connection = self.reuse()
        if connection is not None:
            return connection
        if self._open >= self._limit:
            waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                self._abandon(waiter)
                raise
            if handed is not None:
                return handed
            # None: a slot was freed and is ours now.
        else:
            self._open += 1
        try:
            return await self._connect(connect_timeout_s)
        except BaseException:
            self._free_slot()
            raise

    def release(self, connection: Connection, reusable: bool) -> None:
        """From the connection: an exchange ended and it may serve another (True), or it has closed (False)."""
        if not reusable:
            if connection in self._idle:
                self._idle.remove(connection)
            self._free_slot()
            return
        if self.closed:
            connection.close()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def close(self) -> None:
        self.closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def reuse(self) -> Connection | None:
        """An idle connection, if there is one still fresh."""
        idle = self._idle
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            if now - connection.idle_since > self._keepalive_s:
                connection.close()  # frees its slot when the close completes
                continue
            return connection
        return None

    async def _connect(self, timeout_s: float) -> Connection:
        loop = asyncio.get_running_loop()
        connection = Connection(self.release)
        try:
            async with asyncio.timeout(timeout_s):
                if self._proxy is not None and self._ssl is not None:
                    await tunnel(self._proxy, self._host, self._port, self._ssl, connection)
                else:
                    await loop.create_connection(lambda: connection, self._host, self._port, ssl=self._ssl)
        except BaseException:
            # The caller frees the slot. asyncio still reports connection_lost for a transport it made and then
            # closed (cancelled mid-connect; uvloop does not): that must not free it a second time.
            connection.detach()
            raise
        return connection

    def _free_slot(self) -> None:
        self._open -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._open += 1  # the slot passes straight to the waiter, who connects
                waiter.set_result(None)
                return

    def _abandon(self, waiter: asyncio.Future[Connection | None]) -> None:
        """A waiter gave up (timeout, cancel): pass on whatever it was handed."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        elif waiter.done() and not waiter.cancelled():
            handed = waiter.result()
            if handed is None:
                self._free_slot()
            else:
                self.release(handed, True)
