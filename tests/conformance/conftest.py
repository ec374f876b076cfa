"""One gateway for the whole matrix, in front of every provider's fake; the table of outcomes written at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance import report
from tests.conformance.rows import ROOT, UPSTREAMS, inbound_served
from tests.conformance.scenarios import INBOUNDS, JSON, Outcome
from tests.gateway_process import GatewayProcess

ARTIFACT = ROOT / "test-artifacts" / "conformance.md"
# (inbound, provider, column) -> what the run showed; filled by the matrix test.
RESULTS: dict[tuple[str, str, str], Outcome] = {}


def gateway_config() -> JSON:
    groups: JSON = {}
    served = tuple(inbound for inbound in INBOUNDS if inbound_served(inbound))
    for upstream in UPSTREAMS:
        groups |= upstream.groups(served)
    # No retries and no breaker: an upstream's error reaches the client as the gateway maps it, once.
    return {"router": {"num_retries": 0, "breaker": {"enabled": False}}, "model_groups": groups}


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    started = []
    try:
        for upstream in UPSTREAMS:
            upstream.start()
            started.append(upstream)
        process = GatewayProcess(gateway_config(), tmp_path_factory.mktemp("conformance"))
        try:
            yield process
        finally:
            process.stop()
    finally:
        for upstream in started:
            upstream.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not RESULTS:
        return
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(report.document(RESULTS))
