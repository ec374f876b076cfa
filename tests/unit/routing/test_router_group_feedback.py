"""Feedback storage and ``train router --from-logs``: logged decisions + request bodies + feedback become a router
that learned which prompts the cheap member answers badly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from switchyard.cli import app
from switchyard.routing.learned import LearnedRouter
from switchyard.routing.learned.from_logs import join, prompt_of, train_from_logs
from switchyard.storage.feedback import Feedback, MemoryFeedbackStore, SQLiteFeedbackStore
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.types.logs import RequestLog

MATHS = "prove the theorem about prime numbers and integrals number {}"
CHAT = "tell me a friendly greeting for my colleague number {}"


def test_sqlite_feedback_store_round_trips(tmp_path: Path) -> None:
    store = SQLiteFeedbackStore(tmp_path / "feedback.db")

    async def run() -> list[Feedback]:
        await store.add(Feedback("r1", 0.25, 1.0, "meh", "key-1"))
        await store.add(Feedback("r2", 1.0, 2.0))
        return await store.entries()

    assert asyncio.run(run()) == [Feedback("r1", 0.25, 1.0, "meh", "key-1"), Feedback("r2", 1.0, 2.0)]
    store.close()
    assert SQLiteFeedbackStore(tmp_path / "feedback.db").entries_sync()[1].request_id == "r2"
    memory = MemoryFeedbackStore()
    asyncio.run(memory.add(Feedback("x", 0.5, 0.0)))
    assert asyncio.run(memory.entries())[0].score == 0.5


def traffic() -> tuple[list[RequestLog], list[Feedback]]:
    """The cheap member fails maths and does fine on chat; the strong member does fine on everything."""
    records, feedback = [], []
    for i in range(120):
        maths = i % 2 == 0
        member = "cheap" if i % 4 < 2 else "strong"
        prompt = (MATHS if maths else CHAT).format(i)
        body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": prompt}]})
        decision = json.dumps({"group": "auto", "kind": "learned", "chosen": member, "candidates": ["cheap", "strong"]})
        records.append(RequestLog(f"r{i}", float(i), "/v1/chat/completions", 200, 1.0, "auto", decision=decision,
                                  request_body=body))  # fmt: skip
        feedback.append(Feedback(f"r{i}", 0.0 if maths and member == "cheap" else 1.0, float(i)))
    records.append(RequestLog("other", 0.0, "/v1/chat/completions", 200, 1.0, "demo"))
    return records, feedback


def test_join_keeps_the_groups_requests_with_prompts_and_averages_feedback() -> None:
    records, feedback = traffic()
    outcomes, prompts = join(records, [*feedback, Feedback("r0", 1.0, 0.0)], "auto")
    assert len(prompts) == 120 and len(outcomes) == 120
    assert next(o for o in outcomes if o.request_id == "r0").score == 0.5
    assert prompt_of('{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}') == "hi"
    assert prompt_of("not json") is None


def test_retrained_router_sends_what_the_cheap_member_fails_to_the_strong_one() -> None:
    records, feedback = traffic()
    outcomes, prompts = join(records, feedback, "auto")
    router = train_from_logs(outcomes, prompts, ["cheap", "strong"])
    assert router.models == ["strong", "cheap"] and router.target == "quality"
    maths, chat = router.score([MATHS.format(999), CHAT.format(999)])
    assert maths > chat
    assert maths >= router.threshold(0.5) > chat


def test_cli_trains_from_a_filled_log_and_feedback_store(tmp_path: Path) -> None:
    records, feedback = traffic()
    log = SQLiteLogStore(tmp_path / "switchyard.db")  # the gateway's own store and schema
    log.write_batch(records)
    log.close()
    store = SQLiteFeedbackStore(tmp_path / "feedback.db")
    for item in feedback:
        store.add_sync(item)
    out = tmp_path / "retrained.npz"
    result = CliRunner().invoke(app, ["train", "router", "--from-logs", "--data-dir", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cheap < strong" in result.output
    router = LearnedRouter.load(out)
    assert router.settings["source"] == "logs+feedback" and router.settings["trained_on"] == 120
    empty = CliRunner().invoke(app, ["train", "router", "--from-logs", "--data-dir", str(tmp_path / "none")])
    assert empty.exit_code == 2
