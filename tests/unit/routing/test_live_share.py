"""Live calibration: the threshold is the share's quantile over the last ``window`` scores, after a warm-up."""

from __future__ import annotations

import math
import random

import pytest

from switchyard.routing.learned.live_share import LiveShare


def test_nothing_until_warm_then_the_share_of_the_window_sits_at_or_above_the_threshold() -> None:
    live = LiveShare(window=1000, warmup=100)
    rng = random.Random(0)
    scores = [rng.random() for _ in range(1000)]
    for score in scores[:99]:
        live.observe(score)
    assert live.threshold(0.3) is None
    for score in scores[99:]:
        live.observe(score)
    for share in (0.05, 0.2, 0.3, 0.5, 0.8, 0.95):
        threshold = live.threshold(share)
        assert threshold is not None
        assert sum(s >= threshold for s in scores) / len(scores) == pytest.approx(share, abs=0.001)


def test_old_scores_leave_the_window() -> None:
    live = LiveShare(window=200, warmup=10)
    for i in range(200):
        live.observe(i / 1000)  # 0.000 .. 0.199
    assert live.threshold(0.5) == pytest.approx(0.1)
    for i in range(200):
        live.observe(0.5 + i / 1000)  # the traffic shifts: 0.500 .. 0.699
    assert len(live) == 200
    assert live.threshold(0.5) == pytest.approx(0.6)
    assert live.threshold(1.0) == pytest.approx(0.5)  # everything routes strong


def test_matches_a_brute_force_quantile_of_the_last_window() -> None:
    live = LiveShare(window=50, warmup=1)
    rng = random.Random(3)
    seen: list[float] = []
    for _ in range(400):
        score = round(rng.random(), 2)  # ties on purpose
        live.observe(score)
        seen.append(score)
        window = sorted(seen[-50:])
        share = rng.random()
        below = round((1 - share) * len(window))
        expected = math.inf if below >= len(window) else window[below]
        assert live.threshold(share) == expected


def test_edges() -> None:
    live = LiveShare(window=10, warmup=2)
    live.observe(float("nan"))
    live.observe(float("inf"))
    assert len(live) == 0  # a broken score never moves the threshold
    live.observe(0.4)
    live.observe(0.6)
    assert live.threshold(0.0) == math.inf  # nothing strong
    assert live.threshold(1.0) == 0.4
    with pytest.raises(ValueError, match="warmup"):
        LiveShare(window=10, warmup=11)
