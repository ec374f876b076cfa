"""``RouterGroup.view`` (behind ``GET /admin/routers``): windows, threshold sources, realised shares and decisions
read back from routing that actually happened; dry runs leave every number alone; scoped windows are capped."""

from __future__ import annotations

from switchyard.routing.learned.live_share import ScopedShares
from switchyard.routing.options import DEFAULT_OPTIONS
from switchyard.routing.router_group import RouterGroup
from switchyard.routing.snapshot import MAX_LISTED_SCOPES, Outcomes
from switchyard.types.identity import Principal
from tests.unit.routing.test_router_group import build, config, request
from tests.unit.routing.test_router_group_live import chat_prompts


def auto(router: dict[str, object]) -> RouterGroup:
    return build(config({"kind": "learned", "strong_share": 0.3, **router}))[1]["auto"]


def test_outcomes_keep_the_last_window() -> None:
    outcomes = Outcomes(4)
    assert outcomes.share() == (0, None)
    for hit in (True, True, True, False, False, False):
        outcomes.add(hit)
    assert outcomes.share() == (4, 0.25)  # the first two hits left the window


def test_live_group_view_follows_the_traffic_and_ignores_dry_runs() -> None:
    group = auto({"calibration_window": 100, "calibration_warmup": 20})
    cold = group.view()
    assert (cold.strategy, cold.threshold_source, cold.recent, cold.decisions) == ("threshold", "warming_up", 0, {})
    assert cold.window is not None and (cold.window.filled, cold.window.warming_up) == (0, True)
    served = [group.decide(request(p), DEFAULT_OPTIONS) for p in chat_prompts(150, seed=3)]
    warm = group.view()
    assert warm.threshold_source == "live" and warm.window is not None
    assert (warm.window.filled, warm.window.warming_up, warm.recent) == (100, False, 100)
    assert warm.realised_strong_share == round(sum(d.chosen == "strong" for d in served[-100:]) / 100, 4)
    assert warm.decisions == {m: sum(d.chosen == m for d in served) for m in {d.chosen for d in served}}
    # the threshold shown is the one the next request would meet
    assert warm.threshold == group.decide(request("hello"), DEFAULT_OPTIONS, record=False).threshold
    for prompt in chat_prompts(40, seed=4):
        group.decide(request(prompt), DEFAULT_OPTIONS, record=False)
    assert group.view() == warm


def test_file_calibration_and_shadow_counts() -> None:
    group = auto({"calibration": "file", "shadow": True, "serve": "cheap"})
    for prompt in ["Hi", "Prove that every bounded monotone sequence of reals converges, step by step."] * 5:
        group.decide(request(prompt), DEFAULT_OPTIONS)
    view = group.view()
    assert (view.calibration, view.threshold_source, view.window, view.shadow, view.serve) == (
        "file", "file", None, True, "cheap"
    )  # fmt: skip
    assert view.decisions == {"cheap": 10} and view.shadow_decisions is not None
    assert sum(view.shadow_decisions.values()) == 10 and view.recent == 10
    assert view.realised_strong_share == view.shadow_decisions.get("strong", 0) / 10


def test_team_windows_are_listed_fullest_first_and_capped() -> None:
    group = auto({"calibration_window": 50, "calibration_warmup": 5, "calibration_scope": "team"})
    prompts = chat_prompts(80, seed=5)
    for team in range(MAX_LISTED_SCOPES + 5):
        caller = Principal("user", key_id=f"key-{team}", team_id=f"team-{team}")
        for prompt in prompts[: 1 + team % 7]:
            group.decide(request(prompt), DEFAULT_OPTIONS, scope=group.scope_of(caller))
    scopes = group.view().scopes
    assert scopes is not None and (scopes.kind, scopes.count) == ("team", MAX_LISTED_SCOPES + 5)
    assert len(scopes.fullest) == MAX_LISTED_SCOPES
    fills = [s.filled for s in scopes.fullest]
    assert fills == sorted(fills, reverse=True) and fills[0] == 7
    assert all(s.scope.startswith("team-") for s in scopes.fullest)
    assert all(s.warming_up == (s.filled < 5) and (s.threshold is None) == s.warming_up for s in scopes.fullest)
    assert all(s.decisions == s.filled for s in scopes.fullest)


def test_scoped_view_without_scopes() -> None:
    view = ScopedShares(20, 5, 3).view("key", 0.3)
    assert (view.kind, view.count, view.max_count, view.fullest) == ("key", 0, 3, [])
