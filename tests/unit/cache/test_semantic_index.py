"""The semantic cache's vector index: namespaces never mix, TTL and size evict, the HNSW path agrees with exact."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("usearch")

from switchyard.cache.semantic_index import VectorIndex  # noqa: E402


def unit(seed: int, dims: int = 32) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_search_returns_the_nearest_key_with_its_cosine() -> None:
    index = VectorIndex(32, max_entries=100)
    for i in range(10):
        index.add("ns", unit(i), f"text {i}", f"key{i}", ttl_s=60)
    found = index.search("ns", unit(3), k=2)
    assert found[0].entry.key == "key3"
    assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert found[0].entry.text == "text 3"
    assert found[1].similarity < found[0].similarity
    np.testing.assert_allclose(found[0].vector, unit(3), atol=1e-6)


def test_namespaces_are_isolated() -> None:
    index = VectorIndex(32, max_entries=100)
    index.add("tenant-a", unit(1), "q", "a-key", ttl_s=60)
    assert index.search("tenant-b", unit(1)) == []
    index.add("tenant-b", unit(2), "other", "b-key", ttl_s=60)
    # The same vector as tenant-a's entry, asked in tenant-b, finds only tenant-b's (far) entry.
    assert [c.entry.key for c in index.search("tenant-b", unit(1))] == ["b-key"]


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    index = VectorIndex(32, max_entries=100, clock=clock)
    index.add("ns", unit(1), "old", "k1", ttl_s=10)
    index.add("ns", unit(2), "new", "k2", ttl_s=100)
    clock.now += 11
    assert [c.entry.key for c in index.search("ns", unit(1), k=4)] == ["k2"]
    assert len(index) == 1
    clock.now += 100
    assert index.purge_expired() == 1
    assert len(index) == 0


def test_size_limit_evicts_the_oldest_across_namespaces() -> None:
    index = VectorIndex(32, max_entries=3)
    index.add("a", unit(1), "1", "k1", ttl_s=60)
    index.add("b", unit(2), "2", "k2", ttl_s=60)
    index.add("a", unit(3), "3", "k3", ttl_s=60)
    index.add("b", unit(4), "4", "k4", ttl_s=60)
    assert len(index) == 3
    assert [c.entry.key for c in index.search("a", unit(1), k=4)] == ["k3"]
    assert index.namespace_size("b") == 2


def test_same_key_replaces_its_entry() -> None:
    index = VectorIndex(32, max_entries=10)
    index.add("ns", unit(1), "first wording", "k", ttl_s=60)
    index.add("ns", unit(2), "second wording", "k", ttl_s=60)
    assert len(index) == 1
    assert index.search("ns", unit(2))[0].entry.text == "second wording"


def test_large_space_uses_the_ann_graph_and_agrees_with_exact_search() -> None:
    vectors = np.stack([unit(i, 64) for i in range(600)])
    exact = VectorIndex(64, max_entries=10_000, ann_from=10_000)
    ann = VectorIndex(64, max_entries=10_000, ann_from=200)
    keys = [f"k{i}" for i in range(600)]
    texts = [str(i) for i in range(600)]
    exact.add_many("ns", vectors, texts, keys, ttl_s=60)
    ann.add_many("ns", vectors[:300], texts[:300], keys[:300], ttl_s=60)
    for i in range(300, 600):  # past ann_from: one by one into the graph
        ann.add("ns", vectors[i], texts[i], keys[i], ttl_s=60)
    assert ann._spaces["ns"]._ann is not None and exact._spaces["ns"]._ann is None
    agree = 0
    for i in range(0, 600, 7):
        query = vectors[i] + 0.05 * unit(10_000 + i, 64)
        query /= np.linalg.norm(query)
        top_exact = exact.search("ns", query, k=1)[0]
        top_ann = ann.search("ns", query, k=1)[0]
        agree += top_exact.entry.key == top_ann.entry.key
        if top_ann.entry.key == top_exact.entry.key:
            assert top_ann.similarity == pytest.approx(top_exact.similarity, abs=2e-3)  # f16 graph vs f32 exact
    assert agree >= 80  # of 86: HNSW is approximate, but not at this size


def test_removed_entries_leave_the_graph() -> None:
    clock = Clock()
    index = VectorIndex(32, max_entries=10_000, ann_from=50, clock=clock)
    for i in range(100):
        index.add("ns", unit(i), str(i), f"k{i}", ttl_s=10 if i == 7 else 1000)
    clock.now += 20
    found = index.search("ns", unit(7), k=4)
    assert "k7" not in [c.entry.key for c in found]
    # The slot is reused by the next add, and the graph finds the new occupant.
    index.add("ns", unit(5000), "new", "fresh", ttl_s=1000)
    assert index.search("ns", unit(5000), k=1)[0].entry.key == "fresh"
