"""Live calibration: the cut is the share's quantile over the last ``window`` scores, after a warm-up; ties at
the threshold are split so that repeated prompts do not push the share past the target."""

from __future__ import annotations

import math
import random
import threading

import pytest

from switchyard.routing.learned.live_share import LiveShare


def strong_share(live: LiveShare, share: float, scores: list[float], rng: random.Random) -> float:
    cut = live.cut(share)
    assert cut is not None
    threshold, chance = cut
    return sum(s > threshold or s == threshold and rng.random() < chance for s in scores) / len(scores)


def test_nothing_until_warm_then_the_share_of_the_window_goes_strong() -> None:
    live = LiveShare(window=1000, warmup=100)
    rng = random.Random(0)
    scores = [rng.random() for _ in range(1000)]
    for score in scores[:99]:
        live.observe(score)
    assert live.cut(0.3) is None
    for score in scores[99:]:
        live.observe(score)
    for share in (0.05, 0.2, 0.3, 0.5, 0.8, 0.95):
        assert strong_share(live, share, scores, rng) == pytest.approx(share, abs=0.001)


def test_old_scores_leave_the_window() -> None:
    live = LiveShare(window=200, warmup=10)
    for i in range(200):
        live.observe(i / 1000)  # 0.000 .. 0.199
    assert live.cut(0.5) == (pytest.approx(0.1), 1.0)
    for i in range(200):
        live.observe(0.5 + i / 1000)  # the traffic shifts: 0.500 .. 0.699
    assert len(live) == 200
    assert live.cut(0.5) == (pytest.approx(0.6), 1.0)


def test_repeated_prompts_split_at_the_threshold() -> None:
    live = LiveShare(window=2000, warmup=10)
    rng = random.Random(1)
    # 40 % of the traffic is one templated prompt (one score), the rest varies
    scores = [0.7 if rng.random() < 0.4 else rng.random() for _ in range(2000)]
    for score in scores:
        live.observe(score)
    for share in (0.2, 0.5):
        assert strong_share(live, share, scores, random.Random(2)) == pytest.approx(share, abs=0.03)
    cut = live.cut(0.2)
    assert cut is not None and cut[0] == 0.7 and 0.0 < cut[1] < 1.0


def test_matches_a_brute_force_count_of_the_last_window() -> None:
    live = LiveShare(window=50, warmup=1)
    rng = random.Random(3)
    seen: list[float] = []
    for _ in range(400):
        score = round(rng.random(), 2)  # ties on purpose
        live.observe(score)
        seen.append(score)
        window = seen[-50:]
        share = rng.random()
        cut = live.cut(share)
        assert cut is not None
        threshold, chance = cut
        above, equal = sum(s > threshold for s in window), sum(s == threshold for s in window)
        assert above + chance * equal == pytest.approx(share * len(window))  # the expected strong count


def test_edges() -> None:
    live = LiveShare(window=10, warmup=2)
    live.observe(float("nan"))
    live.observe(float("inf"))
    assert len(live) == 0  # a broken score never moves the threshold
    live.observe(0.4)
    live.observe(0.6)
    assert live.cut(0.0) == (math.inf, 0.0)  # nothing strong
    assert live.cut(1.0) == (-math.inf, 1.0)  # everything strong, even a score below the window's
    with pytest.raises(ValueError, match="warmup"):
        LiveShare(window=10, warmup=11)


def test_threads_observing_at_once_keep_the_window_consistent() -> None:
    live = LiveShare(window=500, warmup=1)

    def feed(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(5000):
            live.observe(rng.random())
            live.cut(rng.random())

    threads = [threading.Thread(target=feed, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(live) == 500
    assert live._sorted == sorted(live._recent)  # the sorted copy is exactly the window


def test_scoped_windows_are_separate_and_the_least_recent_scope_goes() -> None:
    from switchyard.routing.learned.live_share import ScopedShares

    scopes = ScopedShares(window=100, warmup=5, max_scopes=2)
    for i in range(10):
        scopes.get("team-a").observe(i / 100)  # low scores
        scopes.get("team-b").observe(0.5 + i / 100)  # high scores
    a, b = scopes.get("team-a").cut(0.5), scopes.get("team-b").cut(0.5)
    assert a is not None and b is not None and a[0] < 0.1 < 0.5 < b[0]
    scopes.get("team-c")  # a third scope: team-a, the least recently used, is dropped
    assert len(scopes) == 2 and scopes.get("team-b").cut(0.5) == b
    assert scopes.get("team-a").cut(0.5) is None  # back, warming up again
    with pytest.raises(ValueError, match="warmup"):
        ScopedShares(window=10, warmup=20, max_scopes=5)
