"""The transport pools connections per upstream origin and reuses them (keep-alive)."""

from __future__ import annotations

import asyncio

import pytest

from switchyard import errors
from switchyard.transport import HttpTransport, Timeouts

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


async def counting_server() -> tuple[asyncio.Server, list[int]]:
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, connections


def test_sequential_requests_share_one_connection() -> None:
    async def run() -> tuple[int, int]:
        server, connections = await counting_server()
        port = server.sockets[0].getsockname()[1]
        transport = HttpTransport()
        timeouts = Timeouts(5, 5)
        for _ in range(25):
            response = await transport.post(f"http://127.0.0.1:{port}/v1/x", b"{}", {}, timeouts)
            assert response.status == 200 and response.body == b"{}"
        await transport.close()
        server.close()
        await server.wait_closed()
        return len(connections), 25

    connections, requests = asyncio.run(run())
    assert connections == 1 < requests


def test_refused_connection_is_a_typed_error_naming_only_the_host() -> None:
    async def run() -> None:
        transport = HttpTransport()
        try:
            await transport.post("http://127.0.0.1:1/v1/x?key=sk-secret", b"{}", {}, Timeouts(2, 2))
        finally:
            await transport.close()

    with pytest.raises(errors.UpstreamUnavailableError) as caught:
        asyncio.run(run())
    assert "sk-secret" not in caught.value.message and "127.0.0.1" in caught.value.message
