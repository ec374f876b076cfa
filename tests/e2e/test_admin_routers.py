"""``GET /admin/routers`` against a real gateway process in front of two fake OpenAI upstreams, the official SDK as
client: the live window fills and the realised strong share follows the target, dry runs count nowhere, shadow
and per-team groups show what they do, cascade stages show their thresholds (also as a Prometheus gauge), only
operators may look, and ``switchyard status`` prints the router groups."""

from __future__ import annotations

import random
import subprocess
from typing import Any

import httpx
import openai

from tests.conftest import GatewayFactory
from tests.e2e.test_admin_keys import create_key, create_team
from tests.e2e.test_auto_routing import config, fakes, scorer_path, user  # noqa: F401 - fixtures
from tests.e2e.test_router_calibration import WORDS
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import SWITCHYARD, GatewayProcess

MASTER = "mk-e2e-admin"  # create_key and create_team sign in with this one


def routers(gateway: GatewayProcess, key: str = MASTER) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{gateway.base_url}/admin/routers", headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return {group["name"]: group for group in answer.json()["data"]}


def sdk(gateway: GatewayProcess, key: str = MASTER) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


def mixed_prompts(count: int, seed: int) -> list[str]:
    assert count % 2 == 0, "half chit-chat, half maths"
    rng = random.Random(seed)
    chat = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(count // 2)]
    maths = [f"Prove that the integral of f over [0, {i}] converges and derive the bound." for i in range(count // 2)]
    prompts = chat + maths
    rng.shuffle(prompts)
    return prompts


def status_output(gateway: GatewayProcess) -> str:
    run = subprocess.run(
        [str(SWITCHYARD), "status", "--url", gateway.base_url, "--master-key", MASTER],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    return run.stdout


def test_routers_view_shows_windows_shares_and_decisions(
    start_gateway: GatewayFactory,
    fakes: tuple[FakeOpenAI, FakeOpenAI],  # noqa: F811
) -> None:
    live = {"kind": "learned", "strong_share": 0.3, "calibration_window": 100, "calibration_warmup": 20}
    per_team = {**live, "calibration_window": 40, "calibration_warmup": 10, "calibration_scope": "team"}
    shadow = {"kind": "learned", "strong_share": 0.3, "calibration": "file", "shadow": True, "serve": "cheap"}
    settings = config(fakes, auto=live, byteam=per_team, shadowed=shadow)
    settings["server"]["master_key"] = MASTER
    gateway = start_gateway(settings)

    fresh = routers(gateway)
    assert set(fresh) == {"auto", "byteam", "shadowed"}
    auto = fresh["auto"]
    assert (auto["strategy"], auto["members"], auto["shadow"], auto["calibration"]) == (
        "threshold", ["cheap", "strong"], False, "live"
    )  # fmt: skip
    assert auto["window"] == {"size": 100, "filled": 0, "warmup": 20, "warming_up": True}
    assert auto["threshold_source"] == "warming_up" and auto["target_share"] == 0.3
    assert (auto["decisions"], auto["recent"], auto["realised_strong_share"]) == ({}, 0, None)

    client = sdk(gateway)
    chosen: list[str] = []
    for prompt in mixed_prompts(150, seed=7):
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=[user(prompt)])
        chosen.append(raw.headers["x-switchyard-route"].split("chosen=")[1].split(";")[0])
    auto = routers(gateway)["auto"]
    assert auto["window"] == {"size": 100, "filled": 100, "warmup": 20, "warming_up": False}
    assert auto["threshold_source"] == "live" and auto["recent"] == 100
    # the share the view reports is exactly the one the last 100 responses' headers show, and near the target
    assert auto["realised_strong_share"] == round(chosen[-100:].count("strong") / 100, 4)
    assert abs(auto["realised_strong_share"] - 0.3) < 0.1, auto
    assert auto["decisions"] == {m: chosen.count(m) for m in set(chosen)} and len(chosen) == 150

    # dry runs decide without serving: nothing they do shows in the view
    with httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {MASTER}"}) as http:
        for prompt in mixed_prompts(30, seed=8):
            assert http.post("/v1/route", json={"model": "auto", "messages": [user(prompt)]}).is_success
    assert routers(gateway)["auto"] == auto

    # shadow mode: every request served by `serve`, the learned choices counted apart
    for prompt in mixed_prompts(10, seed=9):
        client.chat.completions.create(model="shadowed", messages=[user(prompt)])
    shadowed = routers(gateway)["shadowed"]
    assert (shadowed["shadow"], shadowed["serve"], shadowed["decisions"]) == (True, "cheap", {"cheap": 10})
    assert sum(shadowed["shadow_decisions"].values()) == 10 and shadowed["recent"] == 10
    assert (shadowed["calibration"], shadowed["threshold_source"], shadowed["window"]) == ("file", "file", None)
    learned_strong = shadowed["shadow_decisions"].get("strong", 0) / 10
    assert shadowed["realised_strong_share"] == learned_strong

    # per-team windows are listed by team id, never by key
    teams = {name: create_team(gateway, name) for name in ("team-a", "team-b")}
    keys = {name: create_key(gateway, team_id=team, models=["byteam"])["key"] for name, team in teams.items()}
    for name, count in (("team-a", 16), ("team-b", 8)):
        for prompt in mixed_prompts(count, seed=10):
            sdk(gateway, keys[name]).chat.completions.create(model="byteam", messages=[user(prompt)])
    answer = httpx.get(f"{gateway.base_url}/admin/routers", headers={"authorization": f"Bearer {MASTER}"})
    assert not any(key in answer.text for key in keys.values())
    scopes = {group["name"]: group for group in answer.json()["data"]}["byteam"]["scopes"]
    assert (scopes["kind"], scopes["count"]) == ("team", 2)
    listed = {s["scope"]: s for s in scopes["fullest"]}
    assert [s["scope"] for s in scopes["fullest"]] == [teams["team-a"], teams["team-b"]]  # fullest first
    assert (listed[teams["team-a"]]["filled"], listed[teams["team-a"]]["warming_up"]) == (16, False)
    assert (listed[teams["team-b"]]["filled"], listed[teams["team-b"]]["warming_up"]) == (8, True)
    assert listed[teams["team-a"]]["decisions"] == 16 and listed[teams["team-b"]]["threshold"] is None

    # operators only, refusals in the OpenAI error envelope
    user_key = create_key(gateway)["key"]
    viewer_key = create_key(gateway, role="viewer")["key"]
    assert set(routers(gateway, viewer_key)) == {"auto", "byteam", "shadowed"}
    for key, status in ((user_key, 403), ("sk-not-a-key", 401)):
        refused = httpx.get(f"{gateway.base_url}/admin/routers", headers={"authorization": f"Bearer {key}"})
        assert refused.status_code == status and refused.json()["error"]["code"], refused.text
    documented = httpx.get(f"{gateway.base_url}/admin/openapi.json", headers={"authorization": f"Bearer {MASTER}"})
    assert "get" in documented.json()["paths"]["/admin/routers"]

    out = status_output(gateway)
    assert "Router groups" in out and "team windows" in out
    line = next(row for row in out.splitlines() if "│ auto " in row or row.startswith("│ auto"))
    assert "100/100" in line and "(live)" in line and "target 30%" in line, out


def test_cascade_stages_in_the_view_and_as_a_gauge(
    start_gateway: GatewayFactory,
    fakes: tuple[FakeOpenAI, FakeOpenAI],  # noqa: F811
    scorer_path: str,  # noqa: F811
) -> None:
    fixed = {"kind": "cascade", "cascade": {"scorer_path": scorer_path, "thresholds": [0.5]}}
    live = {
        "kind": "cascade",
        "calibration_window": 10,
        "calibration_warmup": 3,
        "cascade": {"scorer_path": scorer_path, "thresholds": [0.5], "escalate_share": 0.5},
    }
    settings = config(fakes, casc=fixed, casclive=live)
    settings["server"]["master_key"] = MASTER
    gateway = start_gateway(settings)
    before = routers(gateway)
    assert before["casclive"]["stages"][0]["calibration"] == "warming_up"
    client = sdk(gateway)
    for group in ("casc", "casclive"):
        for text in ("an easy question about gateways", "a hard question about gateways"):
            client.chat.completions.create(model=group, messages=[user(text)])
    client.chat.completions.create(model="casclive", messages=[user("another easy question about gateways")])
    view = routers(gateway)
    casc = view["casc"]
    assert (casc["strategy"], casc["stream"], casc["decisions"]) == ("cascade", "buffer", {"cheap": 1, "strong": 1})
    (stage,) = casc["stages"]
    assert (stage["member"], stage["calibration"], stage["threshold"], stage["configured_threshold"]) == (
        "cheap", "fixed", 0.5, 0.5
    )  # fmt: skip
    assert (stage["judged"], stage["accepted"], stage["failed"], stage["window"]) == (2, 1, 0, None)
    assert (stage["recent"], stage["realised_accept_share"]) == (2, 0.5)
    (stage,) = view["casclive"]["stages"]
    assert stage["calibration"] == "live" and stage["escalate_share"] == 0.5 and stage["judged"] == 3
    assert stage["window"] == {"size": 10, "filled": 3, "warmup": 3, "warming_up": False}
    live_threshold = stage["threshold"]
    assert isinstance(live_threshold, float) and live_threshold != 0.5

    scraped = httpx.get(f"{gateway.base_url}/metrics", headers={"authorization": f"Bearer {MASTER}"}).text
    assert 'switchyard_cascade_threshold{calibration="fixed",group="casc",stage="cheap"} 0.5' in scraped, scraped
    gauge = 'switchyard_cascade_threshold{calibration="live",group="casclive",stage="cheap"} '
    assert abs(float(scraped.split(gauge)[1].split()[0]) - live_threshold) < 1e-6
    out = status_output(gateway)
    assert "stage cheap" in out and "accepted 1/2" in out and "0.5000 (fixed)" in out, out


def test_no_router_groups(start_gateway: GatewayFactory) -> None:
    settings = {"server": {"master_key": MASTER}, "model_groups": {"demo": {"deployments": [{"provider": "demo",
                "model": "demo-1"}]}}}  # fmt: skip
    gateway = start_gateway(settings)
    assert routers(gateway) == {}
    assert "Router groups" not in status_output(gateway)
