"""The semantic cache's second stage: is a stored question really the same question as the new one?

Cosine similarity alone cannot tell "how to open a bank account" from "how to close a bank account" (0.73 apart
from 1.0 with MiniLM, while many true paraphrases score lower). The verifier looks at the pair the way a person
would: word and character overlap weighted by rarity, a different number, a negation on one side only, a different
question word, capitalised names on one side only, the cosine, and where the two embeddings differ (|u - v| and
u * v, dimension by dimension). A gradient-boosted tree model over these features
is trained offline (``switchyard train cache``, scikit-learn) and stored as plain arrays in ``verifier_model.npz``
(no pickle); here it is evaluated with numpy, all trees at once, in tens of microseconds.

The features need only the two texts and their sentence vectors, which the index keeps, so a lookup never re-embeds
the stored question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]
MODEL_PATH = Path(__file__).with_name("verifier_model.npz")
FORMAT_VERSION = 1

_STOP = frozenset(
    "a an the of to in on for and or is are was were be do does did i you my me we our your it its this that what how"
    " why when where which who can should would will could with at by from as about into if than then so there their"
    " they he she his her have has had not no".split()
)
_NEGATIONS = frozenset(
    "not no never cannot cant dont doesnt didnt isnt arent wasnt werent wont shouldnt wouldnt couldnt without nothing"
    " none".split()
)
_QUESTION_WORDS = frozenset(
    "what how why when where which who whom whose can is are do does should would will could".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z]+")
_SPACES = re.compile(r"\s+")

FEATURE_NAMES = (
    "cosine",
    "word_jaccard",
    "content_word_jaccard",
    "char3_jaccard",
    "char5_jaccard",
    "char_length_ratio",
    "word_count_diff",
    "min_word_count",
    "numbers_differ",
    "number_on_one_side",
    "negation_on_one_side",
    "question_word_differs",
    "same_first_word",
    "content_words_only_in_a",
    "content_words_only_in_b",
    "min_content_words_only_in_one",
    "max_content_words_only_in_one",
    "names_only_on_one_side",
    "same_last_word",
    "shared_content_words",
    "idf_weighted_overlap",
    "idf_only_in_a",
    "idf_only_in_b",
    "max_idf_only_in_one",
    "min_idf_only_in_one",
    "same_word_pieces",
    *(f"abs_diff_{i}" for i in range(384)),
    *(f"product_{i}" for i in range(384)),
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("'", ""))


def _char_grams(text: str, n: int) -> set[str]:
    squeezed = _SPACES.sub(" ", text.lower())
    return {squeezed[i : i + n] for i in range(len(squeezed) - n + 1)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def _names(text: str) -> set[str]:
    # Capitalised words stand in for named entities; the first word of a question is capitalised anyway.
    found = _CAPITALISED.findall(text)
    first = text.split()[:1]
    if found and first == found[:1]:
        found = found[1:]
    return {w.lower() for w in found}


def lexical_features(a: str, b: str) -> list[float]:
    """The features that need only the two texts (everything but the cosine and the word-piece rarity)."""
    wa, wb = _words(a), _words(b)
    sa, sb = set(wa), set(wb)
    ca, cb = sa - _STOP, sb - _STOP
    na = {w for w in sa if w.isdigit()}
    nb = {w for w in sb if w.isdigit()}
    qa = next((w for w in wa if w in _QUESTION_WORDS), "")
    qb = next((w for w in wb if w in _QUESTION_WORDS), "")
    only_a, only_b = len(ca - cb), len(cb - ca)
    return [
        _jaccard(sa, sb),
        _jaccard(ca, cb),
        _jaccard(_char_grams(a, 3), _char_grams(b, 3)),
        _jaccard(_char_grams(a, 5), _char_grams(b, 5)),
        min(len(a), len(b)) / max(len(a), len(b), 1),
        float(abs(len(wa) - len(wb))),
        float(min(len(wa), len(wb))),
        float(na != nb),
        float(bool(na ^ nb)),
        float(bool(sa & _NEGATIONS) != bool(sb & _NEGATIONS)),
        float(qa != qb),
        float(wa[:1] == wb[:1]),
        float(only_a),
        float(only_b),
        float(min(only_a, only_b)),
        float(max(only_a, only_b)),
        float(len(_names(a) ^ _names(b))),
        float(wa[-1:] == wb[-1:]),
        float(len(ca & cb)),
    ]


def rarity_features(ids_a: Sequence[int], ids_b: Sequence[int], idf: NDArray[np.float32]) -> list[float]:
    """Word-piece overlap weighted by inverse document frequency: a shared rare word means more than "the"."""
    sa, sb = set(ids_a), set(ids_b)
    weight_a = float(idf[list(sa)].sum()) if sa else 0.0
    weight_b = float(idf[list(sb)].sum()) if sb else 0.0
    shared = float(idf[list(sa & sb)].sum()) if sa & sb else 0.0
    only_a, only_b = weight_a - shared, weight_b - shared
    return [
        2 * shared / max(weight_a + weight_b, 1e-6),
        only_a,
        only_b,
        max(only_a, only_b),
        min(only_a, only_b),
        float(sa == sb),
    ]


@dataclass(frozen=True)
class Forest:
    """Gradient-boosted regression trees flattened into arrays (node ids are global across trees)."""

    roots: NDArray[np.int64]
    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    left: NDArray[np.int64]
    right: NDArray[np.int64]
    is_leaf: NDArray[np.bool_]
    value: NDArray[np.float64]
    baseline: float
    depth: int

    def decision(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw scores (log-odds) for each row of ``x``: every tree walks one level per step, in lock-step.

        A leaf is its own child on both sides (threshold +inf, feature 0), so no step needs to ask whether a
        walk has ended; every few steps we stop early once no walk moved.
        """
        children, feature, threshold = self._walk_tables()
        width = x.shape[1]
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        offsets = (np.arange(x.shape[0]) * width)[:, None]
        node = np.broadcast_to(self.roots, (x.shape[0], self.roots.shape[0])).copy()
        for step in range(self.depth):
            go_right = flat[offsets + feature[node]] > threshold[node]
            moved = children[2 * node + go_right]
            if step % 4 == 3 and np.array_equal(moved, node):
                break
            node = moved
        result: NDArray[np.float64] = self.value[node].sum(axis=1) + self.baseline
        return result

    def _walk_tables(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        tables = self.__dict__.get("_tables")
        if tables is None:
            ids = np.arange(len(self.feature))
            children = np.stack([np.where(self.is_leaf, ids, self.left), np.where(self.is_leaf, ids, self.right)], 1)
            feature = np.where(self.is_leaf, 0, self.feature)
            threshold = np.where(self.is_leaf, np.inf, self.threshold)
            tables = (children.ravel(), feature, threshold)
            object.__setattr__(self, "_tables", tables)  # frozen dataclass: computed once, on first use
        result: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]] = tables
        return result


