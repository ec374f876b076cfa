"""Read-only views of the router groups for operators (``GET /admin/routers``, the dashboard, ``switchyard status``).

Views are computed on demand from state the routers keep anyway (live windows, small tallies); nothing here runs
per request. They describe this process only: each gateway worker routes, calibrates and counts on its own.
Scoped windows are named by team or key *id*, never by anything secret.
"""

from __future__ import annotations

import threading
from collections import deque

import msgspec

# Scoped windows listed in a view: the fullest first, at most this many (a group may hold hundreds).
MAX_LISTED_SCOPES = 20


class Outcomes:
    """The side of each of the last ``window`` decisions (True: strong, or for a cascade stage: accepted), so that
    the share actually realised can be read without replaying anything."""

    __slots__ = ("window", "_recent", "_hits", "_lock")

    def __init__(self, window: int) -> None:
        self.window = window
        self._recent: deque[bool] = deque()
        self._hits = 0
        # Deciders that embed the prompt run in worker threads (``RouterGroup.route``).
        self._lock = threading.Lock()

    def add(self, hit: bool) -> None:
        with self._lock:
            if len(self._recent) == self.window:
                self._hits -= self._recent.popleft()
            self._recent.append(hit)
            self._hits += hit

    def share(self) -> tuple[int, float | None]:
        """How many decisions the window holds, and the share of them that were hits (None when empty)."""
        with self._lock:
            seen, hits = len(self._recent), self._hits
        return seen, (round(hits / seen, 4) if seen else None)


class Tally:
    """Decisions per member since start; a lock because deciders may run in worker threads."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, member: str) -> None:
        with self._lock:
            self._counts[member] = self._counts.get(member, 0) + 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class WindowView(msgspec.Struct):
    """A live-calibration window: its size, how many scores it holds, and how many it needs to take over."""

    size: int
    filled: int
    warmup: int
    warming_up: bool


class ScopeView(msgspec.Struct):
    """One team's or key's own window (``calibration_scope``), named by its id."""

    scope: str
    filled: int
    warming_up: bool
    threshold: float | None
    decisions: int
    realised_strong_share: float | None


class ScopesView(msgspec.Struct):
    kind: str  # team | key
    count: int
    max_count: int
    fullest: list[ScopeView]


class StageView(msgspec.Struct):
    """A cascade member but the last: the threshold its answers must reach, and where that threshold comes from."""

    member: str
    threshold: float | None
    calibration: str  # fixed (configured) | live | warming_up (configured, until the live window is full enough)
    configured_threshold: float
    escalate_share: float | None = None
    window: WindowView | None = None
    judged: int = 0
    accepted: int = 0
    failed: int = 0
    recent: int = 0
    realised_accept_share: float | None = None


class DeciderView(msgspec.Struct, omit_defaults=True):
    """What a decider reports about itself; :class:`RouterView` adds the group's own fields."""

    strategy: str  # threshold | utility | random
    calibration: str | None = None  # live | file
    target_share: float | None = None
    cost_weight: float | None = None
    threshold: float | None = None
    threshold_source: str | None = None  # live | file | warming_up (the file's, until the live window warms up)
    window: WindowView | None = None
    recent: int = 0
    realised_strong_share: float | None = None
    scopes: ScopesView | None = None


class RouterView(msgspec.Struct):
    name: str
    kind: str
    strategy: str  # threshold | utility | random | cascade | capability
    members: list[str]
    shadow: bool
    serve: str | None
    calibration: str | None
    calibration_scope: str
    target_share: float | None
    cost_weight: float | None
    threshold: float | None
    threshold_source: str | None
    window: WindowView | None
    # The decider's own decisions in the realised-share window: a request only one member could serve is not one.
    recent: int
    realised_strong_share: float | None  # shadow mode: of the learned choices, which are not served
    decisions: dict[str, int]  # served, per member, since start (dry runs not counted)
    shadow_decisions: dict[str, int] | None  # shadow mode: the learned choices, per member
    scopes: ScopesView | None
    stages: list[StageView] | None
    escalate_share: float | None
    stream: str | None  # cascade streams: buffer | bypass


class RoutersView(msgspec.Struct):
    data: list[RouterView]
