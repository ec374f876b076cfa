"""Learned routers as router-group deciders (numpy at inference): one knob each trades cost for quality.

- :class:`ThresholdDecider`, two members (cheap first, strong last): the strong member when the router's score
  P(strong wins) is at or above a threshold. The threshold sends a target share of strong calls
  (``strong_share``, or ``x-switchyard-strong-share`` per request) to the strong member: of recent traffic once
  enough has been seen (``LiveShare``), else of the router file's calibration prompts. Per request,
  ``x-switchyard-router-threshold`` sets the threshold itself.
- :class:`UtilityDecider`, any number of members: argmax over capable members of predicted quality − λ·cost
  (``cost_weight``, or ``x-switchyard-cost-weight`` per request); costs are the router file's mean $ per call.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np

from switchyard.routing.learned.live_share import LiveShare, ScopedShares, passes
from switchyard.routing.learned.router import LearnedRouter
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.routing.router_group import Verdict
from switchyard.routing.snapshot import DeciderView, Outcomes

DEFAULT_SHARE = 0.5


class ThresholdDecider:
    def __init__(
        self,
        kind: str,
        score: Callable[[str], float],
        file_threshold: Callable[[float], float],
        share: float,
        live: LiveShare | None = None,
        scoped: ScopedShares | None = None,
        scope_kind: str = "group",
        recent: int = 2000,
    ) -> None:
        self.kind = kind
        self._score = score
        self._file_threshold = file_threshold
        self.share = share
        self.threshold = file_threshold(share)
        self.live = live
        # Per team or key (``calibration_scope``): a window of the caller's own traffic, tried before the group's.
        self.scoped = scoped
        self.scope_kind = scope_kind
        # Which side the last ``recent`` served decisions took: the strong share actually realised.
        self.outcomes = Outcomes(live.window if live is not None else recent)
        # Breaks ties at a live threshold (one repeated prompt is many equal scores); not a security boundary.
        self._ties = random.Random()

    def decide(
        self, prompt: str, capable: Sequence[int], options: RouteOptions, record: bool = True, scope: str | None = None
    ) -> Verdict:
        score = self._score(prompt)
        own = None
        if self.scoped is not None and scope:
            # a dry run reads the caller's window but must not create one or push a warm one out
            own = self.scoped.get(scope) if record else self.scoped.peek(scope)
        threshold, at_threshold, source = self._cut(options, own)
        if record:  # after choosing: the threshold comes from the traffic before this request
            if self.live is not None:
                self.live.observe(score)
            if own is not None:
                own.observe(score)
        # the strongest capable member on a high score, else the cheapest; a pair has exactly these two
        strong = passes(score, threshold, at_threshold, self._ties)
        if record:
            self.outcomes.add(strong)
            if own is not None:
                own.outcomes.add(strong)
        index = capable[-1] if strong else capable[0]
        return Verdict(index, round(score, 6), None if math.isinf(threshold) else round(threshold, 6), source)

    def threshold_now(self) -> tuple[float, str] | None:
        threshold, _, source = self._cut(DEFAULT_OPTIONS)
        return threshold, source

    def view(self) -> DeciderView:
        threshold, _, source = self._cut(DEFAULT_OPTIONS)
        if source == "file" and self.live is not None:
            source = "warming_up"  # live calibration, on the file's threshold until the window holds enough
        recent, realised = self.outcomes.share()
        return DeciderView(
            "threshold",
            calibration="file" if self.live is None else "live",
            target_share=self.share,
            threshold=None if math.isinf(threshold) else round(threshold, 6),
            threshold_source=source,
            window=None if self.live is None else self.live.view(),
            recent=recent,
            realised_strong_share=realised,
            scopes=None if self.scoped is None else self.scoped.view(self.scope_kind, self.share),
        )

    def _cut(self, options: RouteOptions, own: LiveShare | None = None) -> tuple[float, float, str]:
        """The threshold, the chance that a score equal to it routes strong, and where they came from: the
        request, the caller's own window (``team`` or ``key``), the group's (``live``), or the router file."""
        if options.router_threshold is not None:
            return options.router_threshold, 1.0, "request"
        share = self.share if options.strong_share is None else options.strong_share
        if own is not None:
            cut = own.cut(share)
            if cut is not None:
                return cut[0], cut[1], self.scope_kind
        if self.live is not None:
            live = self.live.cut(share)
            if live is not None:
                return live[0], live[1], "live"
        return (self.threshold if share == self.share else self._file_threshold(share)), 1.0, "file"


def win_scorer(router: LearnedRouter, strong: int = 0, weak: int = 1) -> Callable[[str], float]:
    """P(strong member wins) for one prompt: a win router's own score, or a quality router's two columns."""
    if router.target == "win":
        return lambda prompt: float(router.score([prompt])[0])

    def score(prompt: str) -> float:
        quality = router.predict([prompt])[0]
        return float((1.0 + quality[strong] - quality[weak]) / 2.0)

    return score


def threshold_decider(
    kind: str,
    router: LearnedRouter,
    share: float | None,
    columns: list[int],
    live: LiveShare | None = None,
    scoped: ScopedShares | None = None,
    scope_kind: str = "group",
    recent: int = 2000,
) -> ThresholdDecider:
    """A two-member decider from a router file; ``columns`` = the file's [weak, strong] model columns."""
    target = DEFAULT_SHARE if share is None else share
    if router.calibration is None:
        raise ValueError("the router file has no calibration quantiles; train it with a calibration split")
    if router.target == "quality" and columns != [1, 0]:
        raise ValueError("strong_share with a many-model file needs its first two models as [strong, weak]")
    scorer = win_scorer(router, strong=columns[1], weak=columns[0])
    return ThresholdDecider(kind, scorer, router.threshold, target, live, scoped, scope_kind, recent)


