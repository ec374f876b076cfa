"""What the executor did for one request: every attempt, in order. Shown in headers and the request log."""

from __future__ import annotations

import msgspec


class Attempt(msgspec.Struct, array_like=False):
    deployment: str
    ms: float
    # None when the attempt succeeded.
    error: str | None = None


class Trace:
    __slots__ = ("attempts", "deployment")

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.deployment: str | None = None

    def summary(self) -> str:
        """Compact form for a response header: ``dep-a:upstream_timeout,dep-b:ok``."""
        return ",".join(f"{a.deployment}:{a.error or 'ok'}" for a in self.attempts)
