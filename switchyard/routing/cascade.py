"""Cascade routing (FrugalGPT): call the cheapest capable member, score its answer, accept it or escalate.

Each member but the last has a threshold (fitted offline under a budget: ``switchyard eval cascade``); an answer
is accepted when the learned scorer's P(correct) for (prompt, answer, mean token logprob when the upstream
returned logprobs) reaches it. The last capable member's answer is always accepted. A member that fails is
skipped the same way (after its own group's retries and fallbacks). Every call is an ordinary executor call,
so each appears in the trace; the cost of rejected answers is recorded per stage in the decision.

With ``escalate_share``, each member's threshold is instead taken live from the scores of its recent answers
(``LiveShare``, as router groups calibrate ``strong_share``), so that it passes on that share of them whatever the
traffic; the configured thresholds serve while the window warms up.

Streams (``cascade.stream``): ``buffer`` reads the cheap member's whole stream before scoring it and replays it
to the client if accepted (the client sees the first byte only after the cheap answer is complete); ``bypass``
sends streams straight to the last member.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from switchyard import errors
from switchyard.accounting.cost import cost_of
from switchyard.providers.base import ChatCall, Reply
from switchyard.routing.chunks import chat_usage
from switchyard.routing.learned.live_share import LiveShare, passes
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.routing.router_group import Decision, Stage, prompt_text
from switchyard.routing.snapshot import Outcomes, StageView, Tally
from switchyard.routing.streams import OpenStream
from switchyard.routing.target import Group
from switchyard.routing.trace import Trace
from switchyard.types.chat import Usage

if TYPE_CHECKING:
    from switchyard.routing.executor import Executor


class AnswerScoring(Protocol):
    def score(self, member: str, prompt: str, answer: str, logprob: float | None) -> float:
        """P(the member's answer to the prompt is good enough), in [0, 1]."""
        ...


class _Logprob(msgspec.Struct):
    logprob: float = 0.0


class _Logprobs(msgspec.Struct):
    content: list[_Logprob] | None = None


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    delta: _Message | None = None
    logprobs: _Logprobs | None = None


class _Body(msgspec.Struct):
    choices: list[_Choice] = msgspec.field(default_factory=list)


_read = msgspec.json.Decoder(_Body)


def read_answer(payloads: list[bytes]) -> tuple[str, float | None]:
    """The answer text of a reply body or of a stream's chunks, and its mean token logprob (None if absent)."""
    texts: list[str] = []
    logprobs: list[float] = []
    for payload in payloads:
        try:
            body = _read.decode(payload)
        except msgspec.DecodeError:
            continue
        for choice in body.choices[:1]:
            part = choice.message or choice.delta
            if part is not None and part.content:
                texts.append(part.content)
            if choice.logprobs is not None and choice.logprobs.content:
                logprobs.extend(item.logprob for item in choice.logprobs.content)
    return "".join(texts), (sum(logprobs) / len(logprobs) if logprobs else None)


class Cascade:
    def __init__(
        self,
        scorer: AnswerScoring,
        thresholds: dict[str, float],
        stream: str,
        escalate_share: float | None = None,
        window: int = 2000,
        warmup: int = 200,
    ) -> None:
        self._scorer = scorer
        self._thresholds = thresholds
        self.stream = stream
        self.escalate_share = escalate_share
        self._live = {m: LiveShare(window, warmup) for m in thresholds} if escalate_share is not None else {}
        self._ties = random.Random()  # splits answers whose score equals a live threshold; not a security boundary
        # For ``view``: answers judged, accepted and members failed since start, and the recent acceptances.
        self._judged, self._accepted, self._failed = Tally(), Tally(), Tally()
        self._recent = {m: self._live[m].outcomes if m in self._live else Outcomes(window) for m in thresholds}

    def thresholds_now(self) -> dict[str, tuple[float, str]]:
        """Each member but the last: its acceptance threshold now and its source (fixed | live | warming_up)."""
        found = {}
        for member in self._thresholds:
            live = self._live.get(member)
            source = "fixed" if live is None else "warming_up" if len(live) < live.warmup else "live"
            found[member] = (self._cut(member, DEFAULT_OPTIONS)[0], source)
        return found

    def view(self) -> list[StageView]:
        """Each member but the last: the acceptance threshold now, where it comes from, and what it accepted."""
        judged, accepted, failed = self._judged.counts(), self._accepted.counts(), self._failed.counts()
        now = self.thresholds_now()
        stages = []
        for member, configured in self._thresholds.items():
            threshold, calibration = now[member]
            live = self._live.get(member)
            window = None if live is None else live.view()
            recent, realised = self._recent[member].share()
            stages.append(
                StageView(
                    member, None if math.isinf(threshold) else round(threshold, 6), calibration, configured,
                    self.escalate_share, window, judged.get(member, 0), accepted.get(member, 0),
                    failed.get(member, 0), recent, realised,
                )
            )  # fmt: skip
        return stages

    def _cut(self, member: str, options: RouteOptions) -> tuple[float, float]:
        """The acceptance threshold, and the chance that a score equal to it is accepted."""
        if options.router_threshold is not None:
            return options.router_threshold, 1.0
        live = self._live.get(member)
        if live is not None and self.escalate_share is not None:
            cut = live.cut(1.0 - self.escalate_share)
            if cut is not None:
                return cut
        return self._thresholds[member], 1.0

    async def chat(
        self, executor: Executor, chain: list[Group], call: ChatCall, trace: Trace, options: RouteOptions,
        decision: Decision,
    ) -> Reply:  # fmt: skip
        translated = dataclasses.replace(call, native=None)  # the scorer reads OpenAI-format answers
        prompt = prompt_text(call.request)
        stages = decision.stages = []
        for group in chain[:-1]:
            try:
                reply = await executor.chat(group, translated, trace, options)
            except errors.SwitchyardError as exc:
                _skip(exc, stages, group)
                self._failed.add(group.name)
                continue
            answer, logprob = read_answer([reply.body])
            stage = self._judge(group, prompt, answer, logprob, options, reply.usage, trace)
            stages.append(stage)
            if stage.accepted:
                decision.chosen = group.name
                return reply
        last = chain[-1]
        decision.chosen = last.name
        stages.append(Stage(last.name, accepted=True))
        return await executor.chat(last, translated, trace, options)

    async def chat_stream(
        self, executor: Executor, chain: list[Group], call: ChatCall, trace: Trace, options: RouteOptions,
        decision: Decision,
    ) -> OpenStream:  # fmt: skip
        last = chain[-1]
        if self.stream == "bypass":
            decision.chosen, decision.reason = last.name, "bypass"
            return await executor.chat_stream(last, call, trace, options)
        translated = dataclasses.replace(call, native=None)
        prompt = prompt_text(call.request)
        stages = decision.stages = []
        for group in chain[:-1]:
            try:
                opened = await executor.chat_stream(group, translated, trace, options)
                payloads = await _drain(opened)
            except errors.SwitchyardError as exc:
                _skip(exc, stages, group)
                self._failed.add(group.name)
                continue
            answer, logprob = read_answer(payloads)
            usage = next((u for u in map(chat_usage, reversed(payloads)) if u is not None), None)
            stage = self._judge(group, prompt, answer, logprob, options, usage, trace)
            stages.append(stage)
            if stage.accepted:
                decision.chosen = group.name
                return _replay(opened, payloads)
        decision.chosen = last.name
        stages.append(Stage(last.name, accepted=True))
        return await executor.chat_stream(last, translated, trace, options)

    def _judge(
        self, group: Group, prompt: str, answer: str, logprob: float | None, options: RouteOptions,
        usage: Usage | None, trace: Trace,
    ) -> Stage:  # fmt: skip
        score = float(self._scorer.score(group.name, prompt, answer, logprob))
        threshold, chance = self._cut(group.name, options)
        live = self._live.get(group.name)
        if live is not None:
            live.observe(score)
        accepted = passes(score, threshold, chance, self._ties)
        self._judged.add(group.name)
        if accepted:
            self._accepted.add(group.name)
        recent = self._recent.get(group.name)
        if recent is not None:
            recent.add(accepted)
        cost = round(cost_of(usage, trace.price).total, 10) if usage is not None and trace.price else None
        shown = None if math.isinf(threshold) else round(threshold, 6)
        return Stage(group.name, round(score, 6), shown, accepted, cost_usd=cost)


def _skip(exc: errors.SwitchyardError, stages: list[Stage], group: Group) -> None:
    """A cheap member that failed is passed over, unless the request itself is at fault."""
    if not (exc.retryable or exc.allow_fallback):
        raise exc
    stages.append(Stage(group.name, error=exc.code))


async def _drain(opened: OpenStream) -> list[bytes]:
    """Every payload of an opened stream, within its stall and total deadlines; the stream is closed after."""
    payloads = list(opened.first)
    failure: errors.SwitchyardError | None = None
    try:
        loop = asyncio.get_running_loop()
        while True:
            wait = opened.stall_s
            if opened.deadline is not None:
                left = max(0.0, opened.deadline - loop.time())
                wait = left if wait is None else min(wait, left)
            try:
                async with asyncio.timeout(wait):
                    batch = await anext(opened.batches)
            except StopAsyncIteration:
                return payloads
            except TimeoutError:
                failure = errors.StreamInterruptedError("cascade: the cheap member's stream stalled")
                raise failure from None
            payloads += batch
    except errors.SwitchyardError as exc:
        failure = exc
        raise
    finally:
        await opened.aclose(failure)


class _Buffered:
    """A finished stream replayed from memory (the accepted cheap answer)."""

    def __init__(self, upstream_request_id: str | None) -> None:
        self.upstream_request_id = upstream_request_id

    def batches(self) -> AsyncIterator[list[bytes]]:
        return _empty()

    async def aclose(self) -> None:
        return None


async def _empty() -> AsyncIterator[list[bytes]]:
    nothing: tuple[list[bytes], ...] = ()
    for batch in nothing:
        yield batch


def _replay(opened: OpenStream, payloads: list[bytes]) -> OpenStream:
    stream: Any = _Buffered(opened.stream.upstream_request_id)
    return OpenStream(stream, _empty(), payloads, opened.deployment)
