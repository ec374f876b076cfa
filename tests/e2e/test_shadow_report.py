"""``switchyard eval shadow``: a router group runs in shadow mode behind a real gateway, and the report read back
from its request log counts the router's choices and projects the spend had the router chosen."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import GatewayFactory
from tests.e2e.test_auto_routing import EASY, HARD, config, fakes, user  # noqa: F401 - fakes is a fixture
from tests.fakes.openai_upstream import FakeOpenAI

SWITCHYARD = Path(sys.executable).parent / "switchyard"
PER_MTOK = {"cheap": (0.5, 1.5), "strong": (10.0, 30.0)}  # input, output


def test_shadow_report_counts_choices_and_projects_spend(
    start_gateway: GatewayFactory,
    fakes: tuple[FakeOpenAI, FakeOpenAI],  # noqa: F811
) -> None:
    settings = config(fakes, auto={"kind": "learned", "strong_share": 0.3, "shadow": True, "serve": "strong"})
    for member, (inp, out) in PER_MTOK.items():
        settings["model_groups"][member]["deployments"][0]["prices"] = {"input_per_mtok": inp, "output_per_mtok": out}
    gateway = start_gateway(settings)
    would: dict[str, int] = {"cheap": 0, "strong": 0}
    spent = projected = 0.0
    with httpx.Client(base_url=gateway.base_url) as http:
        for i in range(24):
            prompt = HARD if i % 3 == 0 else f"{EASY} number {i}"
            answer = http.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [user(prompt)]},
                headers={"x-request-id": f"shadow-{i}"},
            )
            assert answer.status_code == 200
            choice = re.search(r"shadow=(\w+)", answer.headers["x-switchyard-route"])
            assert choice is not None and "chosen=strong" in answer.headers["x-switchyard-route"]
            would[choice[1]] += 1
            usage = answer.json()["usage"]
            spent += float(answer.headers["x-switchyard-cost-usd"])
            inp, out = PER_MTOK[choice[1]]
            projected += (usage["prompt_tokens"] * inp + usage["completion_tokens"] * out) / 1e6
        for i, score in ((0, 1.0), (1, 0.0), (2, 0.5)):
            assert http.post("/v1/feedback", json={"request_id": f"shadow-{i}", "score": score}).status_code == 201
        refused = http.post("/v1/chat/completions", json={"model": "auto", "messages": "not a list"})
        assert refused.status_code == 400  # not answered: not in the report
    gateway.stop()
    assert would["cheap"] and would["strong"], would  # both choices occur, so the projection differs from spend
    assert gateway.config_path is not None
    ran = subprocess.run(
        [str(SWITCHYARD), "eval", "shadow", "--group", "auto", "--config", str(gateway.config_path),
         "--data-dir", str(gateway.data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    text = ran.stdout
    assert "24 answered requests, served by strong 24" in text, text
    assert f"cheap {would['cheap']} ({would['cheap'] / 24:.1%})" in text, text
    assert f"agrees with what was served on {would['strong'] / 24:.1%}" in text, text
    change = projected / spent - 1
    assert f"Spend as served: ${spent:.6f}. Had the router chosen: ${projected:.6f} ({change:+.1%})" in text, text
    assert text.count("Feedback on requests the router would send to") >= 1
    missing = subprocess.run(
        [str(SWITCHYARD), "eval", "shadow", "--data-dir", str(gateway.data_dir / "nowhere")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "no request log" in missing.stderr
