"""Prompt features with a numpy-only inference path: TF-IDF (word 1-2-grams) and an optional LSA projection.

Training fits scikit-learn's ``TfidfVectorizer`` (and ``TruncatedSVD``) and exports the vocabulary, idf weights and
projection; :class:`TfidfFeatures` reproduces ``TfidfVectorizer.transform`` (lowercase, token pattern
``(?u)\\b\\w\\w+\\b``, sublinear tf, l2 norm) with numpy only, so the gateway never imports scikit-learn.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class TfidfFeatures:
    """TF-IDF over a fixed vocabulary; with ``projection`` (vocab × d) the output is the l2-normalised LSA vector."""

    vocabulary: dict[str, int]
    idf: FloatArray
    ngram_max: int = 2
    projection: FloatArray | None = None
    length_feature: bool = True
    # Answers need single-character tokens too (multiple-choice letters); prompts use sklearn's default.
    token_pattern: str = TOKEN.pattern

    @property
    def dim(self) -> int:
        base = len(self.idf) if self.projection is None else self.projection.shape[1]
        return base + (1 if self.length_feature else 0)

    def sparse(self, text: str) -> tuple[NDArray[np.intp], FloatArray]:
        """Indices and l2-normalised sublinear tf-idf values of one text (sklearn's transform)."""
        tokens = re.findall(self.token_pattern, text.lower())
        grams: list[str] = list(tokens)
        for n in range(2, self.ngram_max + 1):
            grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        counts = Counter(g for g in grams if g in self.vocabulary)
        if not counts:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        index = np.fromiter((self.vocabulary[g] for g in counts), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[index]
        return index, values / np.linalg.norm(values)

    def transform(self, texts: list[str]) -> FloatArray:
        """Dense features (n × dim). Without a projection the width is the vocabulary size: keep batches small."""
        out = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            index, values = self.sparse(text)
            if self.projection is None:
                out[row, index] = values
            elif len(index):
                vec = values @ self.projection[index]
                norm = np.linalg.norm(vec)
                out[row, : self.projection.shape[1]] = vec / norm if norm > 0 else vec
            if self.length_feature:
                out[row, -1] = length_feature(text)
        return out

    def arrays(self, prefix: str = "features") -> dict[str, NDArray[np.generic]]:
        """Arrays for the router file (no pickled objects)."""
        words = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        arrays: dict[str, NDArray[np.generic]] = {f"{prefix}.vocab": np.array(words), f"{prefix}.idf": self.idf}
        if self.projection is not None:
            arrays[f"{prefix}.projection"] = self.projection.astype(np.float32)
        return arrays

    def meta(self) -> dict[str, object]:
        meta: dict[str, object] = {"kind": "tfidf", "ngram_max": self.ngram_max, "length_feature": self.length_feature}
        if self.token_pattern != TOKEN.pattern:  # files with the default stay byte-compatible
            meta["token_pattern"] = self.token_pattern
        return meta

    @classmethod
    def from_arrays(
        cls, meta: dict[str, object], arrays: dict[str, NDArray[np.generic]], prefix: str = "features"
    ) -> TfidfFeatures:
        words = [str(w) for w in arrays[f"{prefix}.vocab"]]
        projection = arrays.get(f"{prefix}.projection")
        ngram = meta.get("ngram_max", 2)
        return cls(
            vocabulary={w: i for i, w in enumerate(words)},
            idf=np.asarray(arrays[f"{prefix}.idf"], dtype=np.float64),
            ngram_max=int(ngram) if isinstance(ngram, int) else 2,
            projection=None if projection is None else np.asarray(projection, dtype=np.float64),
            length_feature=bool(meta.get("length_feature", True)),
            token_pattern=str(meta.get("token_pattern", TOKEN.pattern)),
        )


def length_feature(text: str) -> float:
    """log(1 + characters), scaled to roughly unit range for prompts up to ~20k characters."""
    return math.log1p(len(text)) / 10.0


def fit_tfidf(
    texts: list[str],
    *,
    max_features: int = 30000,
    svd_dims: int = 0,
    seed: int = 0,
    length: bool = True,
    token_pattern: str = TOKEN.pattern,
) -> TfidfFeatures:
    """Fit the vocabulary and idf (scikit-learn, training only); ``svd_dims > 0`` adds an LSA projection."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=max_features, token_pattern=token_pattern
    )
    matrix = vectorizer.fit_transform(texts)
    vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
    idf = np.asarray(vectorizer.idf_, dtype=np.float64)
    projection = None
    if svd_dims > 0:
        dims = min(svd_dims, matrix.shape[1] - 1, matrix.shape[0] - 1)
        svd = TruncatedSVD(dims, random_state=seed).fit(matrix)
        projection = np.asarray(svd.components_.T, dtype=np.float64)
    return TfidfFeatures(vocabulary, idf, 2, projection, length, token_pattern)


STAT_NAMES = (
    "log_chars",
    "log_words",
    "digit_share",
    "log_math_symbols",
    "log_lines",
    "mean_word_length",
    "log_option_chars",
    "log_first_line_chars",
    "question_marks",
    "has_digit",
    "log_capitals",
    "has_not",
    "has_except",
)
MATH = re.compile(r"[=+*/^<>$\\]")
OPTION_LINE = re.compile(r"^\(?[A-Ea-e][.)] ")


def text_stats(text: str) -> FloatArray:
    """Domain-agnostic prompt statistics (length, digits, maths symbols, answer options, negations)."""
    words = text.split()
    lines = text.split("\n")
    options = [line for line in lines if OPTION_LINE.match(line)]
    lowered = text.lower()
    chars = max(len(text), 1)
    return np.array(
        [
            math.log1p(len(text)),
            math.log1p(len(words)),
            sum(c.isdigit() for c in text) / chars,
            math.log1p(len(MATH.findall(text))),
            math.log1p(len(lines)),
            sum(len(w) for w in words) / len(words) if words else 0.0,
            math.log1p(sum(len(o) for o in options) / len(options)) if options else 0.0,
            math.log1p(len(lines[0])),
            float(text.count("?")),
            float(any(c.isdigit() for c in text)),
            math.log1p(sum(c.isupper() for c in text)),
            float(" not " in f" {lowered} "),
            float("except" in lowered),
        ]
    )


def _quadratic(x: FloatArray) -> FloatArray:
    """x and every product x_i·x_j (i ≤ j): a logistic head on these is quadratic in the statistics."""
    i, j = np.triu_indices(x.shape[1])
    return np.hstack([x, x[:, i] * x[:, j]])


@dataclass(frozen=True)
class StatsFeatures:
    """Standardised quadratic expansion of :func:`text_stats`; it transfers to unseen domains better than words."""

    mean: FloatArray  # of the raw statistics
    std: FloatArray
    expanded_mean: FloatArray  # of the quadratic expansion of the standardised statistics
    expanded_std: FloatArray

    @property
    def dim(self) -> int:
        return len(self.expanded_mean)

    def transform(self, texts: list[str]) -> FloatArray:
        raw = np.array([text_stats(t) for t in texts]).reshape(len(texts), len(STAT_NAMES))
        expanded = _quadratic((raw - self.mean) / self.std)
        return np.asarray((expanded - self.expanded_mean) / self.expanded_std, dtype=np.float64)

    def arrays(self, prefix: str = "features") -> dict[str, NDArray[np.generic]]:
        return {
            f"{prefix}.mean": self.mean,
            f"{prefix}.std": self.std,
            f"{prefix}.expanded_mean": self.expanded_mean,
            f"{prefix}.expanded_std": self.expanded_std,
        }

    def meta(self) -> dict[str, object]:
        return {"kind": "stats", "names": list(STAT_NAMES)}

    @classmethod
    def from_arrays(
        cls, meta: dict[str, object], arrays: dict[str, NDArray[np.generic]], prefix: str = "features"
    ) -> StatsFeatures:
        if meta.get("names") != list(STAT_NAMES):
            raise ValueError("router file was trained on other text statistics")
        return cls(*(np.asarray(arrays[f"{prefix}.{k}"], dtype=np.float64) for k in STAT_FIELDS))


STAT_FIELDS = ("mean", "std", "expanded_mean", "expanded_std")


def fit_stats(texts: list[str]) -> StatsFeatures:
    raw = np.array([text_stats(t) for t in texts])
    mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-9
    expanded = _quadratic((raw - mean) / std)
    return StatsFeatures(mean, std, expanded.mean(axis=0), expanded.std(axis=0) + 1e-9)
