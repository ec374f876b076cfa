"""Model access: a key may only call the model groups it and its team allow."""

from __future__ import annotations

from switchyard.errors import ModelNotAllowedError
from switchyard.pipeline.context import RequestContext
from switchyard.types.identity import Principal


class AccessStage:
    async def before(self, ctx: RequestContext) -> None:
        principal = ctx.principal
        if principal is None or principal.allowed_models is None:
            return
        if ctx.model_group not in principal.allowed_models:
            # Name only the group asked for: the refusal must not list what the key may use.
            raise ModelNotAllowedError(
                f"This API key is not allowed to use the model `{ctx.model_group}`.", param="model"
            )

    def after(self, ctx: RequestContext) -> None:
        return None


def may_use(principal: Principal | None, group: str) -> bool:
    """Whether ``/v1/models`` shows this group to the caller."""
    return principal is None or principal.allowed_models is None or group in principal.allowed_models
