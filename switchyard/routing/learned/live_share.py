"""Live calibration: the score threshold that sends a target share of *recent traffic* to the strong member.

A router file's threshold is a quantile of its calibration prompts' scores, so the share it realises holds only on
traffic that looks like those prompts; on chat prompts the shipped MMLU router realises 10 % for a 20 % target.
The live threshold is the same quantile over the scores of the last ``window`` routed requests, so the share
holds on whatever the gateway serves. Until ``warmup`` scores have been seen the file's threshold is used.

The window is kept sorted (insert and evict by bisection), which makes any share's threshold one index away:
a per-request ``x-switchyard-strong-share`` costs no more than the configured one.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left, insort
from collections import deque


class LiveShare:
    __slots__ = ("window", "warmup", "_recent", "_sorted", "_lock")

    def __init__(self, window: int, warmup: int) -> None:
        if not 1 <= warmup <= window:
            raise ValueError(f"live calibration needs 1 <= warmup <= window, got warmup {warmup}, window {window}")
        self.window = window
        self.warmup = warmup
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []
        # Deciders that embed the prompt run in worker threads (``RouterGroup.route``).
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._recent)

    def observe(self, score: float) -> None:
        if not math.isfinite(score):
            return
        with self._lock:
            if len(self._recent) == self.window:
                oldest = self._recent.popleft()
                del self._sorted[bisect_left(self._sorted, oldest)]
            self._recent.append(score)
            insort(self._sorted, score)

    def threshold(self, share: float) -> float | None:
        """Route when ``score >= threshold``: ``share`` of the window is at or above it. None while warming up."""
        with self._lock:
            seen = len(self._sorted)
            if seen < self.warmup:
                return None
            below = round((1.0 - min(max(share, 0.0), 1.0)) * seen)
            return math.inf if below >= seen else self._sorted[below]
