"""The stage protocol: code that runs before and after the executor for every request."""

from __future__ import annotations

from typing import Protocol

from switchyard.pipeline.context import RequestContext


class Stage(Protocol):
    async def before(self, ctx: RequestContext) -> None:
        """Runs before the call in order; raise a ``SwitchyardError`` to refuse the request."""

    def after(self, ctx: RequestContext) -> None:
        """Runs after the call (success or failure) in reverse order. Must not block: queue work instead."""
