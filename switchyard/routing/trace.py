"""What the executor did for one request: every attempt, in order. Shown in headers and the request log.

An optional ``observer`` hears each attempt start and end as it happens (the tracing layer's live spans). It is
None unless tracing is on, and then every hook below is a plain attribute check: routing pays nothing for it and
never learns what the observer is.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import msgspec

from switchyard.accounting.pricing import Price

R = TypeVar("R")


class Attempt(msgspec.Struct, omit_defaults=True):
    deployment: str
    ms: float
    # None when the attempt succeeded.
    error: str | None = None
    group: str | None = None
    hedge: bool = False


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_Identified)


class AttemptObserver(Protocol):
    def attempt_started(self, deployment: str, group: str) -> None: ...

    def attempt_ended(self, attempt: Attempt, *, streaming: bool) -> None:
        """``streaming``: a stream answered; the attempt lasts until ``stream_ended``."""

    def stream_ended(self, deployment: str, error: str | None) -> None: ...


class Trace:
    __slots__ = ("attempts", "deployment", "fallbacks", "observer", "price")

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.deployment: str | None = None
        # The served deployment's price, for the cost stage.
        self.price: Price | None = None
        # "from>to:reason" for each move to a fallback group.
        self.fallbacks: list[str] = []
        self.observer: AttemptObserver | None = None

    def observed(
        self, call: Callable[[T], Coroutine[Any, Any, R]], group: str
    ) -> Callable[[T], Coroutine[Any, Any, R]]:
        """``call``, telling the observer when each attempt (hedges included) really starts."""
        observer = self.observer
        if observer is None:
            return call

        async def attempt(target: T) -> R:
            observer.attempt_started(target.id, group)
            return await call(target)

        return attempt

    def record(self, attempt: Attempt, streaming: bool = False) -> None:
        """An attempt ended (or, ``streaming``, answered with a stream that is still running)."""
        self.attempts.append(attempt)
        if self.observer is not None:
            self.observer.attempt_ended(attempt, streaming=streaming)

    def stream_ended(self, deployment: str, error: str | None) -> None:
        if self.observer is not None:
            self.observer.stream_ended(deployment, error)

    def summary(self) -> str:
        """Compact form for a response header: ``dep-a:upstream_timeout,dep-b:ok``."""
        return ",".join(f"{a.deployment}:{a.error or 'ok'}{'(hedge)' if a.hedge else ''}" for a in self.attempts)
