"""Semantic-cache metrics on labelled pairs: precision, recall, wrong-hit rate and F1 at a threshold, the threshold
for a target precision, ROC-AUC, and a replay of paraphrases through a real index.

Vocabulary, for a pair (cached question, new question) and a score (cosine or verifier probability):
a *hit* is score >= threshold. Precision = correct hits / hits; recall = correct hits / duplicates;
wrong-hit rate = hits on non-duplicates / non-duplicates (how often a different question gets a stored answer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from switchyard.cache.semantic import SemanticCache

Scores = NDArray[np.float64]
Labels = NDArray[np.int64]


@dataclass(frozen=True)
class Operating:
    threshold: float
    hits: int
    precision: float
    recall: float
    wrong_hit_rate: float
    f1: float


def at_threshold(scores: Scores, labels: Labels, threshold: float) -> Operating:
    hit = np.asarray(scores) >= threshold
    positive = np.asarray(labels) == 1
    correct = int((hit & positive).sum())
    wrong = int((hit & ~positive).sum())
    hits = correct + wrong
    precision = correct / hits if hits else 1.0  # no hit served, no wrong answer served
    recall = correct / max(int(positive.sum()), 1)
    wrong_rate = wrong / max(int((~positive).sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall and hits else 0.0
    return Operating(float(threshold), hits, precision, recall, wrong_rate, f1)


def table(scores: Scores, labels: Labels, thresholds: Sequence[float]) -> list[Operating]:
    return [at_threshold(scores, labels, t) for t in thresholds]


def operating_threshold(scores: Scores, labels: Labels, target_precision: float) -> float:
    """The lowest threshold whose hits reach ``target_precision`` (the most recall at that precision).

    With no such point the threshold is just above the best score: serve nothing rather than wrong answers.
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    correct = np.cumsum(np.asarray(labels)[order] == 1)
    precision = correct / np.arange(1, len(ranked) + 1)
    # Only cut between distinct scores: every pair tied with the cut is a hit too.
    last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
    ok = np.flatnonzero((precision >= target_precision) & last_of_tie)
    if not len(ok):
        return float(np.nextafter(ranked[0], np.inf)) if len(ranked) else 1.0
    return float(ranked[ok[-1]])


def roc_auc(scores: Scores, labels: Labels) -> float:
    """Probability that a random duplicate outscores a random non-duplicate (ties count half)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(labels) == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Replay:
    """Questions asked against an index holding their pair partner and many other questions.

    ``unlabelled``: hits on a stored question the data says nothing about (QQP labels only the pair itself, and
    its questions repeat across pairs, so such a hit may well be right); precision leaves them out.
    """

    queries: int
    correct: int
    wrong: int
    unlabelled: int
    missed: int

    @property
    def precision(self) -> float:
        hits = self.correct + self.wrong
        return self.correct / hits if hits else 1.0


def replay(
    cache: SemanticCache,
    stored: Sequence[str],
    stored_vectors: NDArray[np.float32],
    asked: Sequence[str],
    asked_vectors: NDArray[np.float32],
    partner: Sequence[int],
    label: Sequence[int],
    others_wrong: bool,
    namespace: str = "eval",
    step: Callable[[int], None] = lambda _: None,
) -> Replay:
    """Store ``stored``, ask ``asked``: question i was paired with ``stored[partner[i]]``, a duplicate when
    ``label[i]`` is 1. A hit on the partner is correct or wrong by the label; a hit on any other stored question is
    wrong when ``others_wrong`` (every stored question differs), else unlabelled."""
    cache.add_vectors(namespace, list(stored), [str(i) for i in range(len(stored))], stored_vectors)
    correct = wrong = unlabelled = missed = 0
    for i, (text, vector) in enumerate(zip(asked, asked_vectors, strict=True)):
        found = cache.decide(namespace, text, vector)
        if found is None:
            missed += 1
        elif found[0] == str(partner[i]):
            correct += label[i] == 1
            wrong += label[i] != 1
        elif others_wrong:
            wrong += 1
        else:
            unlabelled += 1
        if i % 100 == 99:
            step(100)
    step(len(asked) % 100)
    return Replay(len(asked), correct, wrong, unlabelled, missed)
