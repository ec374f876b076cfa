"""Live calibration: the score threshold that sends a target share of *recent traffic* to the strong member.

A router file's threshold is a quantile of its calibration prompts' scores, so the share it realises holds only on
traffic that looks like those prompts; on chat prompts the shipped MMLU router realises 10 % for a 20 % target.
The live threshold is the same quantile over the scores of the last ``window`` routed requests, so the share
holds on whatever the gateway serves. Until ``warmup`` scores have been seen the file's threshold is used.

The window is kept sorted (insert and evict by bisection), which makes any share's threshold one index away:
a per-request ``x-switchyard-strong-share`` costs no more than the configured one.

The share holds on traffic whose mix is steady over about a window. When the mix shifts, the threshold follows
within about one window of requests, and until then the share drifts the way a file threshold would.
"""

from __future__ import annotations

import math
import random
import threading
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict, deque

from switchyard.routing.snapshot import MAX_LISTED_SCOPES, Outcomes, ScopesView, ScopeView, WindowView


def passes(score: float, threshold: float, chance: float, ties: random.Random) -> bool:
    """Whether a score clears a cut: above it, or equal to it and lucky (``chance`` from ``LiveShare.cut``)."""
    return score > threshold or score == threshold and (chance >= 1.0 or ties.random() < chance)


class LiveShare:
    __slots__ = ("window", "warmup", "outcomes", "_recent", "_sorted", "_lock")

    def __init__(self, window: int, warmup: int) -> None:
        if not 1 <= warmup <= window:
            raise ValueError(f"live calibration needs 1 <= warmup <= window, got warmup {warmup}, window {window}")
        self.window = window
        self.warmup = warmup
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []
        # The side each recorded decision took, for the share realised (``/admin/routers``); fed by the owner.
        self.outcomes = Outcomes(window)
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

    def view(self) -> WindowView:
        filled = len(self._recent)
        return WindowView(self.window, filled, self.warmup, filled < self.warmup)

    def cut(self, share: float) -> tuple[float, float] | None:
        """Where ``share`` of the window splits off: (threshold, chance). A score above the threshold routes strong,
        one equal to it routes strong with probability ``chance`` (so that repeated prompts, which share one score,
        do not push the share past the target), one below routes cheap. None while warming up."""
        with self._lock:
            ordered = self._sorted
            seen = len(ordered)
            if seen < self.warmup:
                return None
            wanted = min(max(share, 0.0), 1.0) * seen
            if wanted <= 0.0:
                return math.inf, 0.0
            if wanted >= seen:
                return -math.inf, 1.0  # everything strong, even a score below all of the window's
            threshold = ordered[seen - math.ceil(wanted)]
            first, past = bisect_left(ordered, threshold), bisect_right(ordered, threshold)
        above = seen - past
        return threshold, min(1.0, max(0.0, (wanted - above) / (past - first)))


class ScopedShares:
    """A live window per caller scope (a team or a key), so that each one gets the share of its own traffic and no
    caller's prompts move another's threshold. The least recently seen scope is dropped past ``max_scopes``; a
    dropped or new scope warms up again."""

    __slots__ = ("window", "warmup", "max_scopes", "_scopes", "_lock")

    def __init__(self, window: int, warmup: int, max_scopes: int) -> None:
        LiveShare(window, warmup)  # the same checks, before any scope exists
        self.window, self.warmup, self.max_scopes = window, warmup, max_scopes
        self._scopes: OrderedDict[str, LiveShare] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._scopes)

    def peek(self, scope: str) -> LiveShare | None:
        """The scope's window if it has one, without creating it or counting this as a use (for dry runs)."""
        with self._lock:
            return self._scopes.get(scope)

    def view(self, kind: str, share: float) -> ScopesView:
        """The number of windows, and the fullest few with the threshold ``share`` takes in each (ids only)."""
        with self._lock:
            scopes = list(self._scopes.items())
        scopes.sort(key=lambda item: len(item[1]), reverse=True)
        listed = []
        for scope, live in scopes[:MAX_LISTED_SCOPES]:
            cut = live.cut(share)
            decisions, realised = live.outcomes.share()
            threshold = None if cut is None or math.isinf(cut[0]) else round(cut[0], 6)
            listed.append(ScopeView(scope, len(live), cut is None, threshold, decisions, realised))
        return ScopesView(kind, len(scopes), self.max_scopes, listed)

    def get(self, scope: str) -> LiveShare:
        with self._lock:
            found = self._scopes.get(scope)
            if found is None:
                found = self._scopes[scope] = LiveShare(self.window, self.warmup)
                if len(self._scopes) > self.max_scopes:
                    self._scopes.popitem(last=False)
            else:
                self._scopes.move_to_end(scope)
            return found
