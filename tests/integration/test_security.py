"""Security review regressions against a real gateway: who may call what, secrets that must never leak,
key lifecycle at its edges, and upstream selection that callers cannot steer (the dashboard's escaping:
test_dashboard_security.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from switchyard.auth.principal import refusal
from switchyard.storage.keys_protocol import KeyRecord
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import GatewayProcess

MASTER = "mk-security-master-7f3a9c"
PROVIDER_SECRET = "sk-upstream-provider-secret-5e1d"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=PROVIDER_SECRET) as upstream:
        yield upstream


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        self.received.append(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[str, list[bytes]]]:
    """An OTLP/HTTP endpoint that keeps every export body, to search the spans for secrets."""
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", _Collector.received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def gateway(
    fake: FakeOpenAI, collector: tuple[str, list[bytes]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = {
        "observability": {"tracing": True, "otlp_endpoint": collector[0]},
        "server": {
            "master_key": MASTER,
            "log_format": "json",
            "log_level": "debug",
            "log_bodies": True,
            "access_log": True,
        },
        "router": {"num_retries": 0},
        "model_groups": {
            "demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]},
            "gpt": {
                "deployments": [
                    {
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "api_base": fake.base_url,
                        "api_key": PROVIDER_SECRET,
                    }
                ]
            },
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("security"))
    yield process
    process.stop()


def call(gateway: GatewayProcess, method: str, path: str, key: str | None = MASTER, **kw: Any) -> httpx.Response:
    headers = {**kw.pop("headers", {}), **({"authorization": f"Bearer {key}"} if key else {})}
    return httpx.request(method, gateway.base_url + path, headers=headers, timeout=10, **kw)


def chat(gateway: GatewayProcess, key: str, model: str = "demo", **body: Any) -> httpx.Response:
    return call(gateway, "POST", "/v1/chat/completions", key, json={"model": model, "messages": HI, **body})


def new_team(gateway: GatewayProcess, name: str) -> str:
    created = call(gateway, "POST", "/admin/teams", json={"name": name})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def new_key(gateway: GatewayProcess, by: str = MASTER, **fields: Any) -> dict[str, Any]:
    created = call(gateway, "POST", "/admin/keys", by, json=fields)
    assert created.status_code == 201, created.text
    return dict(created.json())


@pytest.fixture(scope="module")
def world(gateway: GatewayProcess) -> dict[str, Any]:
    """Two teams, each with a team admin and a user key that has served one request; a viewer; an admin key."""
    teams = {name: new_team(gateway, name) for name in ("red", "blue")}
    made: dict[str, Any] = {"teams": teams, "viewer": new_key(gateway, role="viewer")["key"]}
    for name, team in teams.items():
        made[f"{name}_admin"] = new_key(gateway, role="team_admin", team_id=team)["key"]
        user = new_key(gateway, role="user", team_id=team)
        made[f"{name}_user"], made[f"{name}_user_id"] = user["key"], user["id"]
        served = chat(gateway, user["key"])
        assert served.status_code == 200, served.text
        made[f"{name}_request"] = served.headers["x-request-id"]
    made["red_team_admin_key"] = new_key(gateway, role="admin", team_id=teams["red"])
    return made


ADMIN_READS = [
    "/admin/keys",
    "/admin/teams",
    "/admin/users",
    "/admin/logs",
    "/admin/spend?group_by=model",
    "/admin/status",
    "/admin/summary",
    "/metrics",
]


def test_every_admin_route_metrics_and_feedback_need_a_key(gateway: GatewayProcess, world: dict[str, Any]) -> None:
    for path in ADMIN_READS:
        for key in (None, "wrong-key", MASTER + "x", MASTER[:-1], "sk-sy-not-a-real-key"):
            refused = call(gateway, "GET", path, key)
            assert refused.status_code == 401, (path, key, refused.text)
            assert refused.json()["error"]["type"] == "authentication_error"
    feedback = {"request_id": world["red_request"], "score": 1.0}
    assert call(gateway, "POST", "/v1/feedback", None, json=feedback).status_code == 401
    assert call(gateway, "POST", "/v1/route", None, json={"model": "demo", "messages": HI}).status_code == 401
    assert call(gateway, "POST", "/v1/feedback", world["red_user"], json=feedback).status_code == 201


def test_a_user_key_reaches_no_admin_data(gateway: GatewayProcess, world: dict[str, Any]) -> None:
    for path in [*ADMIN_READS, f"/admin/logs/{world['red_request']}"]:
        assert call(gateway, "GET", path, world["red_user"]).status_code == 403, path
    assert call(gateway, "POST", "/admin/keys", world["red_user"], json={}).status_code == 403


def test_a_viewer_reads_but_cannot_mutate(gateway: GatewayProcess, world: dict[str, Any]) -> None:
    viewer = world["viewer"]
    assert call(gateway, "GET", "/admin/logs", viewer).status_code == 200
    assert call(gateway, "GET", "/admin/spend?group_by=team", viewer).status_code == 200
    target = world["red_user_id"]
    for method, path, body in [
        ("POST", "/admin/keys", {"role": "admin"}),
        ("PATCH", f"/admin/keys/{target}", {"rpm": 1}),
        ("POST", f"/admin/keys/{target}/rotate", None),
        ("DELETE", f"/admin/keys/{target}", None),
        ("POST", "/admin/teams", {"name": "viewer-made"}),
        ("POST", "/admin/users", {"name": "viewer-made"}),
        ("GET", "/admin/keys", None),  # key listings are for managers, not readers
    ]:
        refused = call(gateway, method, path, viewer, json=body)
        assert refused.status_code == 403, (method, path, refused.text)
    assert chat(gateway, world["red_user"]).status_code == 200  # the key the viewer tried to revoke still works


def test_a_team_admin_sees_only_its_own_team(gateway: GatewayProcess, world: dict[str, Any]) -> None:
    red, blue = world["red_admin"], world["teams"]["blue"]
    logs = call(gateway, "GET", "/admin/logs?limit=200", red).json()["data"]
    assert logs and {record.get("team_id") for record in logs} == {world["teams"]["red"]}
    assert call(gateway, "GET", f"/admin/logs?team_id={blue}", red).status_code == 404
    assert call(gateway, "GET", f"/admin/logs/{world['blue_request']}", red).status_code == 404
    assert call(gateway, "GET", f"/admin/logs/{world['red_request']}", red).status_code == 200
    assert call(gateway, "GET", f"/admin/keys?team_id={blue}", red).status_code == 403
    assert call(gateway, "GET", f"/admin/keys/{world['blue_user_id']}", red).status_code == 404
    assert call(gateway, "PATCH", f"/admin/keys/{world['blue_user_id']}", red, json={"rpm": 1}).status_code == 404
    assert call(gateway, "DELETE", f"/admin/keys/{world['blue_user_id']}", red).status_code == 404
    keys = call(gateway, "GET", "/admin/keys?limit=200", red).json()["data"]
    assert keys and {key["team_id"] for key in keys} == {world["teams"]["red"]}
    spend = call(gateway, "GET", "/admin/spend?group_by=team", red).json()["data"]
    assert [row["group"] for row in spend] == [world["teams"]["red"]]
    assert call(gateway, "GET", "/admin/status", red).status_code == 403
    assert call(gateway, "GET", "/metrics", red).status_code == 403


def test_a_team_admin_cannot_take_over_an_admin_key_in_its_team(gateway: GatewayProcess, world: dict[str, Any]) -> None:
    """Regression: rotate handed a team admin a fresh secret for an admin-role key of its team."""
    admin_key = world["red_team_admin_key"]
    rotated = call(gateway, "POST", f"/admin/keys/{admin_key['id']}/rotate", world["red_admin"])
    assert rotated.status_code == 403, rotated.text
    assert "key" not in rotated.json()
    assert call(gateway, "DELETE", f"/admin/keys/{admin_key['id']}", world["red_admin"]).status_code == 403
    promoted = call(gateway, "PATCH", f"/admin/keys/{admin_key['id']}", world["red_admin"], json={"rpm": 5})
    assert promoted.status_code == 403
    assert call(gateway, "GET", "/admin/teams", admin_key["key"]).status_code == 200  # untouched, still works


def test_a_team_admin_cannot_attach_another_teams_user(gateway: GatewayProcess, world: dict[str, Any]) -> None:
    """Regression: a team admin could create or re-point a key of its team at a user of another team."""
    teams = world["teams"]
    blue_user = call(gateway, "POST", "/admin/users", json={"name": "bob", "team_id": teams["blue"]}).json()["id"]
    red_user = call(gateway, "POST", "/admin/users", world["red_admin"], json={"name": "rita"}).json()["id"]
    refused = call(gateway, "POST", "/admin/keys", world["red_admin"], json={"user_id": blue_user})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "user_id", refused.text
    own = new_key(gateway, world["red_admin"], user_id=red_user)
    assert own["team_id"] == teams["red"] and own["user_id"] == red_user
    repointed = call(gateway, "PATCH", f"/admin/keys/{own['id']}", world["red_admin"], json={"user_id": blue_user})
    assert repointed.status_code == 400, repointed.text
    assert call(gateway, "GET", f"/admin/keys/{own['id']}").json()["user_id"] == red_user
    # the admin may attach any user
    assert call(gateway, "PATCH", f"/admin/keys/{own['id']}", json={"user_id": blue_user}).status_code == 200


def test_revoked_and_rotated_keys_stop_at_once_on_this_instance(gateway: GatewayProcess) -> None:
    key = new_key(gateway)
    assert chat(gateway, key["key"]).status_code == 200  # now cached by the authenticator
    assert call(gateway, "DELETE", f"/admin/keys/{key['id']}").status_code == 200
    revoked = chat(gateway, key["key"])
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    other = new_key(gateway)
    assert chat(gateway, other["key"]).status_code == 200
    rotated = call(gateway, "POST", f"/admin/keys/{other['id']}/rotate").json()
    assert chat(gateway, other["key"]).status_code == 401
    assert chat(gateway, rotated["key"]).status_code == 200


def test_expiry_holds_at_the_boundary(gateway: GatewayProcess) -> None:
    record = KeyRecord(id="k", key_hash="h", prefix="sk-sy-x", created_at=0.0, updated_at=0.0, expires_at=100.0)
    assert refusal(record, None, 99.999) is None
    assert refusal(record, None, 100.0) == "This API key has expired."  # expired *at* expires_at, not after
    past = new_key(gateway, expires_at=time.time() - 1)
    assert chat(gateway, past["key"]).status_code == 401
    soon = new_key(gateway, expires_at=time.time() + 2)
    assert chat(gateway, soon["key"]).status_code == 200  # cached as valid now...
    time.sleep(max(0.0, soon["expires_at"] - time.time()) + 0.05)
    expired = chat(gateway, soon["key"])  # ...but the cache does not outlive the expiry
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


def test_admin_bodies_are_size_limited(gateway: GatewayProcess) -> None:
    huge = {"alias": "a", "metadata": {"blob": "x" * 200_000}}
    for path in ("/admin/keys", "/admin/teams", "/admin/users"):
        refused = call(gateway, "POST", path, json=huge)
        assert refused.status_code == 413, (path, refused.status_code, refused.text[:200])
        assert refused.json()["error"]["code"]


def test_callers_cannot_point_the_gateway_at_another_upstream(gateway: GatewayProcess, fake: FakeOpenAI) -> None:
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(8)
        trap.setblocking(False)
        elsewhere = f"http://127.0.0.1:{trap.getsockname()[1]}/v1"
        headers = {
            "x-switchyard-api-base": elsewhere,
            "x-switchyard-base-url": elsewhere,
            "x-switchyard-api-key": "attacker",
            "x-switchyard-provider": "openai_compatible",
        }
        before = len(fake.requests)
        reply = call(
            gateway,
            "POST",
            "/v1/chat/completions",
            MASTER,
            headers=headers,
            json={"model": "gpt", "messages": HI, "api_base": elsewhere, "base_url": elsewhere, "api_key": "attacker"},
        )
        assert reply.status_code in (200, 400), reply.text
        with pytest.raises(BlockingIOError):
            trap.accept()  # nothing ever connected to the caller's address
    sent = fake.requests[before:]
    assert reply.status_code == 400 or len(sent) == 1
    # Unknown body fields travel on as provider parameters (OpenAI's extra_body), but only to the configured
    # upstream and with the configured credential: the caller picks neither the address nor the key.
    for request in sent:
        assert request.headers["authorization"] == f"Bearer {PROVIDER_SECRET}"
        assert not any(name.startswith("x-switchyard") for name in request.headers)


def test_secrets_never_leak(
    gateway: GatewayProcess, fake: FakeOpenAI, collector: tuple[str, list[bytes]], world: dict[str, Any]
) -> None:
    virtual = new_key(gateway, alias="leak-check")["key"]
    assert chat(gateway, virtual, model="gpt").status_code == 200
    # An upstream that echoes the credential it was sent back in its error (real providers do, partially).
    echo = {
        "error": {
            "message": f"Incorrect API key provided: {PROVIDER_SECRET}",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    fake.push_fault(Fault("status", status=401, body=echo))
    refused = chat(gateway, virtual, model="gpt")
    assert refused.status_code >= 400
    stream = call(
        gateway, "POST", "/v1/chat/completions", virtual, json={"model": "gpt", "messages": HI, "stream": True}
    )
    bad_master = chat(gateway, MASTER + "-wrong")
    seen = {
        "error body": refused.text + bad_master.text,
        "stream": stream.text,
        "admin logs": call(gateway, "GET", "/admin/logs?limit=200").text,
        "admin keys": call(gateway, "GET", "/admin/keys?limit=200").text,
        "admin status": call(gateway, "GET", "/admin/status").text,
        "metrics": call(gateway, "GET", "/metrics").text,
        "dashboard": call(gateway, "GET", "/ui/", None).text,
    }
    secrets = {
        "provider key": PROVIDER_SECRET,
        "master key": MASTER,
        "virtual key": virtual,
        "team admin key": world["red_admin"],
        "wrong master": MASTER + "-wrong",
    }
    for where, text in seen.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} in {where}"
    gateway.stop()  # flushes the request log and closes the database, so the files hold everything
    output = gateway.output()
    assert '"request_id"' in output  # JSON logs were written, so the check below looked at something
    for what, secret in secrets.items():
        assert secret not in output, f"{what} in the gateway's log output"
    spans = b"".join(collector[1])
    assert b"chat" in spans  # the exporter flushed on shutdown: the spans were searched, not an empty list
    for what, secret in secrets.items():
        assert secret.encode() not in spans, f"{what} in an exported trace"
    stored = [path for path in gateway.data_dir.rglob("*") if path.is_file()]
    assert stored
    for path in stored:
        data = path.read_bytes()
        for what, secret in secrets.items():
            assert secret.encode() not in data, f"{what} in {path.relative_to(gateway.data_dir)}"
