"""Reading a request body straight from the ASGI messages: pieces joined, limits enforced, a disconnect refused."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from switchyard.errors import InvalidRequestError, PayloadTooLargeError
from switchyard.server.decode import read_body

Message = dict[str, object]


def request(messages: list[Message], content_length: int | None = None) -> Request:
    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    return Request(scope, receive)  # type: ignore[arg-type]


def read(req: Request, limit: int = 100) -> bytes:
    return asyncio.run(read_body(req, limit))


def test_a_body_in_pieces_is_joined() -> None:
    pieces: list[Message] = [
        {"type": "http.request", "body": b'{"a"', "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b":1}", "more_body": False},
    ]
    assert read(request(pieces)) == b'{"a":1}'
    assert read(request([{"type": "http.request"}])) == b""


def test_limits_hold_declared_or_not() -> None:
    with pytest.raises(PayloadTooLargeError):  # refused from the header, before a byte is read
        read(request([], content_length=101))
    chunk: Message = {"type": "http.request", "body": b"x" * 60, "more_body": True}
    with pytest.raises(PayloadTooLargeError):  # no length given: counted as it arrives
        read(request([chunk, dict(chunk)]))


def test_a_client_that_leaves_mid_body_is_a_clear_error() -> None:
    pieces: list[Message] = [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    with pytest.raises(InvalidRequestError, match="disconnected"):
        read(request(pieces))
