"""The shadow report on hand-made log records: counts, agreement, the spend projection over priced requests only,
and feedback by the router's choice."""

from __future__ import annotations

import json

import pytest

from switchyard.accounting.pricing import Price
from switchyard.eval.shadow import render, shadow_report
from switchyard.storage.feedback import Feedback
from switchyard.types.logs import RequestLog

CHEAP = Price.from_entry({"input": 1.0, "output": 2.0}, "test")  # USD per million tokens


def record(i: int, would: str, cost: float | None, status: int = 200, reason: str = "shadow") -> RequestLog:
    decision = {"group": "auto", "kind": "learned", "chosen": "strong", "candidates": ["cheap", "strong"]}
    decision |= {"reason": reason, "shadow": would}
    return RequestLog(
        f"r{i}", 0.0, "/v1/chat/completions", status, 1.0, model_group="auto", decision=json.dumps(decision),
        prompt_tokens=1000, completion_tokens=500, cost_usd=cost,
    )  # fmt: skip


def test_projection_covers_priced_requests_only() -> None:
    records = [
        record(0, "cheap", 0.02),  # would go cheap: projected at 1000 x 1 + 500 x 2 per million = 0.002
        record(1, "strong", 0.02),  # agrees: projected as spent
        record(2, "cheap", None),  # no logged cost: left out of both sums
        record(3, "cheap", 0.02, status=500),  # not answered: not counted at all
        record(4, "cheap", 0.02, reason="router"),  # not shadow mode
    ]
    feedback = [Feedback("r0", 1.0, 0.0), Feedback("r0", 0.5, 0.0), Feedback("r1", 0.0, 0.0)]
    report = shadow_report(records, feedback, "auto", {"cheap": CHEAP})
    assert (report.requests, report.agreed, report.unpriced) == (3, 1, 1)
    assert report.would == {"cheap": 2, "strong": 1}
    assert report.spend_usd == pytest.approx(0.04) and report.projected_usd == pytest.approx(0.022)
    assert report.saving == pytest.approx(0.022 / 0.04 - 1)
    assert report.feedback == {"cheap": [0.75], "strong": [0.0]}
    text = render(report)
    assert "over the 2 of 3 requests that could be priced" in text and "1 requests had no logged cost" in text
    unpriced = shadow_report(records, feedback, "auto", {})  # no prices: the cheap choices cannot be projected
    assert unpriced.spend_usd == pytest.approx(0.02) and unpriced.unpriced == 2
    assert "No shadow-mode decisions" in render(shadow_report([], [], "auto", {}))
