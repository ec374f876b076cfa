"""Raw HTTP helpers (aiohttp) for checks the SDK hides: framing, headers, broken connections."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

AUTH = {"Authorization": "Bearer sk-test-123"}


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    error: BaseException | None = None  # set when the connection broke mid-body
    elapsed: float = 0.0
    gaps: list[float] = field(default_factory=list)  # seconds between received pieces

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[str]:
        """SSE events as their ``data:`` payloads; asserts the documented framing on the way."""
        text = self.body.decode()
        assert text.endswith("\n\n") or self.error is not None, text[-80:]
        events = [e for e in text.split("\n\n") if e]
        assert all(e.startswith("data: ") and "\n" not in e for e in events), events
        return [e.removeprefix("data: ") for e in events]


async def _request(url: str, method: str, body: Any, data: bytes | None, headers: dict[str, str] | None) -> RawReply:
    loop = asyncio.get_running_loop()
    start = last = loop.time()
    gaps: list[float] = []
    pieces: list[bytes] = []
    error: BaseException | None = None
    async with aiohttp.ClientSession() as session:
        kwargs: dict[str, Any] = {"json": body} if data is None else {"data": data}
        async with session.request(method, url, headers=AUTH if headers is None else headers, **kwargs) as resp:
            try:
                async for piece in resp.content.iter_any():
                    now = loop.time()
                    gaps.append(now - last)
                    last = now
                    pieces.append(piece)
            except aiohttp.ClientPayloadError as exc:
                error = exc
            headers_seen = {k.lower(): v for k, v in resp.headers.items()}
            return RawReply(resp.status, headers_seen, b"".join(pieces), error, loop.time() - start, gaps)


def request(
    url: str,
    method: str = "POST",
    body: Any = None,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> RawReply:
    return asyncio.run(_request(url, method, body, data, headers))


async def _read_first_event_then_close(url: str, body: Any) -> bytes:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=AUTH) as resp:
            first = await resp.content.readuntil(b"\n\n")
            resp.close()  # drop the connection mid-stream, like a client going away
            return first


def read_first_event_then_close(url: str, body: Any) -> bytes:
    return asyncio.run(_read_first_event_then_close(url, body))
