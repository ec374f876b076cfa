"""Live calibration per team through the gateway: two teams' virtual keys call ``model: auto`` with very different
prompts, and each team gets the configured share of its own requests routed to the strong member."""

from __future__ import annotations

import random

import httpx

from tests.conftest import GatewayFactory
from tests.e2e.test_admin_keys import MASTER, create_key, create_team
from tests.e2e.test_auto_routing import config, fakes, user  # noqa: F401 - fakes is a fixture
from tests.fakes.openai_upstream import FakeOpenAI

WORDS = "hello thanks please weather lunch friend birthday movie song holiday coffee garden dog story".split()


def test_each_team_gets_the_share_of_its_own_traffic(
    start_gateway: GatewayFactory,
    fakes: tuple[FakeOpenAI, FakeOpenAI],  # noqa: F811
) -> None:
    settings = config(fakes, auto={"kind": "learned", "strong_share": 0.3, "calibration_warmup": 20})
    settings["model_groups"]["auto"]["router"]["calibration_scope"] = "team"
    settings["server"]["master_key"] = MASTER
    gateway = start_gateway(settings)
    keys = {
        team: create_key(gateway, team_id=create_team(gateway, team), models=["auto"])["key"]
        for team in ("chat-app", "maths-app")
    }
    rng = random.Random(5)
    chit_chat = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(120)]
    proofs = [f"Prove that the integral of f over [0, {i}] converges and derive the bound." for i in range(120)]
    traffic = [("chat-app", p) for p in chit_chat] + [("maths-app", p) for p in proofs]
    rng.shuffle(traffic)
    routes: dict[str, list[str]] = {"chat-app": [], "maths-app": []}
    with httpx.Client(base_url=gateway.base_url) as http:
        for team, prompt in traffic:
            answer = http.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [user(prompt)]},
                headers={"authorization": f"Bearer {keys[team]}"},
            )
            assert answer.status_code == 200, answer.text
            routes[team].append(answer.headers["x-switchyard-route"])
    for team, seen in routes.items():
        warm = seen[20:]  # each team's own window warms up on its first 20 requests
        assert all("calibration=team" in h for h in warm), team
        share = sum("chosen=strong" in h for h in warm) / len(warm)
        assert abs(share - 0.3) < 0.1, (team, share)
