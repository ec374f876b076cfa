"""Fetching URLs that callers chose (image inputs): size-limited, and never into private networks.

A caller must not be able to make the gateway reach its own network (cloud metadata endpoints, admin
ports, databases). Host names are resolved by a resolver that refuses private, loopback, link-local and
reserved addresses, so a name that resolves somewhere it should not is refused at connect time, not only
at a check that DNS could answer differently a moment later.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from switchyard import errors

if TYPE_CHECKING:  # aiohttp is imported on the first image fetch, not at start-up (it costs ~0.1 s and ~5 MB)
    import aiohttp

BLOCKED = "the gateway does not fetch URLs that point into private networks"


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class GuardedFetcher:
    """GETs caller-supplied URLs with a byte limit; ``allow_private`` is for tests on loopback only."""

    def __init__(self, *, max_bytes: int, timeout_s: float, allow_private: bool = False) -> None:
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            options: dict[str, Any] = {"limit": 32}
            if not self._allow_private:
                from switchyard.transport.public_resolver import PublicOnlyResolver

                options["resolver"] = PublicOnlyResolver()
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(**options))
        return self._session

    async def get(self, url: str) -> tuple[str, bytes]:
        """Returns (content type, body). Raises InvalidRequestError for anything the caller got wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.InvalidRequestError("image URLs must be http(s) or data: URLs", param="messages")
        if not self._allow_private and _is_literal_private(parts.hostname):
            raise errors.InvalidRequestError(BLOCKED, param="messages")
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        try:
            async with self._client().get(url, timeout=timeout, allow_redirects=False) as response:
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
            reason = BLOCKED if BLOCKED in str(exc) else "the host did not answer"
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
