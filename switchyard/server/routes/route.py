"""``POST /v1/route`` (dry run of a routing decision) and ``POST /v1/feedback`` (a score for a served answer).

Both authenticate like chat completions. The dry run decodes a chat request and returns what the router group
would do, with the same ``x-switchyard-route`` headers, without calling any model; a plain group answers with
itself. Feedback is stored for ``switchyard train router --from-logs``.
"""

from __future__ import annotations

import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.errors import InvalidRequestError, ModelNotAllowedError, SwitchyardError
from switchyard.pipeline.routed import resolve
from switchyard.routing.router_group import Decision, RouterGroup
from switchyard.server.decode import decode, read_body
from switchyard.server.envelope import error_response
from switchyard.server.routes.common import Services, new_context, route_options
from switchyard.storage.feedback import Feedback, FeedbackStore
from switchyard.types.chat import ChatRequest

_chat_decoder = msgspec.json.Decoder(ChatRequest)
_JSON = "application/json"
MAX_COMMENT = 4000


class FeedbackIn(msgspec.Struct, forbid_unknown_fields=True):
    request_id: str
    score: float
    comment: str | None = None


class DryRun(msgspec.Struct):
    object: str
    model: str
    decision: Decision


_feedback_decoder = msgspec.json.Decoder(FeedbackIn)
_encode = msgspec.json.Encoder().encode


def routes(services: Services, feedback: FeedbackStore) -> list[Route]:
    pipeline = services.pipeline
    ids = services.ids
    limit = services.config.server.max_request_bytes

    async def dry_run(request: Request) -> Response:
        ctx = new_context(request, "/v1/route", ids)
        try:
            body = await read_body(request, limit)
            await pipeline.authenticate(ctx)
            chat = decode(body, _chat_decoder)
            allowed = ctx.principal.allowed_models if ctx.principal is not None else None
            if allowed is not None and chat.model not in allowed:  # the same answer the chat path's access gives
                raise ModelNotAllowedError(f"this key may not use the model `{chat.model}`", param="model")
            target = resolve(pipeline.executor, pipeline.routers, chat.model)
            if isinstance(target, RouterGroup):
                decision = await target.route(chat, route_options(request), record=False, principal=ctx.principal)
            else:
                decision = Decision(chat.model, "static", chat.model, [chat.model], reason="static")
        except SwitchyardError as exc:
            return error_response(exc, ctx.headers())
        headers = {**ctx.headers(), **decision.headers()}
        return Response(_encode(DryRun("route.decision", chat.model, decision)), 200, headers, media_type=_JSON)

    async def give_feedback(request: Request) -> Response:
        ctx = new_context(request, "/v1/feedback", ids)
        try:
            body = await read_body(request, limit)
            await pipeline.authenticate(ctx)
            given = decode(body, _feedback_decoder)
            _check(given)
            key_id = ctx.principal.key_id if ctx.principal is not None else None
            stored = Feedback(given.request_id, given.score, time.time(), given.comment, key_id)
            await feedback.add(stored)
        except SwitchyardError as exc:
            return error_response(exc, ctx.headers())
        body = _encode({"object": "feedback", **msgspec.structs.asdict(stored)})
        return Response(body, 201, ctx.headers(), media_type=_JSON)

    return [
        Route("/v1/route", dry_run, methods=["POST"]),
        Route("/v1/feedback", give_feedback, methods=["POST"]),
    ]


def _check(given: FeedbackIn) -> None:
    if not given.request_id or len(given.request_id) > 128 or not given.request_id.isprintable():
        raise InvalidRequestError("request_id must be the x-request-id of a served request", param="request_id")
    if not 0.0 <= given.score <= 1.0:
        raise InvalidRequestError("score must be between 0 and 1", param="score")
    if given.comment is not None and len(given.comment) > MAX_COMMENT:
        raise InvalidRequestError(f"comment is longer than {MAX_COMMENT} characters", param="comment")
