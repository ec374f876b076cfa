"""A cascade with ``escalate_share``: each member but the last passes on that share of its answers, whatever its
scorer makes of the traffic, with the configured thresholds serving while the live window warms up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec

from switchyard.config.schema import Config
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.runner import Pipeline
from switchyard.providers.base import ChatCall, ProviderContext
from switchyard.providers.registry import PROVIDERS
from switchyard.routing.build import build_groups
from switchyard.routing.executor import Executor
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.routing.router_build import build_routers
from switchyard.storage.memory import MemoryHealthStore
from switchyard.transport import HttpTransport
from switchyard.types.chat import ChatRequest
from tests.unit.routing.test_router_group_cascade import demo, scorer_file


def cascade_pipeline(tmp_path: Path, escalate: float | None) -> Pipeline:
    cascade = {"scorer_path": str(scorer_file(tmp_path)), "thresholds": [0.5, 0.5], "escalate_share": escalate}
    router = {"kind": "cascade", "members": ["cheap", "mid", "strong"], "cascade": cascade, "calibration_warmup": 30}
    cfg = Config.model_validate(
        {
            "router": {"num_retries": 0},
            "model_groups": {
                "cheap": demo("demo-cheap"),
                "mid": demo("demo-mid"),
                "strong": demo("demo-strong"),
                "auto": {"router": router},
            },
        }
    )
    groups = build_groups(cfg, PROVIDERS, ProviderContext(HttpTransport(), cfg.router, None, 1))  # type: ignore[arg-type]
    return Pipeline(Executor(groups, cfg.router, MemoryHealthStore(30)), routers=build_routers(cfg, groups))


def served(pipe: Pipeline, prompts: list[str], options: RouteOptions = DEFAULT_OPTIONS) -> list[str]:
    async def run() -> list[str]:
        chosen = []
        for prompt in prompts:
            ctx = RequestContext("r", "/v1/chat/completions", None)
            body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
            chat = msgspec.json.decode(json.dumps(body).encode(), type=ChatRequest)
            await pipe.chat(ctx, ChatCall(chat, msgspec.json.encode(chat)), options)
            assert ctx.decision is not None
            chosen.append(ctx.decision.chosen)
        return chosen

    return asyncio.run(run())


def test_each_member_passes_on_the_share_it_is_given(tmp_path: Path) -> None:
    prompts = [f"question number {i} about gateways and routing" for i in range(400)]
    fixed = served(cascade_pipeline(tmp_path, None), prompts)
    live = served(cascade_pipeline(tmp_path, 0.3), prompts)[30:]  # after the cheap member's window warmed up
    passed_on = [c != "cheap" for c in live]
    assert abs(sum(passed_on) / len(live) - 0.3) < 0.06, sum(passed_on) / len(live)
    # the mid member sees only what the cheap one passed on, and passes on 30 % of that (once its own window is warm)
    reached_mid = [c for c in live if c != "cheap"]
    assert 0.1 < reached_mid.count("strong") / len(reached_mid) < 0.5
    # the fixed thresholds realise whatever the scorer makes of this traffic: here far from 30 %
    fixed_share = sum(c != "cheap" for c in fixed) / len(fixed)
    assert abs(fixed_share - 0.3) > 0.15, fixed_share


def test_escalating_everything_or_nothing_and_the_threshold_header(tmp_path: Path) -> None:
    prompts = [f"question {i}" for i in range(60)]
    assert "cheap" not in served(cascade_pipeline(tmp_path, 1.0), prompts)[30:]  # the cheap member passes on all
    assert set(served(cascade_pipeline(tmp_path, 0.0), prompts)[30:]) == {"cheap"}
    pipe = cascade_pipeline(tmp_path, 0.0)
    assert set(served(pipe, prompts[:40] + prompts[:5], RouteOptions(router_threshold=1.0))) == {"strong"}
