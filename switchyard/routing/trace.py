"""What the executor did for one request: every attempt, in order. Shown in headers and the request log."""

from __future__ import annotations

import msgspec

from switchyard.accounting.pricing import Price


class Attempt(msgspec.Struct, omit_defaults=True):
    deployment: str
    ms: float
    # None when the attempt succeeded.
    error: str | None = None
    group: str | None = None
    hedge: bool = False


class Trace:
    __slots__ = ("attempts", "deployment", "fallbacks", "price")

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.deployment: str | None = None
        # The served deployment's price, for the cost stage.
        self.price: Price | None = None
        # "from>to:reason" for each move to a fallback group.
        self.fallbacks: list[str] = []

    def summary(self) -> str:
        """Compact form for a response header: ``dep-a:upstream_timeout,dep-b:ok``."""
        return ",".join(f"{a.deployment}:{a.error or 'ok'}{'(hedge)' if a.hedge else ''}" for a in self.attempts)
