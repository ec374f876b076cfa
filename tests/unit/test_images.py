"""Image inputs: data URLs decoded with a size limit; http URLs fetched only from public addresses."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from switchyard import errors
from switchyard.providers._images import load_image, parse_data_url
from switchyard.transport.guarded import GuardedFetcher, is_public
from switchyard.transport.public_resolver import PublicOnlyResolver

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = PNG * (1000 if self.path == "/big.png" else 1)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def fetch(url: str, *, allow_private: bool, max_bytes: int = 10_000) -> bytes:
    async def run() -> bytes:
        fetcher = GuardedFetcher(max_bytes=max_bytes, timeout_s=5, allow_private=allow_private)
        try:
            return (await load_image(url, fetcher, max_bytes)).data
        finally:
            await fetcher.close()

    return asyncio.run(run())


def test_data_urls_decode_and_are_checked() -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    image = parse_data_url(url, 10_000)
    assert image is not None and image.media_type == "image/png" and image.data == PNG
    assert parse_data_url("https://example.com/x.png", 10_000) is None
    for bad in ("data:image/png;base64,@@@", "data:image/png;base64", "data:text/html;base64,PGI+"):
        with pytest.raises(errors.InvalidRequestError):
            parse_data_url(bad, 10_000)
    with pytest.raises(errors.InvalidRequestError, match="limit"):
        parse_data_url(url, 10)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/x.png",
        "http://localhost/x.png",
        "http://10.0.0.5/x.png",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "file:///etc/passwd",
        "ftp://example.com/x.png",
    ],
)
def test_private_and_non_http_urls_are_refused_without_a_request(url: str) -> None:
    with pytest.raises(errors.InvalidRequestError) as caught:
        fetch(url, allow_private=False)
    assert caught.value.status == 400


def test_names_resolving_to_private_addresses_are_refused_at_connect_time() -> None:
    # "localhost." (with the trailing dot) is not caught by the literal check: the resolver must refuse it.
    async def run() -> None:
        await PublicOnlyResolver().resolve("localhost.", 80, socket.AF_INET)

    with pytest.raises(OSError):
        asyncio.run(run())
    assert is_public("8.8.8.8") and not is_public("192.168.1.1") and not is_public("::1")


def test_fetch_with_size_limit(image_server: str) -> None:
    assert fetch(f"{image_server}/ok.png", allow_private=True) == PNG
    with pytest.raises(errors.InvalidRequestError, match="limit"):
        fetch(f"{image_server}/big.png", allow_private=True)
    with pytest.raises(errors.InvalidRequestError):
        fetch(f"{image_server}/ok.png", allow_private=False)  # the default: loopback is never fetched
