"""The upstream HTTP/1.1 client against raw servers on loopback: framing, encodings, streams, failures, limits, TLS.

Each server below writes exact bytes, so the client is checked against the wire format itself rather than
against another HTTP library's idea of it.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from switchyard import errors
from switchyard.transport import HttpTransport, Timeouts
from tests.fakes.tls import make_certificate

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
T = Timeouts(5, 5)


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int, list[int]]:
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0, ssl=tls)
    return server, server.sockets[0].getsockname()[1], connections


def keep_serving(response: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(response)
            await writer.drain()

    return handler


def run(main: Callable[[], Awaitable[object]]) -> object:
    return asyncio.run(main())  # type: ignore[arg-type]


def test_chunked_body_and_headers_by_any_case() -> None:
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-ID: req-1\r\nSet-Cookie: a=1\r\n"
        b"Set-Cookie: b=2\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )

    async def main() -> None:
        server, port, _ = await serve(keep_serving(response))
        transport = HttpTransport()
        got = await transport.post(f"http://127.0.0.1:{port}/v1/x", b"{}", {}, T)
        assert got.status == 200 and got.body == b"hello world"
        assert got.headers.get("x-request-id") == got.headers["X-Request-Id"] == "req-1"
        assert got.headers.get("set-cookie") == "a=1, b=2" and "X-REQUEST-ID" in got.headers
        assert got.headers.get("absent") is None and got.headers.get("absent", "d") == "d"
        await transport.close()
        server.close()

    run(main)


def test_the_request_on_the_wire() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        server, port, _ = await serve(handler)
        transport = HttpTransport()
        headers = {"Authorization": "Bearer k", "Content-Type": "application/json", "Host": "evil.example"}
        got = await transport.post(f"http://127.0.0.1:{port}/v1/a b?api-version=1", b'{"x":1}', headers, T)
        assert got.status == 204 and got.body == b""
        await transport.close()
        server.close()

    run(main)
    head, body = seen[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/a%20b?api-version=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{lines[1].rsplit(':', 1)[1]}" == lines[1]  # ours, not the caller's
    assert "Authorization: Bearer k" in lines and "Content-Type: application/json" in lines
    assert "Content-Length: 7" in lines and "Host: evil.example" not in lines
    assert body == b'{"x":1}'


def test_body_until_close_and_connection_close_means_a_new_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()

    async def main() -> None:
        server, port, connections = await serve(handler)
        transport = HttpTransport()
        for _ in range(3):
            got = await transport.post(f"http://127.0.0.1:{port}/", b"", {}, T)
            assert got.body == b"all of it"
        assert len(connections) == 3
        await transport.close()
        server.close()

    run(main)


def test_gzip_bodies_are_decoded_whole_and_streamed() -> None:
    packed = gzip.compress(b"data: one\n\ndata: two\n\n")
    response = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(packed), packed)

    async def main() -> None:
        server, port, _ = await serve(keep_serving(response))
        transport = HttpTransport()
        got = await transport.post(f"http://127.0.0.1:{port}/", b"", {}, T)
        assert got.body == b"data: one\n\ndata: two\n\n"
        stream = await transport.open_stream(f"http://127.0.0.1:{port}/", b"", {}, T)
        assert b"".join([chunk async for chunk in stream.chunks()]) == got.body
        await stream.aclose()
        await transport.close()
        server.close()

    run(main)


def test_interim_100_continue_is_skipped() -> None:
    response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok"

    async def main() -> None:
        server, port, _ = await serve(keep_serving(response))
        transport = HttpTransport()
        got = await transport.post(f"http://127.0.0.1:{port}/", b"", {}, T)
        assert (got.status, got.body, dict(got.headers)) == (201, b"ok", {"content-length": "2", "x-a": "1"})
        await transport.close()
        server.close()

    run(main)


def test_stream_chunks_arrive_as_sent_and_an_early_close_drops_the_connection() -> None:
    closed = asyncio.Event

    async def main() -> None:
        gone = closed()
        release = closed()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"7\r\ndata: 1\r\n")
            await writer.drain()
            await release.wait()
            writer.write(b"7\r\ndata: 2\r\n")
            await writer.drain()
            if await reader.read(1) == b"":  # the client hung up mid-stream
                gone.set()

        server, port, _ = await serve(handler)
        transport = HttpTransport()
        stream = await transport.open_stream(f"http://127.0.0.1:{port}/", b"{}", {}, T)
        assert stream.status == 200 and stream.headers.get("content-type") == "text/event-stream"
        chunks = stream.chunks()
        assert await anext(chunks) == b"data: 1"
        release.set()
        assert await anext(chunks) == b"data: 2"
        await stream.aclose()
        await asyncio.wait_for(gone.wait(), 5)
        await transport.close()
        server.close()

    run(main)


def test_dropped_connections_are_typed_errors() -> None:
    async def before_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async def mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)

    async def attempt(handler: Handler) -> errors.SwitchyardError:
        server, port, _ = await serve(handler)
        transport = HttpTransport()
        try:
            await transport.post(f"http://127.0.0.1:{port}/?key=sk-secret", b"{}", {}, T)
        except errors.SwitchyardError as exc:
            return exc
        finally:
            await transport.close()
            server.close()
        raise AssertionError("no error")

    async def main() -> None:
        lost = await attempt(before_answer)
        assert isinstance(lost, errors.UpstreamUnavailableError) and "closed the connection" in lost.message
        cut = await attempt(mid_body)
        assert type(cut) is errors.UpstreamError and "incomplete" in cut.message
        bad = await attempt(garbage)
        assert type(bad) is errors.UpstreamError and "invalid response" in bad.message
        for exc in (lost, cut, bad):
            assert "sk-secret" not in exc.message and "127.0.0.1" in exc.message

    run(main)


def test_a_timed_out_call_does_not_leave_its_connection_in_the_pool() -> None:
    async def main() -> None:
        calls: list[int] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await read_request(reader)
                calls.append(1)
                if len(calls) == 1:
                    await asyncio.sleep(1.0)  # too slow for the first call's timeout
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(str(len(calls))), len(calls)))
                await writer.drain()

        server, port, connections = await serve(handler)
        transport = HttpTransport()
        with pytest.raises(errors.UpstreamTimeoutError):
            await transport.post(f"http://127.0.0.1:{port}/", b"", {}, Timeouts(0.2, 5))
        got = await transport.post(f"http://127.0.0.1:{port}/", b"", {}, T)
        assert got.body == b"2"  # the answer to this call, on a fresh connection, not the slow one's late "1"
        assert len(connections) == 2
        await transport.close()
        server.close()

    run(main)


def test_connections_per_origin_stay_within_the_limit() -> None:
    async def main() -> None:
        active: list[int] = [0, 0]  # now, most

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await read_request(reader)
                active[0] += 1
                active[1] = max(active)
                await asyncio.sleep(0.05)
                active[0] -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

        server, port, connections = await serve(handler)
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        results = await asyncio.gather(*[transport.post(url, b"", {}, T, max_connections=2) for _ in range(8)])
        assert [r.body for r in results] == [b"ok"] * 8
        assert active[1] == 2 and len(connections) == 2
        await transport.close()
        server.close()

    run(main)


def test_a_header_with_a_line_break_is_refused_before_sending() -> None:
    async def main() -> None:
        server, port, connections = await serve(keep_serving(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        transport = HttpTransport()
        with pytest.raises(errors.InvalidRequestError):
            await transport.post(f"http://127.0.0.1:{port}/", b"", {"X-A": "1\r\nX-Injected: yes"}, T)
        assert connections == []
        await transport.close()
        server.close()

    run(main)


def test_tls_upstreams_are_verified(tmp_path: Path) -> None:
    server_tls, trusting, _ = make_certificate(tmp_path)

    async def main() -> None:
        server, port, _ = await serve(keep_serving(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"), server_tls)
        url = f"https://localhost:{port}/v1/x"
        transport = HttpTransport(tls=trusting)
        got = await transport.post(url, b"{}", {}, T)
        assert got.body == b"secret"
        await transport.close()
        untrusting = HttpTransport()  # the system's CAs: a self-signed upstream is refused
        with pytest.raises(errors.UpstreamUnavailableError):
            await untrusting.post(url, b"{}", {}, T)
        await untrusting.close()
        server.close()

    run(main)


def test_a_slow_consumer_pauses_the_upstream_and_still_gets_every_byte() -> None:
    blob = bytes(range(256)) * (4 * 4096)  # 4 MiB, beyond the 1 MiB the client buffers for a stream
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(blob), blob)

    async def main() -> None:
        server, port, _ = await serve(keep_serving(response))
        transport = HttpTransport()
        url = f"http://127.0.0.1:{port}/"
        stream = await transport.open_stream(url, b"", {}, T)
        await asyncio.sleep(0.3)  # let the socket fill our buffer past its high-water mark
        assert b"".join([chunk async for chunk in stream.chunks()]) == blob
        await stream.aclose()
        whole = await transport.open_stream(url, b"", {}, T)  # the same connection, back from the pool
        await asyncio.sleep(0.3)
        assert await whole.read() == blob  # read whole (as error bodies are), after reading was paused
        await whole.aclose()
        await transport.close()
        server.close()

    run(main)


def test_unsendable_headers_and_urls_are_typed_errors_not_crashes() -> None:
    async def main() -> None:
        transport = HttpTransport()
        with pytest.raises(errors.InvalidRequestError):
            await transport.post("http://127.0.0.1:9/", b"", {"X-Name": "caf\u00e9 \u2615"}, T)
        for url in ("http://127.0.0.1:99999/?key=sk-secret", "ftp://example.com/?key=sk-secret"):
            with pytest.raises(errors.UpstreamError) as caught:
                await transport.post(url, b"", {}, T)
            assert "sk-secret" not in caught.value.message
        await transport.close()

    run(main)
