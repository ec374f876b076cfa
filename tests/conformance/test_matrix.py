"""The matrix: one test per cell, ids like ``openai-inbound-gemini-stream``.

Each cell proves its declared outcome (see ``scenarios``): a pass, or the gateway's 400 naming the parameter
the provider cannot honour. Cells with nothing to translate (n/a) are listed in the table with their reason and
have no test.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.cells import run_cell
from tests.conformance.conftest import RESULTS
from tests.conformance.inbound import Inbound, OpenAIInbound
from tests.conformance.inbound_anthropic import AnthropicInbound
from tests.conformance.rows import UPSTREAMS, cells, expectation
from tests.conformance.scenarios import Outcome, cell_id
from tests.gateway_process import GatewayProcess

TESTED = [cell for cell in cells() if expectation(*cell).outcome is not Outcome.NA]


def driver(inbound: str, gateway: GatewayProcess) -> Inbound:
    if inbound == "openai":
        return OpenAIInbound(gateway.base_url)
    return AnthropicInbound(gateway.base_url)


@pytest.mark.parametrize(("inbound", "provider", "column"), TESTED, ids=[cell_id(*cell) for cell in TESTED])
def test_cell(gateway: GatewayProcess, inbound: str, provider: str, column: str) -> None:
    expected = expectation(inbound, provider, column)
    outcome = Outcome.FAIL
    try:
        if expected.outcome is Outcome.PENDING:
            # Not served yet: prove it, so the table cannot claim "pending" for a route that exists.
            response = httpx.post(f"{gateway.base_url}/v1/messages", json={}, timeout=10)
            assert response.status_code == 404, response.text
            outcome = Outcome.PENDING
        else:
            outcome = run_cell(driver(inbound, gateway), provider, column)
        assert outcome is expected.outcome
    finally:
        RESULTS[(inbound, provider, column)] = outcome


def test_no_upstream_credential_reaches_the_gateway_log(gateway: GatewayProcess) -> None:
    """Runs after the cells (pytest keeps file order): the failures above were logged without any upstream key."""
    logged = gateway.output().encode() + b"".join(p.read_bytes() for p in gateway.data_dir.glob("*") if p.is_file())
    for upstream in UPSTREAMS:
        for secret in upstream.secrets:
            assert secret.encode() not in logged, f"a {upstream.name} credential is in the gateway's logs"
