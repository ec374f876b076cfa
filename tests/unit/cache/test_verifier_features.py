"""The verifier's fast paths (per-text profiles, split masks) against the straightforward reference: the lead
retrains the model on these features, so every value must stay what the reference computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

pytest.importorskip("tokenizers")

from switchyard.cache.forest import Forest  # noqa: E402
from switchyard.cache.verifier import (  # noqa: E402
    MODEL_PATH,
    PairVerifier,
    lexical_features,
    pair_features,
    piece_ids,
    rarity_features,
    word_pieces,
)

DATA = Path("/work/shared/data/gptcache_qqp/qqp_pairs_dev.json")
SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "gptcache_qqp" / "qqp_pairs_dev.json"
EXTRA = [
    ("How do I open a bank account?", "How do I close a bank account?"),
    ("What's 2 + 2?", "what is 2+2"),
    ("Is it not true?", "It is true."),
    ("", "Why?"),
    ("Barack Obama", "barack obama"),
    ("  spaced   out  ", "spaced out"),
    ("Où est la gare? 東京", "Where is the station in Tokyo?"),
]


def _pairs() -> list[tuple[str, str]]:
    path = DATA if DATA.is_file() else SHARED_DATA
    if not path.is_file():
        pytest.skip("QQP dev pairs not available")
    rows = json.loads(path.read_text())
    picked = rows[:200] + rows[10_000:10_200]
    return [(r["text_a"], r["text_b"]) for r in picked] + EXTRA


def _vectors(n: int, seed: int) -> NDArray[np.float32]:
    m = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _reference(pairs: list[tuple[str, str]], a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    """The features as first written: every pair on its own, both texts tokenised together per call."""
    idf = PairVerifier()._idf
    u = np.asarray(a, dtype=np.float64)
    v = np.asarray(b, dtype=np.float64)
    cosines = (u * v).sum(axis=1)
    ids = piece_ids(word_pieces(), [t for pair in pairs for t in pair])
    rows = [
        [float(cos), *lexical_features(ta, tb), *rarity_features(ids[2 * i], ids[2 * i + 1], idf)]
        for i, ((ta, tb), cos) in enumerate(zip(pairs, cosines, strict=True))
    ]
    return np.hstack([np.asarray(rows, dtype=np.float64), np.abs(u - v), u * v])


@pytest.fixture(scope="module")
def verifier() -> PairVerifier:
    if not MODEL_PATH.is_file():
        pytest.skip("no packaged verifier model")
    return PairVerifier()


def test_profiled_features_equal_the_reference(verifier: PairVerifier) -> None:
    pairs = _pairs()
    a, b = _vectors(len(pairs), 1), _vectors(len(pairs), 2)
    reference = _reference(pairs, a, b)
    # Twice through the verifier (second time from its profile cache), once through the training path.
    first = verifier.features(pairs, a, b)
    second = verifier.features(pairs, a, b)
    training = pair_features(pairs, a, b, verifier._idf, word_pieces())
    assert reference.shape == (len(pairs), 794)
    np.testing.assert_array_equal(first, reference)
    np.testing.assert_array_equal(second, reference)
    np.testing.assert_array_equal(training, reference)


def test_one_query_against_several_candidates_equals_the_reference(verifier: PairVerifier) -> None:
    # The lookup's shape: one new question, the same vector broadcast, several stored questions.
    pairs = _pairs()
    query = pairs[3][1]
    group = [(query, stored) for stored, _ in pairs[:4]]
    q = np.broadcast_to(_vectors(1, 3)[0], (4, 384))
    stored_vectors = _vectors(4, 4)
    np.testing.assert_array_equal(
        verifier.features(group, q, stored_vectors), _reference(group, np.asarray(q), stored_vectors)
    )


def test_split_masks_reach_the_same_leaves_as_the_walk(verifier: PairVerifier) -> None:
    pairs = _pairs()
    a = _vectors(len(pairs), 5)
    # Stored vectors near the asked ones, so the splits on |u - v| and u * v go both ways.
    b = a + 0.4 * _vectors(len(pairs), 6)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    x = verifier.features(pairs, a, b)
    forest: Forest = verifier._forest
    assert forest.masks() is not None, "the packaged trees should fit 32-bit masks"
    np.testing.assert_array_equal(forest.decision(x), forest.decision_walk(x))
    for rows in (x[:1], x[:4]):  # the sizes a lookup uses
        np.testing.assert_array_equal(forest.decision(rows), forest.decision_walk(rows))


def test_a_forest_with_large_trees_is_walked() -> None:
    # One tree of 33 leaves (a left-leaning chain) cannot be masked in 32 bits: decision falls back to the walk.
    splits = 32
    ids = np.arange(2 * splits + 1)
    is_leaf = np.zeros(len(ids), dtype=bool)
    left = np.zeros(len(ids), dtype=np.int64)
    right = np.zeros(len(ids), dtype=np.int64)
    # Node 2k splits (k = 0..31): its left child is leaf 2k+1, its right child the next split 2k+2.
    for k in range(splits):
        left[2 * k], right[2 * k] = 2 * k + 1, 2 * k + 2
        is_leaf[2 * k + 1] = True
    is_leaf[-1] = True
    forest = Forest(
        roots=np.array([0]), feature=np.zeros(len(ids), dtype=np.int64),
        threshold=np.where(is_leaf, 0.0, ids.astype(np.float64)), left=left, right=right, is_leaf=is_leaf,
        value=ids.astype(np.float64), baseline=0.5, depth=splits + 1,
    )
    assert forest.masks() is None
    x = np.array([[-1.0], [0.5], [10.5], [100.0]])
    # x = -1 stops at leaf 1; 0.5 passes split 0 (threshold 0) then stops at leaf 3; 10.5 passes thresholds
    # 0, 2, ..., 10 and stops at leaf 13; 100 passes all and ends at the last leaf, 64.
    np.testing.assert_array_equal(forest.decision(x), [1.5, 3.5, 13.5, 64.5])
