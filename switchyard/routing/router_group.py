"""Router model groups: a name (say ``auto``) whose requests go to one of several member groups.

Per request: the capability filter drops members that cannot serve it (context window, tools, vision, JSON
schema; the same checks the executor applies to deployments), then a decider scores the prompt and picks a
member, and the ordinary executor serves the request from that member group, with its own retries and
fallbacks. A cascade instead calls members cheapest first and keeps the first answer its scorer accepts
(``routing.cascade``). The decision is returned as a :class:`Decision`, which the pipeline puts in headers and
in the request log, and which ``POST /v1/route`` returns without calling any model.

Shadow mode serves a fixed member (the static choice) and only records what the decider would have done, so a
router can be watched on real traffic before it is trusted. Nothing here imports numpy: learned deciders live in
``routing.learned.deciders`` and are built only when configured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from switchyard import errors
from switchyard.config.schema import RouterSpec
from switchyard.providers.base import ChatCall, Reply
from switchyard.routing.candidates import capable
from switchyard.routing.options import RequestShape, RouteOptions, shape_of
from switchyard.routing.snapshot import DeciderView, RouterView, Tally
from switchyard.routing.streams import OpenStream
from switchyard.routing.target import Group
from switchyard.routing.trace import Trace
from switchyard.types.chat import ChatRequest, UserMessage
from switchyard.types.identity import Principal

if TYPE_CHECKING:
    from switchyard.routing.cascade import Cascade
    from switchyard.routing.executor import Executor


class Stage(msgspec.Struct):
    """One cascade step: the member called, its answer's score, and whether the answer was kept."""

    member: str
    score: float | None = None
    threshold: float | None = None
    accepted: bool = False
    error: str | None = None
    cost_usd: float | None = None


class Decision(msgspec.Struct, omit_defaults=True):
    """Why a router group served a request from ``chosen``; rendered in headers and stored in the request log."""

    group: str
    kind: str
    chosen: str
    candidates: list[str]
    reason: str = "router"  # router | capability | shadow | cascade | bypass
    score: float | None = None
    threshold: float | None = None
    calibration: str | None = None  # where the threshold came from: team | key | live | file | request
    cost_weight: float | None = None
    utilities: dict[str, float] | None = None
    shadow: str | None = None  # shadow mode: the member the decider would have chosen
    stages: list[Stage] | None = None
    ms: float = 0.0

    def headers(self) -> dict[str, str]:
        parts = [self.kind, f"chosen={self.chosen}", f"reason={self.reason}"]
        if self.threshold is not None:
            parts.append(f"threshold={self.threshold:.4f}")
        if self.calibration is not None:
            parts.append(f"calibration={self.calibration}")
        if self.cost_weight is not None:
            parts.append(f"cost_weight={self.cost_weight:g}")
        if self.shadow is not None:
            parts.append(f"shadow={self.shadow}")
        if self.stages:
            parts.append("stages=" + ">".join(f"{s.member}:{'ok' if s.accepted else 'no'}" for s in self.stages))
        headers = {"x-switchyard-route": ";".join(parts)}
        score = self.score
        if score is None and self.stages:
            score = next((s.score for s in reversed(self.stages) if s.score is not None), None)
        if score is not None:
            headers["x-switchyard-route-score"] = f"{score:.4f}"
        return headers

    def to_json(self) -> str:
        return _encode(self).decode()


_encode = msgspec.json.Encoder().encode


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """A decider's pick: the index of the member, and the numbers behind it."""

    index: int
    score: float | None = None
    threshold: float | None = None
    calibration: str | None = None
    cost_weight: float | None = None
    utilities: dict[str, float] | None = None


class Decider(Protocol):
    """Scores a prompt and picks one of the capable members (indices into the member list, cheapest first).

    ``record``: the decision serves a request, so a live-calibrated decider adds its score to the recent traffic
    (a dry run does not). ``scope``: the caller's team or key when the group calibrates per caller."""

    kind: str

    def decide(
        self, prompt: str, capable: Sequence[int], options: RouteOptions, record: bool = True, scope: str | None = None
    ) -> Verdict: ...

    def threshold_now(self) -> tuple[float, str] | None:
        """The threshold the configured share uses right now and its source (live | file); None without one."""
        ...

    def view(self) -> DeciderView:
        """The decider's state for operators, computed on demand (``routing.snapshot``)."""
        ...


class Counter(Protocol):
    def chat(self, request: ChatRequest) -> int: ...


def prompt_text(request: ChatRequest) -> str:
    """The text a router scores: the last user message (RouteLLM's convention), else the last message's text."""
    for message in reversed(request.messages):
        if isinstance(message, UserMessage):
            return _text(message)
    return _text(request.messages[-1]) if request.messages else ""


def _text(message: object) -> str:
    content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for part in content if isinstance(t := getattr(part, "text", None), str))
    return ""


