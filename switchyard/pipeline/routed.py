"""Requests addressed to a router group: decide, explain the decision, then serve from the chosen member.

The pipeline resolves a model name to a plain group or a router group (``resolve``) and calls ``complete`` or
``open_stream`` either way; for a plain group these are the executor's own calls. The decision goes into the
response headers (``x-switchyard-route``, ``x-switchyard-route-score``) and the request log (``ctx.decision``),
also when serving fails, so a refused or failed request still says where the router sent it.
"""

from __future__ import annotations

from collections.abc import Mapping

from switchyard.pipeline.context import RequestContext
from switchyard.providers.base import ChatCall, Reply
from switchyard.routing.executor import Executor
from switchyard.routing.options import RouteOptions
from switchyard.routing.router_group import Decision, RouterGroup
from switchyard.routing.streams import OpenStream
from switchyard.routing.target import Group


def resolve(executor: Executor, routers: Mapping[str, RouterGroup], name: str) -> Group | RouterGroup:
    router = routers.get(name)
    return router if router is not None else executor.group(name)


def explain(ctx: RequestContext, decision: Decision) -> None:
    ctx.decision = decision
    ctx.extra_headers = {**(ctx.extra_headers or {}), **decision.headers()}


async def complete(
    executor: Executor, target: Group | RouterGroup, ctx: RequestContext, call: ChatCall, options: RouteOptions
) -> Reply:
    if isinstance(target, Group):
        return await executor.chat(target, call, ctx.trace, options)
    decision = await target.route(call.request, options, principal=ctx.principal)
    try:
        return await target.chat(executor, call, ctx.trace, options, decision)
    finally:
        explain(ctx, decision)  # after serving: a cascade records its stages and final member


async def open_stream(
    executor: Executor, target: Group | RouterGroup, ctx: RequestContext, call: ChatCall, options: RouteOptions
) -> OpenStream:
    if isinstance(target, Group):
        return await executor.chat_stream(target, call, ctx.trace, options)
    decision = await target.route(call.request, options, principal=ctx.principal)
    try:
        return await target.chat_stream(executor, call, ctx.trace, options, decision)
    finally:
        explain(ctx, decision)
