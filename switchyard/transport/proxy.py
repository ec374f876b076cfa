"""Reaching https upstreams through an HTTP egress proxy: a CONNECT tunnel, then TLS to the upstream inside it.

The proxy sees only the upstream's host and port; the request, its keys and the answer stay end-to-end
encrypted. http:// upstreams (a local Ollama or vLLM) are always reached directly, as are hosts on the
``no_proxy`` list.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from switchyard.transport.connection import Connection

_MAX_HEAD = 16 * 1024  # a proxy's answer to CONNECT is a status line and a few headers


class ProxyRefused(OSError):
    """The proxy answered the CONNECT with something other than 2xx (for example 407: credentials needed)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the egress proxy refused the tunnel: HTTP {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    authorization: str | None  # "Basic ...", from the proxy URL's user:password
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_url(cls, url: str, no_proxy: list[str] | tuple[str, ...] = ()) -> Proxy:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("the egress proxy must be an http:// URL with a host, e.g. http://proxy:3128")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        bypass = tuple(entry.strip().lower().lstrip(".") for entry in no_proxy if entry.strip())
        return cls(parts.hostname, parts.port or 80, authorization, bypass)

    def applies(self, host: str) -> bool:
        """Whether ``host`` is reached through the proxy: not when it, or a domain it is in, is on ``no_proxy``."""
        host = host.lower().rstrip(".")
        for entry in self.no_proxy:
            if entry == "*" or host == entry or host.endswith("." + entry):
                return False
        return True


async def tunnel(proxy: Proxy, host: str, port: int, tls: ssl.SSLContext, connection: Connection) -> None:
    """Connects ``connection`` to ``host:port`` through the proxy, TLS end to end (the caller bounds the time)."""
    loop = asyncio.get_running_loop()
    handshake = _Handshake()
    raw, _ = await loop.create_connection(lambda: handshake, proxy.host, proxy.port)
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if proxy.authorization is not None:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        raw.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await handshake.established
        secure = await loop.start_tls(raw, connection, tls, server_hostname=host)
    except BaseException:
        raw.abort()
        raise
    if secure is None:  # the loop gave up on TLS: nothing to talk over
        raw.abort()
        raise ConnectionError("TLS through the egress proxy failed")
    connection.connection_made(secure)


class _Handshake(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT; after a 2xx the socket belongs to TLS and the pooled connection."""

    def __init__(self) -> None:
        self.established: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._head = b""

    def _fail(self, error: Exception) -> None:
        self.established.set_exception(error)
        self.established.exception()  # retrieved: a caller that timed out must not leave a warning behind

    def data_received(self, data: bytes) -> None:
        if self.established.done():
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > _MAX_HEAD:
                self._fail(ConnectionError("the egress proxy sent an oversized answer"))
            return
        status_line = self._head.split(b"\r\n", 1)[0].split()
        status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
        if 200 <= status < 300 and end + 4 == len(self._head):
            self.established.set_result(None)
        elif 200 <= status < 300:  # bytes after the answer would be taken as the start of the TLS handshake
            self._fail(ConnectionError("the egress proxy sent bytes after its answer"))
        else:
            self._fail(ProxyRefused(status))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.established.done():
            self._fail(ConnectionError("the egress proxy closed the connection"))