class RouterGroup:
    def __init__(
        self,
        name: str,
        spec: RouterSpec,
        members: list[Group],
        decider: Decider | None,
        cascade: Cascade | None = None,
        counter: Counter | None = None,
        *,
        offload: bool = False,
    ) -> None:
        self.name = name
        self.offload = offload
        self.spec = spec
        self.members = members
        self.decider = decider
        self.cascade = cascade
        self.created = min((m.created for m in members), default=int(time.time()))
        self._counter = counter
        self._by_name = {m.name: i for i, m in enumerate(members)}
        self._serve = self._by_name[spec.serve] if spec.serve else len(members) - 1
        # Served decisions per member since start, and in shadow mode the learned ones (dry runs count in neither).
        self._served, self._shadowed = Tally(), Tally()

    @property
    def kind(self) -> str:
        return self.spec.kind

    def threshold_now(self) -> tuple[float, str] | None:
        return self.decider.threshold_now() if self.decider is not None else None

    def view(self) -> RouterView:
        """This group's members, calibration, threshold, windows and decisions, for ``GET /admin/routers``."""
        spec = self.spec
        decider = self.decider.view() if self.decider is not None else DeciderView("capability")
        stages = self.cascade.view() if self.cascade is not None else None
        return RouterView(
            name=self.name,
            kind=self.kind,
            strategy="cascade" if stages is not None else decider.strategy,
            members=[m.name for m in self.members],
            shadow=spec.shadow,
            serve=self.members[self._serve].name if spec.shadow else None,
            calibration=decider.calibration,
            calibration_scope=spec.calibration_scope,
            target_share=decider.target_share,
            cost_weight=decider.cost_weight,
            threshold=decider.threshold,
            threshold_source=decider.threshold_source,
            window=decider.window,
            recent=decider.recent,
            realised_strong_share=decider.realised_strong_share,
            decisions=self._served.counts(),
            shadow_decisions=self._shadowed.counts() if spec.shadow else None,
            scopes=decider.scopes,
            stages=stages,
            escalate_share=spec.cascade.escalate_share if stages is not None else None,
            stream=spec.cascade.stream if stages is not None else None,
        )

    def member(self, name: str) -> Group:
        return self.members[self._by_name[name]]

    def shape(self, request: ChatRequest) -> RequestShape:
        shape = shape_of(request)
        if self._counter is not None:  # a real token count where a tokenizer is available, else chars / 4
            shape = dataclasses.replace(shape, prompt_tokens=self._counter.chat(request))
        return shape

    def capable(self, request: ChatRequest, options: RouteOptions) -> list[int]:
        """Indices of the members able to serve the request; the last member's reason when none is."""
        shape = self.shape(request)
        found: list[int] = []
        failure: errors.SwitchyardError | None = None
        for index, group in enumerate(self.members):
            try:
                capable(group, shape, options)
            except errors.SwitchyardError as exc:
                failure = exc
                continue
            found.append(index)
        if not found:
            assert failure is not None
            raise failure
        return found

    def scope_of(self, principal: Principal | None) -> str | None:
        """The live-calibration scope of a caller: its team or key id with ``calibration_scope``, else None."""
        if principal is None or self.spec.calibration_scope == "group":
            return None
        return principal.team_id if self.spec.calibration_scope == "team" else principal.key_id

    async def route(
        self, request: ChatRequest, options: RouteOptions, *, record: bool = True, principal: Principal | None = None
    ) -> Decision:
        """``decide``, in a worker thread when the decider embeds the prompt: a forward pass of a few
        milliseconds on the event loop would stall every other request in flight."""
        scope = self.scope_of(principal)
        if self.offload:
            return await asyncio.to_thread(self.decide, request, options, record=record, scope=scope)
        return self.decide(request, options, record=record, scope=scope)

    def decide(
        self, request: ChatRequest, options: RouteOptions, *, record: bool = True, scope: str | None = None
    ) -> Decision:
        """The member to serve from, and why. Raises the capability error when no member can serve.

        ``record``: False for a dry run, which must not move a live-calibrated threshold."""
        started = time.perf_counter()
        fit = self.capable(request, options)
        names = [self.members[i].name for i in fit]
        if options.cost_weight is not None and options.cost_weight < 0:
            raise errors.InvalidRequestError("x-switchyard-cost-weight must be >= 0", param="x-switchyard-cost-weight")
        if self.cascade is not None:
            decision = Decision(self.name, self.kind, names[0], names, reason="cascade")
        elif len(fit) == 1 or self.decider is None:
            decision = Decision(self.name, self.kind, names[0], names, reason="capability")
        else:
            verdict = self.decider.decide(prompt_text(request), fit, options, record, scope)
            decision = Decision(
                self.name,
                self.kind,
                self.members[verdict.index].name,
                names,
                score=verdict.score,
                threshold=verdict.threshold,
                calibration=verdict.calibration,
                cost_weight=verdict.cost_weight,
                utilities=verdict.utilities,
            )
            if self.spec.shadow:
                served = self._serve if self._serve in fit else fit[-1]
                decision.shadow, decision.chosen = decision.chosen, self.members[served].name
                decision.reason = "shadow"
                if record:
                    self._shadowed.add(decision.shadow)
        if record and self.cascade is None:  # a cascade's member is known only once an answer is accepted
            self._served.add(decision.chosen)
        decision.ms = round((time.perf_counter() - started) * 1000, 3)
        return decision

    async def chat(
        self, executor: Executor, call: ChatCall, trace: Trace, options: RouteOptions, decision: Decision
    ) -> Reply:
        if self.cascade is not None:
            reply = await self.cascade.chat(executor, self._chain(decision), call, trace, options, decision)
            self._served.add(decision.chosen)
            return reply
        return await executor.chat(self.member(decision.chosen), call, trace, options)

    async def chat_stream(
        self, executor: Executor, call: ChatCall, trace: Trace, options: RouteOptions, decision: Decision
    ) -> OpenStream:
        if self.cascade is not None:
            opened = await self.cascade.chat_stream(executor, self._chain(decision), call, trace, options, decision)
            self._served.add(decision.chosen)
            return opened
        return await executor.chat_stream(self.member(decision.chosen), call, trace, options)

    def _chain(self, decision: Decision) -> list[Group]:
        return [self.member(name) for name in decision.candidates]
