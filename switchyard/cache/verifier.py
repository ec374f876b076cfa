"""The semantic cache's second stage: is a stored question really the same question as the new one?

Cosine similarity alone cannot tell "how to open a bank account" from "how to close a bank account" (0.73 apart
from 1.0 with MiniLM, while many true paraphrases score lower). The verifier looks at the pair the way a person
would: word and character overlap weighted by rarity, a different number, a negation on one side only, a different
question word, capitalised names on one side only, the cosine, and where the two embeddings differ (|u - v| and
u * v, dimension by dimension). A gradient-boosted tree model over these features
is trained offline (``switchyard train cache``, scikit-learn) and stored as plain arrays in ``verifier_model.npz``
(no pickle); ``forest.py`` evaluates it with numpy, all trees at once.

The features need only the two texts and their sentence vectors, which the index keeps, so a lookup never re-embeds
the stored question. Each text is profiled once (words, n-grams, word pieces; ``TextProfile``) and recent profiles
are kept, so a lookup against four candidates profiles the new question once, not four times.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from switchyard.cache.forest import Forest, forest_from_arrays

__all__ = ["FEATURE_NAMES", "Forest", "PairVerifier", "forest_from_arrays", "pair_features"]

Vectors = NDArray[np.float32]
MODEL_PATH = Path(__file__).with_name("verifier_model.npz")
FORMAT_VERSION = 1
PROFILE_CACHE = 1024  # about 15 kB per profile (mostly the n-gram sets): ~15 MB when full

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


def _jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
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
class TextProfile:
    """Everything the pair features need from one text, computed once per text instead of once per pair.

    Each field is built exactly as ``lexical_features`` and ``rarity_features`` build it, so the features of a
    pair of profiles equal the reference functions' (``tests/unit/cache/test_verifier_features.py`` checks).
    """

    length: int
    words: list[str]
    word_set: frozenset[str]
    content: frozenset[str]
    numbers: frozenset[str]
    question_word: str
    negated: bool
    char3: frozenset[str]
    char5: frozenset[str]
    names: frozenset[str]
    pieces: frozenset[int]
    piece_weight: float


def text_profile(text: str, ids: Sequence[int], idf: NDArray[np.float32]) -> TextProfile:
    words = _words(text)
    word_set = frozenset(words)
    pieces = frozenset(ids)
    return TextProfile(
        length=len(text),
        words=words,
        word_set=word_set,
        content=word_set - _STOP,
        numbers=frozenset(w for w in word_set if w.isdigit()),
        question_word=next((w for w in words if w in _QUESTION_WORDS), ""),
        negated=bool(word_set & _NEGATIONS),
        char3=frozenset(_char_grams(text, 3)),
        char5=frozenset(_char_grams(text, 5)),
        names=frozenset(_names(text)),
        pieces=pieces,
        piece_weight=float(idf[list(pieces)].sum()) if pieces else 0.0,
    )


def profile_features(a: TextProfile, b: TextProfile, cosine: float, idf: NDArray[np.float32]) -> list[float]:
    """``[cosine, *lexical_features(a, b), *rarity_features(ids_a, ids_b, idf)]`` from the two profiles."""
    wa, wb = a.words, b.words
    ca, cb = a.content, b.content
    only_a, only_b = len(ca - cb), len(cb - ca)
    common = a.pieces & b.pieces
    shared = float(idf[list(common)].sum()) if common else 0.0
    rare_a, rare_b = a.piece_weight - shared, b.piece_weight - shared
    return [
        cosine,
        _jaccard(a.word_set, b.word_set),
        _jaccard(ca, cb),
        _jaccard(a.char3, b.char3),
        _jaccard(a.char5, b.char5),
        min(a.length, b.length) / max(a.length, b.length, 1),
        float(abs(len(wa) - len(wb))),
        float(min(len(wa), len(wb))),
        float(a.numbers != b.numbers),
        float(bool(a.numbers ^ b.numbers)),
        float(a.negated != b.negated),
        float(a.question_word != b.question_word),
        float(wa[:1] == wb[:1]),
        float(only_a),
        float(only_b),
        float(min(only_a, only_b)),
        float(max(only_a, only_b)),
        float(len(a.names ^ b.names)),
        float(wa[-1:] == wb[-1:]),
        float(len(ca & cb)),
        2 * shared / max(a.piece_weight + b.piece_weight, 1e-6),
        rare_a,
        rare_b,
        max(rare_a, rare_b),
        min(rare_a, rare_b),
        float(a.pieces == b.pieces),
    ]


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
        # A lookup pairs the new question with each candidate: profile it once, and keep the profiles of recent
        # texts (stored questions that keep coming up as candidates), up to PROFILE_CACHE of them.
        self._profile = lru_cache(maxsize=PROFILE_CACHE)(self._build_profile)
        self._forest.masks()  # compile the trees now, not in the first lookup

    def features(self, pairs: Sequence[tuple[str, str]], a: Vectors, b: Vectors) -> NDArray[np.float64]:
        return pair_features(pairs, a, b, self._idf, self._tokenizer, self._profile)

    def _build_profile(self, text: str) -> TextProfile:
        return text_profile(text, self._tokenizer.encode(text).ids[1:-1], self._idf)

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
    pairs: Sequence[tuple[str, str]],
    a: Vectors,
    b: Vectors,
    idf: NDArray[np.float32],
    tokenizer: Any,
    profile: Callable[[str], TextProfile] | None = None,
) -> NDArray[np.float64]:
    """One row of ``FEATURE_NAMES`` per pair; the same function serves training and lookups. ``profile`` may
    supply (cached) text profiles; by default each distinct text is profiled once for this call."""
    u = np.asarray(a, dtype=np.float64).reshape(len(pairs), -1)
    v = np.asarray(b, dtype=np.float64).reshape(len(pairs), -1)
    cosines = (u * v).sum(axis=1)
    if profile is None:
        texts = list(dict.fromkeys(t for pair in pairs for t in pair))
        table = {t: text_profile(t, ids, idf) for t, ids in zip(texts, piece_ids(tokenizer, texts), strict=True)}
        profile = table.__getitem__
    rows = [
        profile_features(profile(ta), profile(tb), float(cos), idf)
        for (ta, tb), cos in zip(pairs, cosines, strict=True)
    ]
    scalar = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    return np.hstack([scalar, np.abs(u - v), u * v])
