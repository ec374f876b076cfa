"""Pooled HTTP/1.1 to upstreams: one connection pool per origin, created on first use, kept for the process's life.

Our own small client (connection.py, pool.py) over asyncio and httptools rather than aiohttp's: on the request
path aiohttp's client cost about 0.17 ms of CPU per call, half of the gateway's whole budget, for features an
upstream call does not use (cookies, redirects, proxies, multipart). docs/performance.md has the measurement.
Redirects are not followed: an API answering 3xx is misconfigured, and following it could take the request
somewhere the config never named. Errors never mention the full URL, which may carry a key in its query
string; they name the host.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, overload
from urllib.parse import quote, urlsplit

from switchyard import errors
from switchyard.transport.connection import Connection, ConnectionLost, Exchange, InvalidResponse
from switchyard.transport.pool import Pool
from switchyard.transport.proxy import Proxy, ProxyRefused

USER_AGENT = "switchyard/0.1"
_DEFAULT_HEADERS = f"User-Agent: {USER_AGENT}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_TARGETS = 4096  # parsed URLs kept; upstream URLs come from config, so this is never reached in practice


class Timeouts:
    """Seconds. ``total`` bounds a whole call, or a stream until its response head; ``connect`` bounds
    opening a connection. Built once per deployment, not per request."""

    __slots__ = ("total", "connect")

    def __init__(self, total: float, connect: float) -> None:
        self.total = total
        self.connect = connect


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


Request = bytes | tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port: the pool's key
    host: str  # for error messages
    request_line_host: bytes  # "<path?query> HTTP/1.1\r\nHost: <host[:port]>\r\n"


class UpstreamStream:
    """An open streaming response. Iterate to get bytes as they arrive; always ``aclose``."""

    __slots__ = ("_exchange", "_connection", "_host", "status", "headers")

    def __init__(self, exchange: Exchange, connection: Connection, host: str) -> None:
        self._exchange = exchange
        self._connection = connection
        self._host = host
        self.status = exchange.status
        self.headers: Mapping[str, str] = exchange.headers

    async def read(self) -> bytes:
        """The whole body (for error responses)."""
        try:
            return await self._exchange.wait_body()
        except (ConnectionLost, InvalidResponse) as exc:
            raise _translate(exc, self._host) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        try:
            while (chunk := await exchange.next_chunk()) is not None:
                yield chunk
        except (ConnectionLost, InvalidResponse) as exc:
            raise _translate(exc, self._host) from None

    async def aclose(self) -> None:
        # An unfinished stream drops its connection, so the upstream stops generating (and billing) for a
        # client that is gone; a finished one has already gone back to the pool.
        if not self._exchange.complete:
            self._connection.abort()

    async def __aenter__(self) -> UpstreamStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class HttpTransport:
    def __init__(
        self, *, keepalive_s: float = 30.0, tls: ssl.SSLContext | None = None, proxy: Proxy | None = None
    ) -> None:
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._targets: dict[str, _Target] = {}
        self._keepalive_s = keepalive_s
        self._tls = tls
        self._proxy = proxy  # an egress proxy for https upstreams not on its no_proxy list

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        max_connections: int = 256,
    ) -> UpstreamResponse:
        target = self._target(url)
        request = _request(_head(b"POST ", target, headers, len(body)), body)
        return await self._exchange(target, request, timeouts, max_connections)

    async def get(self, url: str, headers: Mapping[str, str], timeouts: Timeouts) -> UpstreamResponse:
        target = self._target(url)
        return await self._exchange(target, _head(b"GET ", target, headers, None), timeouts, 256)

    async def open_stream(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        max_connections: int = 256,
    ) -> UpstreamStream:
        """Returns at the response head; ``timeouts.total`` bounds only that, the relay times the rest."""
        target = self._target(url)
        request = _request(_head(b"POST ", target, headers, len(body)), body)
        return await self._exchange(target, request, timeouts, max_connections, streaming=True)

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    # A connection that closes before the answer is not retried here, even a reused one that may just have
    # timed out: the upstream may have taken the request, and a second send could bill it twice. The
    # executor's retry policy decides (the error is retryable), as it does for any dropped call.

    @overload
    async def _exchange(
        self, target: _Target, request: Request, timeouts: Timeouts, limit: int
    ) -> UpstreamResponse: ...
    @overload
    async def _exchange(
        self, target: _Target, request: Request, timeouts: Timeouts, limit: int, streaming: Literal[True]
    ) -> UpstreamStream: ...
    async def _exchange(
        self, target: _Target, request: Request, timeouts: Timeouts, limit: int, streaming: bool = False
    ) -> UpstreamResponse | UpstreamStream:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeouts.total
        pool = self._pool(target, limit)
        # An idle pooled connection is the usual case: no await, and no timer until the request is out.
        connection = pool.reuse() or await _acquire(pool, target, timeouts, deadline)
        exchange = connection.send(request, streaming)
        # A bare timer rather than asyncio.timeout: cheaper per call, and it fails only this exchange.
        timer = loop.call_at(deadline, exchange.expire)
        try:
            if streaming:
                await exchange.wait_head()
                return UpstreamStream(exchange, connection, target.host)
            body = await exchange.wait_body()
        except TimeoutError:
            raise _timed_out(target.host) from None
        except (ConnectionLost, InvalidResponse) as exc:
            raise _translate(exc, target.host) from None
        except BaseException:
            if not exchange.complete:  # complete: the connection is back in the pool, maybe someone else's
                connection.abort()  # cancelled mid-response: the connection's state is unknown
            raise
        finally:
            timer.cancel()
        return UpstreamResponse(exchange.status, exchange.headers, body)

    def _pool(self, target: _Target, max_connections: int) -> Pool:
        pool = self._pools.get(target.origin)
        if pool is None or pool.closed:
            scheme, host, port = target.origin
            tls, proxy = None, None
            if scheme == "https":
                tls = self._tls = self._tls or _default_tls()
                proxy = self._proxy if self._proxy is not None and self._proxy.applies(host) else None
            pool = self._pools[target.origin] = Pool(host, port, tls, max_connections, self._keepalive_s, proxy)
        return pool

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse(url)
            if len(self._targets) < _MAX_TARGETS:
                self._targets[url] = target
        return target


async def _acquire(pool: Pool, target: _Target, timeouts: Timeouts, deadline: float) -> Connection:
    try:
        async with asyncio.timeout_at(deadline):  # waiting for a free slot counts against the call's time
            return await pool.acquire(timeouts.connect)
    except TimeoutError:
        raise _timed_out(target.host) from None
    except ProxyRefused as exc:  # its status only: the proxy's own error page is not ours to pass on
        raise errors.UpstreamUnavailableError(
            f"the egress proxy refused the tunnel to {target.host}: HTTP {exc.status}"
        ) from None
    except OSError:  # refused, unreachable, DNS, TLS handshake
        raise errors.UpstreamUnavailableError(f"could not connect to upstream {target.host}") from None


def _request(head: bytes, body: bytes) -> Request:
    # One write for the usual small body; a large one is not copied just to be joined to its head.
    return head + body if len(body) < 65536 else (head, body)


def _parse(url: str) -> _Target:
    try:
        return _parsed(url)
    except (ValueError, UnicodeError):  # a bad port, or a host name IDNA cannot encode
        pass
    # The URL itself may carry a key: name neither it nor its parts.
    raise errors.UpstreamError("the upstream URL is not a valid http(s) URL; check the deployment's api_base")


def _parsed(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(url)
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    port = parts.port or _DEFAULT_PORTS[scheme]
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    # Percent-encode whatever a URL may not carry raw (spaces, non-ASCII), keep everything already encoded.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    line = f"{path} HTTP/1.1\r\nHost: {host_header}\r\n".encode("ascii")
    return _Target((scheme, host, port), host, line)


def _head(method: bytes, target: _Target, headers: Mapping[str, str], length: int | None) -> bytes:
    lines = [_DEFAULT_HEADERS] if not headers else _merged(headers)
    if length is not None:
        lines.append(f"Content-Length: {length}\r\n\r\n")
    else:
        lines.append("\r\n")
    try:
        return method + target.request_line_host + "".join(lines).encode("latin-1")
    except UnicodeEncodeError:  # HTTP/1.1 header values are bytes; a value beyond latin-1 cannot be sent as is
        raise errors.InvalidRequestError("a header for the upstream has characters HTTP headers cannot carry") from None


def _merged(headers: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    given: set[str] = set()
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            # A line break would let a value (from config, or a caller's forwarded header) inject another header.
            raise errors.InvalidRequestError(f"header {name!r} cannot be sent upstream: it contains a line break")
        lower = name.lower()
        if lower in ("host", "content-length", "transfer-encoding", "connection"):
            continue  # the transport owns framing
        given.add(lower)
        lines.append(f"{name}: {value}\r\n")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}\r\n")
    if "accept" not in given:
        lines.append("Accept: */*\r\n")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    return lines


def _default_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def _timed_out(host: str) -> errors.UpstreamTimeoutError:
    return errors.UpstreamTimeoutError(f"upstream {host} did not answer in time")


def _translate(exc: BaseException, host: str) -> errors.UpstreamError:
    if isinstance(exc, ConnectionLost):
        if exc.started:
            return errors.UpstreamError(f"upstream {host} sent an incomplete response")
        return errors.UpstreamUnavailableError(f"upstream {host} closed the connection")
    if isinstance(exc, InvalidResponse):
        return errors.UpstreamError(f"upstream {host} sent an invalid response")
    return errors.UpstreamError(f"upstream {host} failed: {type(exc).__name__}")
