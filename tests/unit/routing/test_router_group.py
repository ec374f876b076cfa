"""Router groups without HTTP: config checks, the capability filter, learned/length/random deciders, the knobs,
shadow mode, the decision in headers and context, and a missing numpy failing at start-up."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from switchyard import errors
from switchyard.config.schema import Config
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.runner import Pipeline
from switchyard.providers.base import ChatCall, ProviderContext, Reply
from switchyard.providers.registry import PROVIDERS
from switchyard.routing.build import build_groups
from switchyard.routing.executor import Executor
from switchyard.routing.learned.train import train_router
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.routing.router_build import DEFAULT_ROUTER, build_routers
from switchyard.routing.router_group import RouterGroup, prompt_text
from switchyard.storage.memory import MemoryHealthStore
from switchyard.transport import HttpTransport
from switchyard.types.chat import ChatRequest

EASY = "Hi"
HARD = "Write a function to find the highest common ancestor (not LCA) of two nodes in a binary tree."


def member(model: str, **extra: Any) -> dict[str, Any]:
    return {"deployments": [{"provider": "demo", "model": model, **extra}]}


def config(router: dict[str, Any], **groups: dict[str, Any]) -> Config:
    model_groups = {"cheap": member("demo-cheap"), "strong": member("demo-strong"), **groups}
    model_groups["auto"] = {"router": {"members": ["cheap", "strong"], **router}}
    return Config.model_validate({"model_groups": model_groups})


def build(cfg: Config) -> tuple[Executor, dict[str, RouterGroup]]:
    transport = HttpTransport()
    groups = build_groups(cfg, PROVIDERS, ProviderContext(transport, cfg.router, None, 1))  # type: ignore[arg-type]
    return Executor(groups, cfg.router, MemoryHealthStore(30)), build_routers(cfg, groups)


def request(text: str, **extra: Any) -> ChatRequest:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}
    return msgspec.json.decode(json.dumps(body).encode(), type=ChatRequest)


def test_config_rejects_bad_router_groups() -> None:
    with pytest.raises(ValueError, match="must be a model group with deployments"):
        config({"kind": "learned", "members": ["cheap", "nope"]})
    with pytest.raises(ValueError, match="members instead of deployments"):
        Config.model_validate(
            {"model_groups": {"a": {**member("x"), "router": {"kind": "random", "members": ["a", "a"]}}}}
        )
    with pytest.raises(ValueError, match="kind"):
        config({"kind": "smart"})


def test_shipped_router_sends_easy_prompts_cheap_and_hard_ones_strong() -> None:
    _, routers = build(config({"kind": "learned", "strong_share": 0.3}))
    auto = routers["auto"]
    easy, hard = auto.decide(request(EASY), DEFAULT_OPTIONS), auto.decide(request(HARD), DEFAULT_OPTIONS)
    assert (easy.chosen, hard.chosen) == ("cheap", "strong")
    assert easy.threshold == hard.threshold and easy.score is not None and hard.score is not None
    assert easy.score < easy.threshold <= hard.score
    headers = hard.headers()
    assert headers["x-switchyard-route"].startswith("learned;chosen=strong;reason=router;threshold=")
    assert float(headers["x-switchyard-route-score"]) == pytest.approx(hard.score, abs=1e-4)


def test_strong_share_moves_the_threshold_and_headers_override_it() -> None:
    thresholds = []
    for share in (0.2, 0.5, 0.8):
        _, routers = build(config({"kind": "learned", "strong_share": share}))
        thresholds.append(routers["auto"].decide(request(EASY), DEFAULT_OPTIONS).threshold)
    assert thresholds[0] > thresholds[1] > thresholds[2]
    auto = routers["auto"]
    assert auto.decide(request(EASY), RouteOptions(router_threshold=1e-6)).chosen == "strong"
    assert auto.decide(request(HARD), RouteOptions(router_threshold=1.0)).chosen == "cheap"


def test_random_router_tracks_the_share() -> None:
    _, routers = build(config({"kind": "random", "strong_share": 0.25, "seed": 7}))
    picks = [routers["auto"].decide(request(f"q{i}"), DEFAULT_OPTIONS).chosen for i in range(2000)]
    assert 0.21 < picks.count("strong") / len(picks) < 0.29


def test_length_router_prefers_strong_for_long_prompts() -> None:
    _, routers = build(config({"kind": "length", "strong_share": 0.5}))
    auto = routers["auto"]
    assert auto.decide(request("hi"), DEFAULT_OPTIONS).chosen == "cheap"
    assert auto.decide(request("explain this in detail " * 80), DEFAULT_OPTIONS).chosen == "strong"


def test_capability_filter_runs_before_the_router() -> None:
    cheap_small = member("demo-cheap", context_window=50, capabilities={"tools": False})
    _, routers = build(config({"kind": "learned", "strong_share": 0.0}, cheap=cheap_small))
    auto = routers["auto"]
    assert auto.decide(request("short"), RouteOptions(router_threshold=1.0)).chosen == "cheap"
    long = auto.decide(request("word " * 400), RouteOptions(router_threshold=1.0))
    assert (long.chosen, long.reason, long.candidates) == ("strong", "capability", ["strong"])
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert auto.decide(request("short", tools=[tool]), DEFAULT_OPTIONS).chosen == "strong"
    strong_small = member("demo-strong", context_window=50)
    _, routers = build(config({"kind": "learned"}, cheap=cheap_small, strong=strong_small))
    with pytest.raises(errors.ContextWindowExceededError):
        routers["auto"].decide(request("word " * 400), DEFAULT_OPTIONS)


def test_shadow_mode_serves_the_static_member_and_records_the_learned_choice() -> None:
    _, routers = build(config({"kind": "learned", "strong_share": 0.3, "shadow": True, "serve": "strong"}))
    decision = routers["auto"].decide(request(EASY), DEFAULT_OPTIONS)
    assert (decision.chosen, decision.shadow, decision.reason) == ("strong", "cheap", "shadow")
    assert "shadow=cheap" in decision.headers()["x-switchyard-route"]


def quality_router(tmp_path: Path) -> Path:
    """A three-model quality router: 'maths' prompts only the big model gets right; chat everyone does."""
    prompts = [f"solve the integral number {i} with calculus" for i in range(60)]
    prompts += [f"say hello to my friend number {i}" for i in range(60)]
    quality = np.array([[0, 0, 1]] * 60 + [[1, 1, 1]] * 60, dtype=np.float64)
    router = train_router(
        "linear", prompts, quality, ["small", "mid", "big"], target="quality", costs=np.array([0.001, 0.01, 0.1])
    )
    router.calibrate(prompts)
    path = tmp_path / "quality.npz"
    router.save(path)
    return path


def test_many_members_maximise_quality_minus_cost(tmp_path: Path) -> None:
    path = str(quality_router(tmp_path))
    cfg = Config.model_validate(
        {
            "model_groups": {
                "s": member("a"),
                "m": member("b"),
                "b": member("c"),
                "auto": {
                    "router": {
                        "kind": "learned",
                        "members": ["s", "m", "b"],
                        "model_path": path,
                        "cost_weight": 1.0,
                        "member_models": {"s": "small", "m": "mid", "b": "big"},
                    }
                },
            }
        }
    )
    _, routers = build(cfg)
    auto = routers["auto"]
    hello = auto.decide(request("say hello to my friend please"), DEFAULT_OPTIONS)
    maths = auto.decide(request("solve the integral with calculus"), DEFAULT_OPTIONS)
    assert (hello.chosen, maths.chosen) == ("s", "b")
    assert hello.utilities is not None and set(hello.utilities) == {"s", "m", "b"}
    # a huge cost weight makes the cheapest member win everything; zero makes quality alone decide
    assert auto.decide(request("solve the integral with calculus"), RouteOptions(cost_weight=1e6)).chosen == "s"
    with pytest.raises(errors.InvalidRequestError):
        auto.decide(request("x"), RouteOptions(cost_weight=-1.0))


def test_bad_router_files_fail_at_start_up(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, nothing=np.zeros(1))
    with pytest.raises(errors.ConfigError, match="model_groups.auto.router"):
        build(config({"kind": "learned", "model_path": str(bogus)}))
    with pytest.raises(errors.ConfigError, match="exactly two members"):
        cfg = config({"kind": "learned", "members": ["cheap", "strong", "third"]}, third=member("demo-3"))
        build(cfg)
    with pytest.raises(errors.ConfigError, match="scorer_path"):
        build(config({"kind": "cascade"}))


def test_missing_numpy_is_a_config_error_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "switchyard.routing.learned", None)
    monkeypatch.setitem(sys.modules, "switchyard.routing.learned.deciders", None)
    with pytest.raises(errors.ConfigError, match=r"needs numpy.*switchyard\[router\]"):
        build(config({"kind": "learned"}))
    build(config({"kind": "random"}))  # the baselines need no numpy


def test_prompt_text_is_the_last_user_message() -> None:
    chat = msgspec.json.decode(
        json.dumps(
            {
                "model": "auto",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": [{"type": "text", "text": "first"}]},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": [{"type": "text", "text": "second"}]},
                ],
            }
        ).encode(),
        type=ChatRequest,
    )
    assert prompt_text(chat) == "second"


def test_pipeline_serves_the_chosen_member_and_explains_it() -> None:
    executor, routers = build(config({"kind": "learned", "strong_share": 0.3}))
    pipeline = Pipeline(executor, routers=routers)

    async def run(text: str, stream: bool) -> tuple[RequestContext, str]:
        ctx = RequestContext("r1", "/v1/chat/completions", None)
        chat = request(text, stream=stream)
        result = await pipeline.chat(ctx, ChatCall(chat, msgspec.json.encode(chat)))
        if isinstance(result, Reply):
            return ctx, json.loads(result.body)["model"]
        models = [json.loads(p)["model"] async for batch in result.batches() for p in batch]
        return ctx, models[0]

    for stream in (False, True):
        ctx, model = asyncio.run(run(HARD, stream))
        assert model == "demo-strong" and ctx.trace.deployment == "strong/0"
        assert ctx.decision is not None and ctx.decision.chosen == "strong"
        assert ctx.headers()["x-switchyard-route"].startswith("learned;chosen=strong")
        ctx, model = asyncio.run(run(EASY, stream))
        decision = ctx.decision
        assert decision is not None and decision.score is not None and decision.threshold is not None
        assert model == "demo-cheap" and decision.score < decision.threshold


def test_the_shipped_router_file_is_small_and_versioned() -> None:
    from switchyard.routing.learned import VERSION, LearnedRouter

    assert DEFAULT_ROUTER.stat().st_size < 1_000_000
    router = LearnedRouter.load(DEFAULT_ROUTER)
    assert router.kind == "linear" and router.target == "win" and VERSION == 1
    assert router.settings["version"] and router.settings["calibrated_on_sources"]
