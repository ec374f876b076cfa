"""Build the router groups from the config, once, at start-up: load router and scorer files, check members.

Learned routers need numpy (the ``router`` extra); a router group configured without it fails here, at start-up,
with the install command, and numpy is never imported when no learned router is configured.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from switchyard.config.schema import Config, RouterSpec
from switchyard.errors import ConfigError
from switchyard.routing.options import RouteOptions
from switchyard.routing.router_group import Counter, Decider, RouterGroup, Verdict
from switchyard.routing.snapshot import DeciderView, Outcomes
from switchyard.routing.target import Group

if TYPE_CHECKING:
    from switchyard.routing.cascade import Cascade

# Shipped with the package: trained by bench/train_default_router.py on the shared RouteLLM data.
DEFAULT_ROUTER = Path(__file__).parent / "learned" / "default_router.npz"
LENGTH_ROUTER = Path(__file__).parent / "learned" / "length_router.npz"
# Live windows kept per team or key (``calibration_scope``): 256 at most, and at most 512,000 scores in all
# (about 40 bytes each: 20 MB per group and process), so a large window means fewer scopes.
MAX_SCOPES, MAX_SCOPED_SCORES = 256, 512_000
_INSTALL = "install the router extra: pip install 'switchyard[router]' (numpy)"


class RandomDecider:
    """The cheap baseline: a uniform score, so the strong member gets ``share`` of the calls on average."""

    kind = "random"

    def __init__(self, share: float, seed: int | None, recent: int = 2000) -> None:
        self._rng = random.Random(seed)
        self.threshold = 1.0 - share
        self.outcomes = Outcomes(recent)

    def decide(
        self, prompt: str, capable: Sequence[int], options: RouteOptions, record: bool = True, scope: str | None = None
    ) -> Verdict:
        threshold = self.threshold
        if options.router_threshold is not None:
            threshold = options.router_threshold
        elif options.strong_share is not None:
            threshold = 1.0 - options.strong_share  # a uniform score needs no calibration
        score = self._rng.random()
        if record:
            self.outcomes.add(score >= threshold)
        return Verdict(capable[-1] if score >= threshold else capable[0], round(score, 6), round(threshold, 6))

    def threshold_now(self) -> tuple[float, str] | None:
        return None  # a uniform score's threshold is 1 - share everywhere; nothing to watch

    def view(self) -> DeciderView:
        recent, realised = self.outcomes.share()
        share = round(1.0 - self.threshold, 6)
        threshold = round(self.threshold, 6)
        return DeciderView("random", None, share, None, threshold, "fixed", None, recent, realised)


def build_routers(config: Config, groups: dict[str, Group], counter: Counter | None = None) -> dict[str, RouterGroup]:
    routers: dict[str, RouterGroup] = {}
    for name, spec in config.model_groups.items():
        if spec.router is None:
            continue
        path = f"model_groups.{name}.router"
        members = [groups[m] for m in spec.router.members]
        try:
            decider, cascade, offload = _build(spec.router)
        except ImportError as exc:
            message = f"kind {spec.router.kind!r} needs numpy, which is not installed ({exc})"
            raise ConfigError(path, message, _INSTALL) from None
        except (ValueError, OSError) as exc:
            raise ConfigError(path, str(exc)) from None
        routers[name] = RouterGroup(name, spec.router, members, decider, cascade, counter, offload=offload)
    return routers


def _build(spec: RouterSpec) -> tuple[Decider | None, Cascade | None, bool]:
    """The decider or cascade, and whether a decision is heavy enough (a neural embedding) to leave the event loop."""
    share = spec.strong_share
    if spec.kind == "random":
        if len(spec.members) != 2:
            raise ValueError("kind random routes between exactly two members")
        return RandomDecider(0.5 if share is None else share, spec.seed, spec.calibration_window), None, False
    if spec.kind == "cascade":
        if spec.shadow:
            raise ValueError("shadow mode needs a router that decides without calling a model (not cascade)")
        return None, _cascade(spec), False
    from switchyard.routing.learned import LearnedRouter
    from switchyard.routing.learned.deciders import columns_for, threshold_decider, utility_decider
    from switchyard.routing.learned.live_share import LiveShare, ScopedShares

    default = LENGTH_ROUTER if spec.kind == "length" else DEFAULT_ROUTER
    router = LearnedRouter.load(Path(spec.model_path) if spec.model_path else default)
    if spec.kind == "length" and router.kind != "length":
        raise ValueError(f"kind length needs a length router file, got a {router.kind} router")
    columns = columns_for(router, spec.members, spec.member_models)
    if spec.cost_weight is not None or router.target == "quality" and share is None:
        return utility_decider(router, spec.members, columns, spec.cost_weight), None, router.blocking
    if len(spec.members) != 2:
        raise ValueError("strong_share routes between exactly two members; use cost_weight for more")
    live = scoped = None
    if spec.calibration == "live":
        live = LiveShare(spec.calibration_window, spec.calibration_warmup)
        if spec.calibration_scope != "group":
            scopes = max(1, min(MAX_SCOPES, MAX_SCOPED_SCORES // spec.calibration_window))
            scoped = ScopedShares(spec.calibration_window, spec.calibration_warmup, scopes)
    decider = threshold_decider(
        spec.kind, router, share, columns, live, scoped, spec.calibration_scope, spec.calibration_window
    )
    return decider, None, router.blocking


def _cascade(spec: RouterSpec) -> Cascade:
    from switchyard.routing.cascade import Cascade
    from switchyard.routing.learned.scorer import AnswerScorer

    settings = spec.cascade
    if settings.scorer_path is None:
        raise ValueError("kind cascade needs cascade.scorer_path (an answer scorer file)")
    if len(settings.thresholds) != len(spec.members) - 1:
        raise ValueError(f"cascade.thresholds needs one value per member but the last ({len(spec.members) - 1})")
    scorer = AnswerScorer.load(Path(settings.scorer_path), spec.member_models)
    for member in spec.members[:-1]:
        scorer.column(member)  # fail at start-up, not on the first request
    thresholds = dict(zip(spec.members, settings.thresholds, strict=False))
    window, warmup = spec.calibration_window, spec.calibration_warmup
    return Cascade(scorer, thresholds, settings.stream, settings.escalate_share, window, warmup)
