"""The cascade's answer scorer: P(an answer is good) from features of the query and the answer (numpy only).

Features: TF-IDF of the prompt ⊕ TF-IDF of the answer ⊕ [log answer length, mean token logprob, has logprobs].
One logistic head per model column (``models``); a member maps to a column by name (``member_models``), and a
file with a single column serves every member. Training (:func:`fit_scorer`, scikit-learn) runs offline only.

File format: like router files (``np.savez_compressed`` arrays plus a JSON ``meta``), format ``FORMAT``; read
with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from switchyard.routing.learned.features import TfidfFeatures, fit_tfidf
from switchyard.routing.learned.router import RouterFileError

FloatArray = NDArray[np.float64]
FORMAT = "switchyard-answer-scorer"
VERSION = 1
EXTRAS = 3  # log answer length, mean logprob, has logprobs
ANSWER_TOKENS = r"(?u)\b\w+\b"  # single characters count: multiple-choice answers are often one letter


@dataclass
class AnswerScorer:
    models: list[str]
    prompt_features: TfidfFeatures
    answer_features: TfidfFeatures
    weights: FloatArray  # (features × models)
    bias: FloatArray  # (models,)
    member_models: dict[str, str] | None = None

    def features(self, prompt: str, answer: str, logprob: float | None) -> FloatArray:
        p_index, p_values = self.prompt_features.sparse(prompt)
        a_index, a_values = self.answer_features.sparse(answer)
        width = len(self.prompt_features.idf) + len(self.answer_features.idf) + EXTRAS
        x = np.zeros(width)
        x[p_index] = p_values
        x[len(self.prompt_features.idf) + a_index] = a_values
        x[-3] = math.log1p(len(answer)) / 10.0
        x[-2] = logprob if logprob is not None else 0.0
        x[-1] = 1.0 if logprob is not None else 0.0
        return x

    def column(self, member: str) -> int:
        name = (self.member_models or {}).get(member, member)
        if name in self.models:
            return self.models.index(name)
        if len(self.models) == 1:
            return 0
        raise RouterFileError(f"the scorer has no column for member {member!r} (it has {', '.join(self.models)})")

    def score(self, member: str, prompt: str, answer: str, logprob: float | None) -> float:
        column = self.column(member)
        z = float(self.features(prompt, answer, logprob) @ self.weights[:, column] + self.bias[column])
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def save(self, path: Path) -> None:
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "models": self.models,
            "prompt_features": self.prompt_features.meta(),
            "answer_features": self.answer_features.meta(),
        }
        arrays: dict[str, Any] = {"weights": self.weights, "bias": self.bias}
        arrays.update(self.prompt_features.arrays("prompt"))
        arrays.update(self.answer_features.arrays("answer"))
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: Path, member_models: dict[str, str] | None = None) -> AnswerScorer:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        if "meta" not in arrays:
            raise RouterFileError(f"{path}: not a scorer file (no meta)")
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise RouterFileError(f"{path}: format {meta.get('format')} v{meta.get('version')}, want {FORMAT}")
        return cls(
            models=list(meta["models"]),
            prompt_features=TfidfFeatures.from_arrays(meta["prompt_features"], arrays, "prompt"),
            answer_features=TfidfFeatures.from_arrays(meta["answer_features"], arrays, "answer"),
            weights=np.asarray(arrays["weights"], dtype=np.float64),
            bias=np.asarray(arrays["bias"], dtype=np.float64),
            member_models=member_models,
        )


def fit_scorer(
    prompts: list[str],
    answers: list[list[str]],
    correct: FloatArray,
    models: list[str],
    *,
    logprobs: FloatArray | None = None,
    c: float = 1.0,
) -> AnswerScorer:
    """One logistic head per model on (prompt, that model's answer); ``correct`` is (prompts × models) in [0, 1].

    Training only (scikit-learn, scipy): the feature matrix is built sparse, as :meth:`AnswerScorer.features`
    builds one row densely at inference.
    """
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    prompt_features = fit_tfidf(prompts, max_features=5000, length=False)
    answers_flat = [a for row in answers for a in row]
    answer_features = fit_tfidf(answers_flat, max_features=5000, length=False, token_pattern=ANSWER_TOKENS)
    width = len(prompt_features.idf) + len(answer_features.idf) + EXTRAS
    scorer = AnswerScorer(
        models, prompt_features, answer_features, np.zeros((width, len(models))), np.zeros(len(models))
    )
    prompt_rows = [prompt_features.sparse(p) for p in prompts]
    for j in range(len(models)):
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, (p_index, p_values) in enumerate(prompt_rows):
            a_index, a_values = answer_features.sparse(answers[i][j])
            logprob = None if logprobs is None else float(logprobs[i, j])
            extras = [math.log1p(len(answers[i][j])) / 10.0, logprob or 0.0, 0.0 if logprob is None else 1.0]
            index = [*p_index.tolist(), *(len(prompt_features.idf) + a_index).tolist(), *range(width - EXTRAS, width)]
            rows.extend([i] * len(index))
            cols.extend(index)
            vals.extend([*p_values.tolist(), *a_values.tolist(), *extras])
        x = sp.csr_matrix((vals, (rows, cols)), shape=(len(prompts), width))
        y = (correct[:, j] >= 0.5).astype(int)
        if y.min() == y.max():
            scorer.bias[j] = 30.0 if y[0] else -30.0
            continue
        head = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        scorer.weights[:, j] = head.coef_[0]
        scorer.bias[j] = head.intercept_[0]
    return scorer
