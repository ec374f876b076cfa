"""Retrain a two-member router from production traffic: request logs joined with feedback (offline only).

A logged request routed by a router group carries its decision (which member served it) and, when the gateway
runs with ``server.log_bodies: true``, its request body (the prompt). Feedback (``POST /v1/feedback``) scores the
served answer in [0, 1]. That is bandit feedback: each prompt has a score for one member only. So instead of a
"strong wins" head, this fits one logistic quality head per member on the prompts that member served (label:
mean feedback ≥ 0.5), and stores them as a ``quality`` router with models ``[strong, cheap]``; its score,
(1 + q_strong − q_cheap) / 2, is calibrated on every logged prompt, so ``strong_share`` keeps its meaning.
A member with too few labelled prompts (or only one class) gets a constant head at its mean score.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from switchyard.routing.learned.features import fit_tfidf
from switchyard.routing.learned.router import LearnedRouter
from switchyard.storage.feedback import Feedback
from switchyard.types.logs import RequestLog

MIN_PER_MEMBER = 10


@dataclass(frozen=True)
class Outcome:
    request_id: str
    prompt: str
    member: str
    score: float


def prompt_of(request_body: str) -> str | None:
    """The last user message of a logged OpenAI chat body (the text a router scores), or None."""
    try:
        body = json.loads(request_body)
    except ValueError:
        return None
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return None


def join(records: Iterable[RequestLog], feedback: Iterable[Feedback], group: str) -> tuple[list[Outcome], list[str]]:
    """Outcomes (prompt, served member, mean feedback) of ``group``'s requests, and every logged prompt of it."""
    scores: dict[str, list[float]] = defaultdict(list)
    for item in feedback:
        scores[item.request_id].append(item.score)
    outcomes, prompts = [], []
    for record in records:
        if record.model_group != group or not record.decision or not record.request_body or record.status >= 400:
            continue
        prompt = prompt_of(record.request_body)
        if prompt is None:
            continue
        prompts.append(prompt)
        given = scores.get(record.request_id)
        if given:
            member = json.loads(record.decision).get("chosen")
            outcomes.append(Outcome(record.request_id, prompt, str(member), sum(given) / len(given)))
    return outcomes, prompts


def train_from_logs(outcomes: list[Outcome], prompts: list[str], members: list[str], c: float = 1.0) -> LearnedRouter:
    """``members`` cheapest first, exactly two. Needs scikit-learn (the ``router`` extra)."""
    from sklearn.linear_model import LogisticRegression

    if len(members) != 2:
        raise ValueError("--from-logs trains two-member routers: pass --members CHEAP,STRONG")
    if len(prompts) < 2:
        raise ValueError("no logged prompts: run the gateway with server.log_bodies: true and send feedback")
    features = fit_tfidf(prompts, max_features=8000, length=True)
    order = [members[1], members[0]]  # a quality router's score compares its first two columns: strong, cheap
    weights = np.zeros((features.dim, 2))
    bias = np.zeros(2)
    counts = {}
    for column, member in enumerate(order):
        rows = [o for o in outcomes if o.member == member]
        counts[member] = len(rows)
        labels = np.array([o.score >= 0.5 for o in rows], dtype=int)
        if len(rows) < MIN_PER_MEMBER or len(set(labels.tolist())) < 2:
            mean = float(np.mean([o.score for o in rows])) if rows else 0.5
            bias[column] = math.log(max(mean, 1e-3) / max(1 - mean, 1e-3))
            continue
        head = LogisticRegression(C=c, max_iter=2000).fit(features.transform([o.prompt for o in rows]), labels)
        weights[:, column] = head.coef_[0]
        bias[column] = head.intercept_[0]
    router = LearnedRouter("linear", "quality", order, {"weights": weights, "bias": bias}, features)
    router.calibrate(prompts)
    router.settings.update(
        {"trained_on": len(outcomes), "calibrated_on": len(prompts), "source": "logs+feedback", "per_member": counts}
    )
    return router
