"""One keep-alive HTTP/1.1 connection to an upstream, and the response it is reading.

The request goes out in one write; httptools (the parser uvicorn uses) reads the response. A response is
either read whole (``Exchange.body``) or handed on chunk by chunk as it arrives (``Exchange.next_chunk``),
with reading paused while the consumer is behind.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar, cast, overload

import httptools

T = TypeVar("T")

# A streaming consumer this far behind pauses the socket, so a slow client cannot make us buffer an upstream.
_HIGH_WATER = 1 << 20
_LOW_WATER = 1 << 16


class Headers(Mapping[str, str]):
    """Response headers by lower-cased name; lookups ignore case. Repeated headers are joined with ", "."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str | T) -> str | T: ...
    def get(self, key: str, /, default: object = None) -> object:
        return self._items.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class ConnectionLost(Exception):
    """The connection closed before the response was complete. ``started``: some of the response had arrived."""

    def __init__(self, started: bool) -> None:
        super().__init__("connection closed before the response was complete")
        self.started = started


class InvalidResponse(Exception):
    """The upstream's bytes are not HTTP/1.1 we can parse, or the body cannot be decoded."""


class Exchange:
    """One response being read: its head, its body (whole or as chunks), or the error that ended it."""

    __slots__ = (
        "status", "headers", "complete", "error", "started", "_streaming", "_head", "_done",
        "_chunks", "_buffered", "_waiter", "_decoder", "_connection", "_raw_headers", "eof_body",
    )  # fmt: skip

    def __init__(self, connection: Connection, streaming: bool) -> None:
        loop = asyncio.get_running_loop()
        self.status = 0
        self.headers: Headers = Headers({})
        self.complete = False
        self.error: BaseException | None = None
        self.started = False  # any byte of the response arrived
        self._streaming = streaming
        self._head: asyncio.Future[None] | None = loop.create_future() if streaming else None
        self._done: asyncio.Future[None] | None = None if streaming else loop.create_future()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: zlib._Decompress | None = None
        self._connection = connection
        self._raw_headers: dict[str, str] = {}
        self.eof_body = False  # neither a length nor chunked: the body ends when the connection does

    # --- what the connection reports -------------------------------------------------------------------------

    def header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        known = self._raw_headers.get(key)
        self._raw_headers[key] = text if known is None else f"{known}, {text}"

    def head_complete(self, status: int) -> None:
        raw = self._raw_headers
        if status < 200:  # an interim response (100 Continue): its headers are not the answer's
            self._raw_headers = {}
            return
        self.status = status
        self.headers = Headers(raw)
        chunked = "chunked" in raw.get("transfer-encoding", "").lower()
        self.eof_body = "content-length" not in raw and not chunked and status not in (204, 304)
        encoding = raw.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def body(self, data: bytes) -> None:
        self._chunks.append(data)
        if self._streaming:
            self._buffered += len(data)
            if self._buffered > _HIGH_WATER:
                self._connection.pause()
            self._wake()

    def finish(self) -> None:
        self.complete = True
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        self._wake()

    def expire(self) -> None:
        """The call's time is up: fail the exchange and drop the connection (its answer may still come)."""
        if self.complete:  # the answer came in the same loop turn: the connection is already someone else's
            return
        self.fail(TimeoutError())
        self._connection.abort()

    def fail(self, error: BaseException) -> None:
        if self.complete or self.error is not None:
            return
        self.error = error
        for future in (self._head, self._done):
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: an abandoned exchange must not log "never retrieved"
        self._wake()

    def lost(self, exc: BaseException | None) -> None:
        if self.eof_body and exc is None and self.status:
            self.finish()
        else:
            self.fail(ConnectionLost(self.started))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- what the caller awaits ------------------------------------------------------------------------------

    async def wait_head(self) -> None:
        assert self._head is not None
        await self._head

    async def wait_body(self) -> bytes:
        """The whole body, decoded (plain exchanges)."""
        if self._done is not None:
            await self._done
        else:  # a stream read whole (an error body): stop pausing for a consumer that now takes everything
            self._streaming = False
            self._connection.resume()
            while not self.complete:
                await self._wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        return self._decode(data, final=True)

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body as it arrived (decoded), or None at its end."""
        while True:
            if self._chunks:
                data = self._chunks.popleft()
                self._buffered -= len(data)
                if self._buffered < _LOW_WATER:
                    self._connection.resume()
                decoded = self._decode(data, final=False)
                if decoded:
                    return decoded
                continue
            if self.complete:
                tail = self._decode(b"", final=True)
                return tail or None
            await self._wait()

    async def _wait(self) -> None:
        if self.error is not None:
            raise self.error
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None
        if self.error is not None and not self._chunks:
            raise self.error

    def _decode(self, data: bytes, final: bool) -> bytes:
        decoder = self._decoder
        if decoder is None:
            return data
        try:
            out = decoder.decompress(data)
            return out + decoder.flush() if final else out
        except zlib.error:
            raise InvalidResponse("the response body does not match its content-encoding") from None


class Connection(asyncio.Protocol):
    """A pooled connection. It calls ``release(self, True)`` when an exchange is over and it can serve another,
    and ``release(self, False)`` exactly once, when it has closed."""

    __slots__ = (
        "transport", "closed", "idle_since", "_parser", "_exchange", "_release", "_paused", "_reusable", "_stray",
    )  # fmt: skip

    def __init__(self, release: Callable[[Connection, bool], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._exchange: Exchange | None = None
        self._release = release
        self._paused = False
        self._reusable = False  # an answer completed in the read being parsed; released once the read is done
        self._stray = False  # a response began that no request asked for

    def send(self, data: bytes | tuple[bytes, bytes], streaming: bool) -> Exchange:
        exchange = self._exchange = Exchange(self, streaming)
        assert self.transport is not None
        if isinstance(data, bytes):
            self.transport.write(data)
        else:
            self.transport.writelines(data)
        return exchange

    def detach(self) -> None:
        """The pool gave up on this connection while opening it (and freed its slot): report nothing more."""
        self._release = _ignore

    def abort(self) -> None:
        """Drop the connection mid-exchange: the upstream sees the close and stops generating."""
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    # --- asyncio.Protocol ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        exchange = self._exchange
        if exchange is None:  # bytes nobody asked for: this connection can no longer be trusted
            self.close()
            return
        exchange.started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            exchange.fail(InvalidResponse(f"invalid HTTP response: {type(exc).__name__}"))
            self._exchange = None
            self._reusable = False
            self.abort()
            return
        if self._reusable:
            # Released only now, not when the answer completed: bytes after it in the same read are a response
            # nobody asked for, which the next request would take as the start of its own.
            self._reusable = False
            if self._stray:
                self.close()
            else:
                self.resume()  # a stream's consumer may have paused reading just as its body completed
                self._release(self, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            exchange.lost(exc)
        self._release(self, False)

    # --- httptools callbacks ---------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._exchange is None:
            self._stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._exchange is not None:
            self._exchange.header(name, value)

    def on_headers_complete(self) -> None:
        if self._exchange is not None:
            self._exchange.head_complete(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        if self._exchange is not None:
            self._exchange.body(body)

    def on_message_complete(self) -> None:
        exchange = self._exchange
        if exchange is None or exchange.status < 200:
            return  # an interim 1xx response: the real one follows on the same connection
        self._exchange = None
        exchange.finish()
        if self._parser.should_keep_alive() and not exchange.eof_body:
            self.idle_since = time.monotonic()
            self._reusable = True
        else:
            self.close()  # the slot is freed when the close completes (connection_lost)


def _ignore(connection: Connection, reusable: bool) -> None:
    return None
