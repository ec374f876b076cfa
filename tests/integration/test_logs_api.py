"""The log and spend API on the embedded store: who may read what, identity in records, redacted bodies."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import httpx
from openai import OpenAI

from tests.conftest import GatewayFactory
from tests.governance_modes import GovernanceMode

MASTER = "sk-master-logs-api"
SECRET_IN_PROMPT = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"


def test_readers_filters_spend_and_redacted_bodies(
    start_gateway: GatewayFactory, governance_mode: GovernanceMode
) -> None:
    # Runs in both deployments: SQLite (embedded) and PostgreSQL + Redis (scale-out).
    gateway = start_gateway(
        governance_mode.config(
            {
                "server": {"master_key": MASTER, "log_bodies": True, "log_redact": ["/internal-[0-9]+/"]},
                "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
            }
        )
    )
    admin = httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = admin.post(path, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    red, blue = post("/admin/teams", {"name": "red"})["id"], post("/admin/teams", {"name": "blue"})["id"]
    users = {team: post("/admin/keys", {"team_id": team, "role": "user"}) for team in (red, blue)}
    viewer = post("/admin/keys", {"role": "viewer"})["key"]
    red_admin = post("/admin/keys", {"team_id": red, "role": "team_admin"})["key"]

    for team, count in ((red, 3), (blue, 2)):
        client = OpenAI(base_url=f"{gateway.base_url}/v1", api_key=users[team]["key"])
        for i in range(count):
            client.chat.completions.with_raw_response.create(
                model="demo",
                messages=[{"role": "user", "content": f"key {SECRET_IN_PROMPT} ref internal-4711 n{i}"}],
                extra_headers={"x-request-id": f"{'red' if team == red else 'blue'}-{i}"},
            )

    def get(key: str, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{gateway.base_url}{path}", params=params, headers={"authorization": f"Bearer {key}"})

    deadline = time.monotonic() + 10
    while len(get(viewer, "/admin/logs", limit=200).json()["data"]) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    everything = get(viewer, "/admin/logs", limit=200).json()["data"]
    assert sorted(r["request_id"] for r in everything) == ["blue-0", "blue-1", "red-0", "red-1", "red-2"]
    red0 = get(viewer, "/admin/logs/red-0").json()
    assert red0["team_id"] == red and red0["key_id"] == users[red]["id"] and red0["status"] == 200
    body = red0["request_body"]
    assert SECRET_IN_PROMPT not in body and "internal-4711" not in body and "[REDACTED]" in body
    assert '"content"' in red0["response_body"]
    by_key = get(viewer, "/admin/logs", key_id=users[blue]["id"]).json()["data"]
    assert sorted(r["request_id"] for r in by_key) == ["blue-0", "blue-1"]

    # A team admin sees its own team only: filtered lists, 404 for another team's record, its team's spend.
    own = get(red_admin, "/admin/logs").json()["data"]
    assert sorted(r["request_id"] for r in own) == ["red-0", "red-1", "red-2"]
    assert get(red_admin, "/admin/logs/blue-0").status_code == 404
    assert get(red_admin, "/admin/logs", team_id=blue).status_code == 404
    spend = get(red_admin, "/admin/spend", group_by="team").json()["data"]
    assert [(row["group"], row["requests"]) for row in spend] == [(red, 3)]
    all_spend = {row["group"]: row["requests"] for row in get(viewer, "/admin/spend", group_by="team").json()["data"]}
    assert all_spend == {red: 3, blue: 2}

    # A plain user key may not read logs; no key at all is a 401; bad parameters are 400s with the param named.
    assert get(users[red]["key"], "/admin/logs").status_code == 403
    assert httpx.get(f"{gateway.base_url}/admin/logs").status_code == 401
    for params in ({"group_by": "planet"}, {"group_by": "day", "since": "yesterday"}):
        bad = get(viewer, "/admin/spend", **params)
        assert bad.status_code == 400 and bad.json()["error"]["param"] in ("group_by", "since")
    assert get(viewer, "/admin/logs", cursor="not-a-cursor").json()["error"]["param"] == "cursor"
    assert get(viewer, "/admin/logs", status="teapot").status_code == 400

    paths = admin.get("/admin/openapi.json").json()["paths"]
    assert {"/admin/logs", "/admin/logs/{request_id}", "/admin/spend"} <= set(paths)

    gateway.stop()
    if governance_mode.embedded:
        db = sqlite3.connect(gateway.data_dir / "switchyard.db")
        dumped = "\n".join(str(row) for row in db.execute("SELECT * FROM request_logs"))
        db.close()
    else:
        dumped = governance_mode.sql("SELECT * FROM request_logs")
        assert governance_mode.sql("SELECT count(*) FROM request_logs") == "5"  # all in PostgreSQL, none spilled
    assert SECRET_IN_PROMPT not in dumped and users[red]["key"] not in dumped and MASTER not in dumped


def test_a_streamed_answer_is_logged_as_the_chunks_relayed(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        {
            "server": {"master_key": MASTER, "log_bodies": True, "log_redact": ["/internal-[0-9]+/"]},
            "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
        }
    )
    client = OpenAI(base_url=f"{gateway.base_url}/v1", api_key=MASTER)
    stream = client.chat.completions.create(
        model="demo",
        messages=[{"role": "user", "content": f"echo {SECRET_IN_PROMPT} internal-4711"}],
        stream=True,
        extra_headers={"x-request-id": "streamed-1"},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    headers = {"authorization": f"Bearer {MASTER}"}
    deadline = time.monotonic() + 10
    while (found := httpx.get(f"{gateway.base_url}/admin/logs/streamed-1", headers=headers)).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    record = found.json()
    assert record["stream"] is True and record["status"] == 200
    logged = record["response_body"]
    assert logged.startswith("[") and '"chat.completion.chunk"' in logged
    chunks = json.loads(logged)  # every relayed chunk, as a JSON array
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == text
    assert SECRET_IN_PROMPT not in record["request_body"] and "internal-4711" not in record["request_body"]
