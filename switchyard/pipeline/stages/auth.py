"""Authentication: the master key, a virtual key, or nobody on an open gateway (see switchyard.auth)."""

from __future__ import annotations

from switchyard.auth.authenticator import Authenticator
from switchyard.pipeline.context import RequestContext


class AuthStage:
    """Runs before the body is decoded (``Pipeline.authenticate``); sets ``ctx.principal``."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def before(self, ctx: RequestContext) -> None:
        ctx.principal = await self._authenticator.authenticate(ctx.api_key)

    def after(self, ctx: RequestContext) -> None:
        return None
