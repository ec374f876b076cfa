"""Authentication: with a master key configured, every call must present it."""

from __future__ import annotations

import hmac

from switchyard.errors import AuthenticationError
from switchyard.pipeline.context import RequestContext


class MasterKeyAuth:
    def __init__(self, master_key: str) -> None:
        self._key = master_key.encode()

    async def before(self, ctx: RequestContext) -> None:
        if ctx.api_key is None:
            raise AuthenticationError("You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.")
        if not hmac.compare_digest(ctx.api_key.encode(), self._key):
            raise AuthenticationError("Incorrect API key provided.")

    def after(self, ctx: RequestContext) -> None:
        return None
