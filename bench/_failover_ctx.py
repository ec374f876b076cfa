"""What a failover scenario works with: its fake upstreams, its context of checks, and the registry.

A scenario (in _failover_scenarios.py) registers itself with ``@scenario``; ``Ctx`` sends its requests through the
gateway and records checks that only use what any gateway shows from the outside: the client's status, body and
stream; the requests each fake upstream received (and, for a deployment at a closed port, the gateway's connect()
calls); and the time the client waited.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _failover_client import COMPLETE, EXPLICIT_ERROR, OK, Seen, chat
from _failover_gateways import Gateway, deployment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes.openai_upstream import FakeOpenAI as FakeOpenAI  # noqa: E402

CHAT = "/v1/chat/completions"
PERSISTENT = 1000  # a fault that lasts for the whole scenario: the deployment is down, not flaky
SLACK, OVERHEAD_S = 0.10, 0.15  # a deadline fires at its setting, at most 10 % (+ fixed local overhead) later


def within(seconds: float, target: float) -> bool:
    return target <= seconds <= target * (1 + SLACK) + OVERHEAD_S


def window(target: float) -> str:
    return f"{target:g}–{target * (1 + SLACK) + OVERHEAD_S:.2f} s"


@dataclass
class Upstreams:
    """The scenario's fake upstreams by name, plus a closed port for a dead deployment."""

    prefix: str
    fakes: dict[str, FakeOpenAI]
    dead_port: int | None = None

    def dep(self, name: str, priority: int | None = None) -> dict[str, Any]:
        if name == "dead":
            base = f"http://127.0.0.1:{self.dead_port}/v1"
        else:
            base = self.fakes[name].base_url
        return deployment(f"{self.prefix}{name}", base, priority)

    def ordered(self, *names: str) -> list[dict[str, Any]]:
        """Deployments in a fixed order: the first has the highest priority."""
        return [self.dep(name, 10 - i) for i, name in enumerate(names)]


@dataclass
class Check:
    what: str
    ok: bool
    detail: str = ""


@dataclass
class Ctx:
    """What a scenario's ``run`` works with, and what it leaves behind for the report."""

    scenario: Scenario
    gateway: Gateway
    ups: Upstreams
    reference_text: str
    timeout: float = 12.0
    seen: list[Seen] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    key: Seen | None = None
    latency_override: float | None = None

    def fake(self, name: str) -> FakeOpenAI:
        return self.ups.fakes[name]

    def call(self, group: str = "chat", stream: bool = False, key: bool = False, **body: Any) -> Seen:
        seen = chat(
            self.gateway.base_url,
            f"{self.ups.prefix}{group}",
            stream=stream,
            timeout=self.timeout,
            reference_text=self.reference_text,
            **body,
        )
        self.seen.append(seen)
        if key or self.key is None:
            self.key = seen
        return seen

    def calls(self, name: str) -> int:
        """Chat requests the upstream received; for the dead deployment, the gateway's connection attempts."""
        if name == "dead":
            return self.gateway.connects(self.ups.dead_port) if self.ups.dead_port else 0
        return sum(1 for r in self.fake(name).requests if r.path == CHAT)

    def all_calls(self) -> dict[str, int]:
        names = list(self.ups.fakes) + (["dead"] if self.ups.dead_port else [])
        return {name: self.calls(name) for name in names}

    def served(self, name: str) -> int:
        """Requests the upstream answered completely with a 200 (a stream through [DONE])."""
        return sum(1 for r in self.fake(name).requests if r.path == CHAT and r.status == 200 and r.completed)

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        self.checks.append(Check(what, bool(ok), detail))
        return bool(ok)

    # Checks used by several scenarios.
    def client_ok(self, seen: Seen, what: str = "") -> bool:
        want = COMPLETE if seen.mode == "stream" else OK
        label = what or ("stream complete with the upstream's text" if seen.mode == "stream" else "client got 200")
        return self.check(seen.kind == want, label, seen.summary())

    def served_by(self, name: str, count: int = 1) -> bool:
        return self.check(self.served(name) == count, f"answered by {name}", f"{name} answered {self.served(name)}")

    def deadline(self, seen: Seen, target: float, what: str) -> bool:
        return self.check(within(seen.seconds, target), f"{what} in {window(target)}", f"{seen.seconds:.3f} s")

    def hung_up(self, name: str) -> bool:
        ok = self.fake(name).wait_for_disconnects(1, timeout=3)
        return self.check(ok, f"the abandoned request to {name} was hung up")

    def explicit_error(self, seen: Seen) -> bool:
        self.check(seen.kind == EXPLICIT_ERROR, "stream ends with an explicit error event, no [DONE]", seen.summary())
        return self.check(bool(seen.text), "content reached the client before the failure", repr(seen.text[:40]))


Run = Callable[[Ctx], None]
Build = Callable[[Upstreams], dict[str, Any]]


@dataclass
class Scenario:
    key: str
    title: str
    expect: str
    mode: str  # which healthy baseline its latency is compared with: "plain" or "stream"
    build: Build
    run: Run
    fakes: tuple[str, ...] = ("primary", "secondary")
    dead: bool = False


SCENARIOS: list[Scenario] = []


def two_ordered(ups: Upstreams) -> list[dict[str, Any]]:
    return ups.ordered(*ups.fakes)


def scenario(
    key: str,
    title: str,
    expect: str,
    mode: str = "plain",
    router: dict[str, Any] | None = None,
    groups: Callable[[Upstreams], dict[str, Any]] | None = None,
    fakes: tuple[str, ...] = ("primary", "secondary"),
    dead: bool = False,
) -> Callable[[Run], Run]:
    def build(ups: Upstreams) -> dict[str, Any]:
        model_groups = groups(ups) if groups else {"chat": {"deployments": two_ordered(ups)}}
        return {"router": dict(router or {}), "model_groups": model_groups}

    def register(run: Run) -> Run:
        SCENARIOS.append(Scenario(key, title, expect, mode, build, run, fakes, dead))
        return run

    return register


# --- healthy -----------------------------------------------------------------------------------------------------
