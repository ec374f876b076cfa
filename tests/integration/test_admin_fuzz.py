"""The admin API fuzzed from its own OpenAPI document with schemathesis, against a real gateway process.

Schemathesis reads ``GET /admin/openapi.json``, generates valid and invalid requests for every operation (plus
stateful sequences that follow created ids), and checks that nothing answers 5xx, that every status, content type
and body is the one the document declares, that invalid input is refused, and that no route ignores auth.

Checks left out on purpose: ``positive_data_acceptance`` (a schema-valid body may still name a team that does not
exist, a documented 400) and ``use_after_free`` (deleting a team or user keeps the record with ``deleted_at`` set, so
logs and spend can still refer to it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.gateway_process import SWITCHYARD, GatewayProcess

MASTER = "mk-fuzz-master"
CONFIG = {
    "server": {"master_key": MASTER},
    "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
}
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "ignored_auth",
        "unsupported_method",
    ]
)
SCHEMATHESIS = SWITCHYARD.parent / "schemathesis"


def fuzz(gateway: GatewayProcess, key: str, report: Path, phases: str, examples: int) -> None:
    """One bounded schemathesis run; fails the test with schemathesis's own report of what broke."""
    args = [
        str(SCHEMATHESIS),
        "run",
        f"{gateway.base_url}/admin/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        "--phases",
        phases,
        "--max-examples",
        str(examples),
        "--seed",
        "5",  # reproducible in CI; change it locally to explore
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--max-failures",
        "20",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    run = subprocess.run(args, capture_output=True, text=True, timeout=100, cwd=report.parent)
    assert run.returncode == 0, f"schemathesis found problems:\n{run.stdout[-20_000:]}\n{run.stderr[-4000:]}"
    assert "21 selected" in run.stdout or "selected /" in run.stdout, run.stdout  # the document was loaded
    assert report.exists() and "<testcase" in report.read_text()  # it ran operations, not nothing


@pytest.fixture
def gateway(start_gateway: GatewayFactory) -> GatewayProcess:
    return start_gateway(CONFIG)


def test_openapi_document_covers_every_admin_route(gateway: GatewayProcess) -> None:
    document = httpx.get(f"{gateway.base_url}/admin/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/admin/keys",
        "/admin/keys/{id}",
        "/admin/keys/{id}/rotate",
        "/admin/teams",
        "/admin/users",
        "/admin/logs",
        "/admin/logs/{request_id}",
        "/admin/spend",
        "/admin/openapi.json",
    ):
        assert path in paths, path


def test_admin_api_fuzzed_with_master_key_has_no_5xx(gateway: GatewayProcess, tmp_path: Path) -> None:
    # Some traffic first, so the log and spend routes return real records to validate against their schema.
    for _ in range(3):
        reply = httpx.post(
            f"{gateway.base_url}/v1/chat/completions",
            headers={"authorization": f"Bearer {MASTER}"},
            json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
    fuzz(gateway, MASTER, tmp_path / "master.xml", "examples,coverage,fuzzing,stateful", 25)
    assert gateway.process.poll() is None  # still serving after the fuzzing
    assert "Traceback" not in gateway.output()


def test_admin_api_fuzzed_with_team_admin_key_has_no_5xx(gateway: GatewayProcess, tmp_path: Path) -> None:
    """The same document through a team admin: every refusal (403, 404 outside its team) must be declared too."""
    auth = {"authorization": f"Bearer {MASTER}"}
    team = httpx.post(f"{gateway.base_url}/admin/teams", json={"name": "fuzzers"}, headers=auth, timeout=10)
    assert team.status_code == 201, team.text
    created = httpx.post(
        f"{gateway.base_url}/admin/keys",
        json={"role": "team_admin", "team_id": team.json()["id"]},
        headers=auth,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    fuzz(gateway, created.json()["key"], tmp_path / "team_admin.xml", "coverage,fuzzing", 15)
    assert gateway.process.poll() is None
    assert "Traceback" not in gateway.output()


def test_fuzzer_findings_stay_fixed(gateway: GatewayProcess) -> None:
    """Inputs schemathesis found: each answered 500 before its fix."""
    auth = {"authorization": f"Bearer {MASTER}"}
    for path in ("/admin/keys?limit=²", "/admin/logs?limit=³", "/admin/logs?status=²⁰⁰"):
        # "²".isdigit() is True but int("²") raises: a 500 from the paging and status parsers.
        refused = httpx.get(gateway.base_url + path, headers=auth, timeout=10)
        assert refused.status_code == 400, (path, refused.text)
        assert refused.json()["error"]["param"] in ("limit", "status")
    # Rotate takes an optional body ({"grace_s": ...}); the document must not demand one.
    document = httpx.get(f"{gateway.base_url}/admin/openapi.json", timeout=10).json()
    rotate = document["paths"]["/admin/keys/{id}/rotate"]["post"]
    assert rotate.get("requestBody", {"required": False})["required"] is False
    spend = document["paths"]["/admin/spend"]["get"]["parameters"]
    assert next(p for p in spend if p["name"] == "group_by")["schema"]["enum"] == [
        "key",
        "team",
        "user",
        "model",
        "deployment",
        "day",
    ]
