"""Fetching URLs that callers chose (image inputs): size-limited, and never into private networks.

A caller must not be able to make the gateway reach its own network (cloud metadata endpoints, admin
ports, databases). Host names are resolved by a resolver that refuses private, loopback, link-local and
reserved addresses, so a name that resolves somewhere it should not is refused at connect time, not only
at a check that DNS could answer differently a moment later.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from switchyard import errors

_BLOCKED = "the gateway does not fetch URLs that point into private networks"


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicOnlyResolver(AbstractResolver):
    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results or not all(is_public(r["host"]) for r in results):
            raise OSError(_BLOCKED)
        return results

    async def close(self) -> None:
        await self._inner.close()


class GuardedFetcher:
    """GETs caller-supplied URLs with a byte limit; ``allow_private`` is for tests on loopback only."""

    def __init__(self, *, max_bytes: int, timeout_s: float, allow_private: bool = False) -> None:
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            options: dict[str, Any] = {"limit": 32}
            if not self._allow_private:
                options["resolver"] = PublicOnlyResolver()
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(**options))
        return self._session

    async def get(self, url: str) -> tuple[str, bytes]:
        """Returns (content type, body). Raises InvalidRequestError for anything the caller got wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.InvalidRequestError("image URLs must be http(s) or data: URLs", param="messages")
        if not self._allow_private and _is_literal_private(parts.hostname):
            raise errors.InvalidRequestError(_BLOCKED, param="messages")
        try:
            async with self._client().get(url, timeout=self._timeout, allow_redirects=False) as response:
                if response.status != 200:
                    raise errors.InvalidRequestError(
                        f"could not fetch image from {parts.hostname}: HTTP {response.status}", param="messages"
                    )
                if (response.content_length or 0) > self._max_bytes:
                    raise _too_big(self._max_bytes)
                body = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise _too_big(self._max_bytes)
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
                return content_type, bytes(body)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            reason = _BLOCKED if _BLOCKED in str(exc) else "the host did not answer"
            raise errors.InvalidRequestError(
                f"could not fetch image from {parts.hostname}: {reason}", param="messages"
            ) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _is_literal_private(host: str) -> bool:
    try:
        return not is_public(host.strip("[]"))
    except ValueError:
        return host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost")


def _too_big(limit: int) -> errors.InvalidRequestError:
    return errors.InvalidRequestError(f"image is larger than the {limit}-byte limit", param="messages")