class PairVerifier:
    """Scores question pairs with the packaged model: the probability that the two ask the same thing.

    ``threshold`` is the score tuned offline for the target precision; ``prefilter`` is the cosine below which a
    pair is not worth verifying; ``cosine_threshold`` is the tuned cosine-only threshold for when the verifier is
    switched off. All three travel in the model file with the measurements that chose them (``metrics``).
    """

    def __init__(self, path: Path = MODEL_PATH) -> None:
        with np.load(path, allow_pickle=False) as data:
            arrays: dict[str, Any] = {name: data[name] for name in data.files}
        version = int(arrays["format_version"])
        if version != FORMAT_VERSION:
            raise ValueError(f"verifier model {path} has format {version}, this code reads {FORMAT_VERSION}")
        names = tuple(str(n) for n in arrays["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError(f"verifier model {path} was trained on other features: {names}")
        self._forest = forest_from_arrays(arrays)
        self._idf = arrays["idf"].astype(np.float32)
        self.threshold = float(arrays["threshold"])
        self.prefilter = float(arrays["prefilter"])
        self.cosine_threshold = float(arrays["cosine_threshold"])
        self.metrics = {str(k): float(v) for k, v in zip(arrays["metric_names"], arrays["metric_values"], strict=True)}
        self._tokenizer = word_pieces()

    def features(self, pairs: Sequence[tuple[str, str]], a: Vectors, b: Vectors) -> NDArray[np.float64]:
        return pair_features(pairs, a, b, self._idf, self._tokenizer)

    def score(self, pairs: Sequence[tuple[str, str]], a: Vectors, b: Vectors) -> NDArray[np.float64]:
        """Probabilities in [0, 1], one per pair (``a[i]``, ``b[i]``: unit vectors of ``pairs[i]``); pairs whose
        cosine is under the prefilter score 0."""
        if not pairs:
            return np.zeros(0)
        x = self.features(pairs, a, b)
        probability: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-self._forest.decision(x)))
        return np.where(x[:, 0] >= self.prefilter, probability, 0.0)


def word_pieces() -> Any:
    """The embedding model's WordPiece tokenizer (the rarity features count word pieces)."""
    from tokenizers import BertWordPieceTokenizer

    from switchyard.cache.embed import VOCAB_PATH

    tokenizer = BertWordPieceTokenizer(str(VOCAB_PATH), lowercase=True)
    tokenizer.enable_truncation(128)
    return tokenizer


def piece_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Word-piece ids of each text without [CLS] and [SEP]."""
    return [list(e.ids[1:-1]) for e in tokenizer.encode_batch(list(texts))] if texts else []


def pair_features(
    pairs: Sequence[tuple[str, str]], a: Vectors, b: Vectors, idf: NDArray[np.float32], tokenizer: Any
) -> NDArray[np.float64]:
    """One row of ``FEATURE_NAMES`` per pair; the same function serves training and lookups."""
    u = np.asarray(a, dtype=np.float64).reshape(len(pairs), -1)
    v = np.asarray(b, dtype=np.float64).reshape(len(pairs), -1)
    cosines = (u * v).sum(axis=1)
    ids = piece_ids(tokenizer, [t for pair in pairs for t in pair])
    rows = [
        [float(cos), *lexical_features(ta, tb), *rarity_features(ids[2 * i], ids[2 * i + 1], idf)]
        for i, ((ta, tb), cos) in enumerate(zip(pairs, cosines, strict=True))
    ]
    scalar = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    return np.hstack([scalar, np.abs(u - v), u * v])


def forest_from_arrays(arrays: dict[str, Any]) -> Forest:
    return Forest(
        roots=arrays["roots"].astype(np.int64),
        feature=arrays["feature"].astype(np.int64),
        threshold=arrays["node_threshold"].astype(np.float64),
        left=arrays["left"].astype(np.int64),
        right=arrays["right"].astype(np.int64),
        is_leaf=arrays["is_leaf"].astype(np.bool_),
        value=arrays["value"].astype(np.float64),
        baseline=float(arrays["baseline"]),
        depth=int(arrays["depth"]),
    )
