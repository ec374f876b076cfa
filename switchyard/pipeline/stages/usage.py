"""Usage and cost: price the tokens the served deployment reported, before the log records them."""

from __future__ import annotations

from switchyard.accounting.cost import cost_of
from switchyard.pipeline.context import RequestContext


class CostStage:
    async def before(self, ctx: RequestContext) -> None:
        return None

    def after(self, ctx: RequestContext) -> None:
        price, usage = ctx.trace.price, ctx.usage
        if price is not None and usage is not None:
            ctx.cost_usd = round(cost_of(usage, price).total, 10)
