"""https upstreams through an HTTP egress proxy: a CONNECT tunnel on loopback, TLS end to end to the upstream."""

from __future__ import annotations

import asyncio
import base64
import ssl

import pytest

from switchyard import errors
from switchyard.transport import HttpTransport, Timeouts
from switchyard.transport.proxy import Proxy
from tests.fakes.tls import make_certificate
from tests.unit.test_transport_wire import keep_serving, run, serve

T = Timeouts(5, 5)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server, client, _ = make_certificate(tmp_path_factory.mktemp("tls"))
    return server, client


async def connect_proxy(
    seen: list[tuple[bytes, bytes | None]], refuse: bytes | None = None
) -> tuple[asyncio.Server, int]:
    """A CONNECT proxy: records each (target, Proxy-Authorization), then pipes bytes both ways."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        method, target = lines[0].split()[:2]
        auth = next((line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(b"proxy-auth")), None)
        seen.append((target, auth))
        if refuse is not None or method != b"CONNECT":
            writer.write(refuse or b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, _, port = target.decode().rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.replace("localhost", "127.0.0.1"), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_https_goes_through_the_tunnel_with_credentials_and_keeps_it_alive(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_tls, trusting = certificate
    seen: list[tuple[bytes, bytes | None]] = []
    ports: list[int] = []

    async def main() -> None:
        upstream, port, connections = await serve(keep_serving(OK), server_tls)
        ports.append(port)
        proxy_server, proxy_port = await connect_proxy(seen)
        proxy = Proxy.from_url(f"http://user:p%40ss@127.0.0.1:{proxy_port}")
        transport = HttpTransport(tls=trusting, proxy=proxy)
        for _ in range(3):
            got = await transport.post(f"https://localhost:{port}/v1/x", b"{}", {}, T)
            assert got.status == 200 and got.body == b"secret"
        assert len(connections) == 1  # one tunnel, reused
        await transport.close()
        proxy_server.close()
        upstream.close()

    run(main)
    assert seen == [(f"localhost:{ports[0]}".encode(), b"Basic " + base64.b64encode(b"user:p@ss"))]  # %40 decoded


def test_a_refusing_proxy_is_a_typed_error_without_its_credentials(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    _, trusting = certificate
    seen: list[tuple[bytes, bytes | None]] = []

    async def main() -> None:
        refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
        proxy_server, proxy_port = await connect_proxy(seen, refuse=refusal)
        transport = HttpTransport(tls=trusting, proxy=Proxy.from_url(f"http://user:hunter2@127.0.0.1:{proxy_port}"))
        with pytest.raises(errors.UpstreamUnavailableError) as caught:
            await transport.post("https://localhost:9/v1/x?key=sk-secret", b"{}", {}, T)
        message = caught.value.message
        assert "407" in message and "hunter2" not in message and "sk-secret" not in message
        await transport.close()
        proxy_server.close()

    run(main)
    assert len(seen) == 1


def test_no_proxy_hosts_and_http_upstreams_go_direct(certificate: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_tls, trusting = certificate
    seen: list[tuple[bytes, bytes | None]] = []

    async def main() -> None:
        secure, secure_port, _ = await serve(keep_serving(OK), server_tls)
        plain, plain_port, _ = await serve(keep_serving(OK))
        proxy_server, proxy_port = await connect_proxy(seen)
        proxy = Proxy.from_url(f"http://127.0.0.1:{proxy_port}", no_proxy=[".localhost", "internal.example"])
        transport = HttpTransport(tls=trusting, proxy=proxy)
        assert (await transport.post(f"https://localhost:{secure_port}/", b"", {}, T)).body == b"secret"
        assert (await transport.post(f"http://127.0.0.1:{plain_port}/", b"", {}, T)).body == b"secret"
        await transport.close()
        for server in (proxy_server, secure, plain):
            server.close()

    run(main)
    assert seen == []


def test_no_proxy_matching() -> None:
    proxy = Proxy.from_url("http://proxy:3128", no_proxy=["example.com", ".corp", " "])
    assert (proxy.host, proxy.port, proxy.authorization) == ("proxy", 3128, None)
    assert not proxy.applies("example.com") and not proxy.applies("api.EXAMPLE.com.")
    assert not proxy.applies("llm.corp") and proxy.applies("notexample.com") and proxy.applies("api.openai.com")
    assert not Proxy.from_url("http://proxy", no_proxy=["*"]).applies("api.openai.com")
    with pytest.raises(ValueError):
        Proxy.from_url("https://proxy:3128")