class UtilityDecider:
    kind = "learned"

    def __init__(
        self, router: LearnedRouter, members: list[str], columns: list[int], costs: list[float], weight: float
    ) -> None:
        self._router = router
        self._members = members
        self._columns = np.asarray(columns, dtype=np.intp)
        self._costs = np.asarray(costs, dtype=np.float64)
        self.weight = weight

    def decide(
        self, prompt: str, capable: Sequence[int], options: RouteOptions, record: bool = True, scope: str | None = None
    ) -> Verdict:
        weight = options.cost_weight if options.cost_weight is not None else self.weight
        quality = self._router.predict([prompt])[0][self._columns]
        utility = quality - weight * self._costs
        best = max(capable, key=lambda i: float(utility[i]))
        return Verdict(
            best,
            score=round(float(quality[best]), 6),
            cost_weight=weight,
            utilities={self._members[i]: round(float(utility[i]), 6) for i in capable},
        )

    def threshold_now(self) -> tuple[float, str] | None:
        return None  # argmax of utilities: there is no threshold

    def view(self) -> DeciderView:
        return DeciderView("utility", cost_weight=self.weight)


def utility_decider(
    router: LearnedRouter, members: list[str], columns: list[int], weight: float | None
) -> UtilityDecider:
    if router.target != "quality":
        raise ValueError("cost_weight needs a many-model (quality) router file; use strong_share for two models")
    if router.costs is None:
        raise ValueError("the router file has no per-model costs")
    costs = [float(router.costs[c]) for c in columns]
    return UtilityDecider(router, members, columns, costs, 0.0 if weight is None else weight)


def columns_for(router: LearnedRouter, members: list[str], names: dict[str, str]) -> list[int]:
    """The router file's model column of each member (``member_models`` maps a member to a column name).

    A two-model win router has columns [strong, weak] = [0, 1]; members are cheapest first, so [1, 0].
    """
    if router.target == "win":
        if len(members) != 2:
            raise ValueError(f"a two-model router file serves exactly two members, not {len(members)}")
        return [1, 0]
    columns = []
    for member in members:
        column = names.get(member, member)
        if column not in router.models:
            raise ValueError(
                f"member {member!r} maps to model {column!r}, which the router file does not have "
                f"(it has {', '.join(router.models)}); set member_models"
            )
        columns.append(router.models.index(column))
    return columns
