"""A gateway behind an egress proxy: the official SDK → the gateway → a CONNECT proxy → an https fake OpenAI."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.tls import make_certificate
from tests.unit.test_transport_proxy import connect_proxy

KEY = "sk-upstream-secret-0123456789"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]


class ProxyThread:
    """The test's CONNECT proxy on its own event loop, for a gateway in another process to use."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, bytes | None]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        _, self.port = asyncio.run_coroutine_threadsafe(connect_proxy(self.seen), self._loop).result(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    server, _, cert = make_certificate(tmp_path_factory.mktemp("tls"))
    return server, cert


@pytest.fixture()
def proxy() -> Iterator[ProxyThread]:
    running = ProxyThread()
    yield running
    running.stop()


def gateway_config(fake: FakeOpenAI, proxy: ProxyThread, no_proxy: list[str]) -> dict[str, Any]:
    deployment = {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake.base_url, "api_key": KEY}
    return {
        "server": {"upstream_proxy": f"http://gw:s3cret@127.0.0.1:{proxy.port}", "no_proxy": no_proxy},
        "model_groups": {"gpt": {"deployments": [deployment]}},
    }


def test_chat_and_stream_reach_an_https_upstream_through_the_proxy(
    tls: tuple[Any, Path], proxy: ProxyThread, start_gateway: GatewayFactory
) -> None:
    server_tls, cert = tls
    with FakeOpenAI(api_key=KEY, tls=server_tls) as fake:
        assert fake.base_url.startswith("https://")
        # The gateway trusts the test's certificate the way an operator would add a private CA.
        gateway = start_gateway(gateway_config(fake, proxy, []), env={"SSL_CERT_FILE": str(cert)})
        client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client", max_retries=0)
        reply = client.chat.completions.create(model="gpt", messages=MESSAGES)  # type: ignore[arg-type]
        streamed = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        assert reply.choices[0].message.content and text == reply.choices[0].message.content
        sent = fake.last_request
        assert sent is not None and sent.headers["authorization"] == f"Bearer {KEY}"  # end to end, inside TLS
        target = f"127.0.0.1:{fake.port}".encode()
        assert proxy.seen and all(seen == (target, b"Basic Z3c6czNjcmV0") for seen in proxy.seen)  # gw:s3cret
        assert "s3cret" not in gateway.output()


def test_no_proxy_hosts_are_reached_directly(
    tls: tuple[Any, Path], proxy: ProxyThread, start_gateway: GatewayFactory
) -> None:
    server_tls, cert = tls
    with FakeOpenAI(api_key=KEY, tls=server_tls) as fake:
        gateway = start_gateway(gateway_config(fake, proxy, ["127.0.0.1"]), env={"SSL_CERT_FILE": str(cert)})
        client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client", max_retries=0)
        assert client.chat.completions.create(model="gpt", messages=MESSAGES).choices  # type: ignore[arg-type]
        assert proxy.seen == []
