"""The fake Gemini API and the gateway in front of it, one of each for this package's tests (as when they were
one module), plus a local image server for URL images."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.gemini_upstream import FakeGemini
from tests.gateway_process import GatewayProcess
from tests.providers.gemini.support import KEY, PNG, WRONG_KEY, deployment


class _Images(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(scope="package")
def image_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pixel.png"
    server.shutdown()


@pytest.fixture(autouse=True)
def clean(fake: FakeGemini) -> None:
    fake.reset()


@pytest.fixture(scope="package")
def gateway(fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "server": {"images": {"allow_private_networks": True}},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "gem": {"deployments": [deployment(fake)]},
            "gem3": {"deployments": [deployment(fake, "models/gemini-3-pro-preview")]},
            "limited": {"deployments": [deployment(fake)]},
            "capped": {"deployments": [deployment(fake, max_output_tokens=2)]},
            "wrong": {"deployments": [deployment(fake, api_key=WRONG_KEY)]},
            "missing": {"deployments": [deployment(fake, "palm-2")]},
            "embed": {"deployments": [deployment(fake, "gemini-embedding-001")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()
