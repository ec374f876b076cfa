"""Cascades without HTTP: the answer scorer (fit, save, load), accept or escalate along the chain, failures of a
cheap member, streams buffered (and replayed) or bypassed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from switchyard.config.schema import Config
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.runner import Pipeline
from switchyard.providers.base import ChatCall, ProviderContext, Reply
from switchyard.providers.registry import PROVIDERS
from switchyard.routing.build import build_groups
from switchyard.routing.cascade import read_answer
from switchyard.routing.executor import Executor
from switchyard.routing.learned.scorer import AnswerScorer, fit_scorer
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.routing.router_build import build_routers
from switchyard.storage.memory import MemoryHealthStore
from switchyard.transport import HttpTransport
from switchyard.types.chat import ChatRequest

# The demo model answers with words from this vocabulary; "unsure" words never appear in its answers.
GOOD = "switchyard routes every request to the right model quickly and reliably"
BAD = "i am not sure maybe perhaps unsure unknown"


def logged(ctx: RequestContext) -> dict[str, Any]:
    """The decision as the request log stores it."""
    assert ctx.decision is not None
    return dict(json.loads(ctx.decision.to_json()))


def scorer_file(tmp_path: Path) -> Path:
    prompts = [f"question number {i} about gateways" for i in range(80)]
    answers = [[GOOD if i % 2 else BAD] for i in range(80)]
    correct = np.array([[float(i % 2)] for i in range(80)])
    scorer = fit_scorer(prompts, answers, correct, ["any"])
    path = tmp_path / "scorer.npz"
    scorer.save(path)
    return path


def test_scorer_separates_good_from_bad_answers_and_round_trips(tmp_path: Path) -> None:
    loaded = AnswerScorer.load(scorer_file(tmp_path))
    good = loaded.score("cheap", "question about gateways", GOOD, None)
    bad = loaded.score("cheap", "question about gateways", BAD, None)
    assert good > 0.7 > 0.3 > bad
    assert 0.0 <= loaded.score("cheap", "x", "", -0.1) <= 1.0  # logprob features accepted


def test_read_answer_reads_bodies_chunks_and_logprobs() -> None:
    body = {
        "choices": [{"message": {"content": "yes"}, "logprobs": {"content": [{"logprob": -0.5}, {"logprob": -1.5}]}}]
    }
    assert read_answer([json.dumps(body).encode()]) == ("yes", -1.0)
    chunks = [json.dumps({"choices": [{"delta": {"content": t}}]}).encode() for t in ("a", "b")]
    assert read_answer([*chunks, b'{"choices":[],"usage":{"prompt_tokens":1}}']) == ("ab", None)


def demo(model: str, **extra: Any) -> dict[str, Any]:
    return {"deployments": [{"provider": "demo", "model": model, **extra}]}


def pipeline(tmp_path: Path, threshold: float, stream: str = "buffer", cheap: dict[str, Any] | None = None) -> Pipeline:
    cascade = {"scorer_path": str(scorer_file(tmp_path)), "thresholds": [threshold, threshold], "stream": stream}
    cfg = Config.model_validate(
        {
            "router": {"num_retries": 0},
            "model_groups": {
                "cheap": cheap or demo("demo-cheap"),
                "mid": demo("demo-mid"),
                "strong": demo("demo-strong"),
                "auto": {"router": {"kind": "cascade", "members": ["cheap", "mid", "strong"], "cascade": cascade}},
            },
        }
    )
    groups = build_groups(cfg, PROVIDERS, ProviderContext(HttpTransport(), cfg.router, None, 1))  # type: ignore[arg-type]
    executor = Executor(groups, cfg.router, MemoryHealthStore(30))
    return Pipeline(executor, routers=build_routers(cfg, groups))


def ask(pipe: Pipeline, stream: bool, options: RouteOptions = DEFAULT_OPTIONS) -> tuple[RequestContext, list[str], str]:
    async def run() -> tuple[RequestContext, list[str], str]:
        ctx = RequestContext("r", "/v1/chat/completions", None)
        body = {"model": "auto", "messages": [{"role": "user", "content": "tell me about gateways"}], "stream": stream}
        chat = msgspec.json.decode(json.dumps(body).encode(), type=ChatRequest)
        result = await pipe.chat(ctx, ChatCall(chat, msgspec.json.encode(chat)), options)
        if isinstance(result, Reply):
            data = json.loads(result.body)
            return ctx, [data["model"]], data["choices"][0]["message"]["content"]
        payloads = [json.loads(p) async for batch in result.batches() for p in batch]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in payloads if c["choices"])
        return ctx, sorted({p["model"] for p in payloads}), text

    return asyncio.run(run())


@pytest.mark.parametrize("stream", [False, True])
def test_cascade_accepts_a_good_cheap_answer(tmp_path: Path, stream: bool) -> None:
    ctx, models, text = ask(pipeline(tmp_path, 0.5), stream)
    decision = logged(ctx)
    assert models == ["demo-cheap"] and text
    assert decision["chosen"] == "cheap" and decision["stages"][0]["accepted"] is True
    assert [a.deployment for a in ctx.trace.attempts] == ["cheap/0"]
    assert ctx.usage is not None and ctx.usage.completion_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_cascade_escalates_when_the_scorer_rejects(tmp_path: Path, stream: bool) -> None:
    ctx, models, _ = ask(pipeline(tmp_path, 0.999), stream)
    decision = logged(ctx)
    assert models == ["demo-strong"]
    assert [(s["member"], s["accepted"]) for s in decision["stages"]] == [
        ("cheap", False),
        ("mid", False),
        ("strong", True),
    ]
    assert decision["stages"][0]["score"] < decision["stages"][0]["threshold"] == 0.999
    assert [a.deployment for a in ctx.trace.attempts] == ["cheap/0", "mid/0", "strong/0"]
    assert "stages=cheap:no>mid:no>strong:ok" in ctx.headers()["x-switchyard-route"]


def test_threshold_header_overrides_the_cascade_thresholds(tmp_path: Path) -> None:
    ctx, models, _ = ask(pipeline(tmp_path, 0.999), False, RouteOptions(router_threshold=0.01))
    assert models == ["demo-cheap"]


def test_a_failing_cheap_member_is_skipped(tmp_path: Path) -> None:
    dead = {"deployments": [{"provider": "openai", "model": "m", "api_key": "k", "api_base": "http://127.0.0.1:9/v1"}]}
    ctx, models, _ = ask(pipeline(tmp_path, 0.5, cheap=dead), False)
    decision = logged(ctx)
    assert models == ["demo-mid"]
    assert decision["stages"][0]["member"] == "cheap" and decision["stages"][0]["error"]


def test_bypass_streams_straight_to_the_last_member(tmp_path: Path) -> None:
    ctx, models, _ = ask(pipeline(tmp_path, 0.5, stream="bypass"), True)
    assert models == ["demo-strong"] and logged(ctx)["reason"] == "bypass"
