"""OpenAI-format endpoints: chat completions, embeddings, models."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.errors import ModelNotFoundError, SwitchyardError
from switchyard.pipeline.stages.access import may_use
from switchyard.providers.base import ChatCall, EmbedCall, Reply
from switchyard.server.decode import decode, read_body
from switchyard.server.envelope import error_body, error_response
from switchyard.server.routes.common import Services, new_context, route_options
from switchyard.server.sse import SSEResponse
from switchyard.streaming.sse import DONE_FRAME
from switchyard.types.chat import ChatRequest
from switchyard.types.embeddings import EmbeddingRequest
from switchyard.types.models import ModelCard, ModelList

_chat_decoder = msgspec.json.Decoder(ChatRequest)
_embedding_decoder = msgspec.json.Decoder(EmbeddingRequest)
_JSON = "application/json"


def _frame(batch: list[bytes]) -> bytes:
    return b"".join([b"data: " + payload + b"\n\n" for payload in batch])


def _error_frame(exc: SwitchyardError) -> bytes:
    return b"data: " + error_body(exc) + b"\n\n"


def routes(services: Services) -> list[Route]:
    pipeline = services.pipeline
    ids = services.ids
    limit = services.config.server.max_request_bytes
    cards = [ModelCard(name, g.created, "switchyard") for name, g in pipeline.executor.groups.items()]
    # Router groups (``model: auto``) are called like any model, so they are listed like one.
    cards += [ModelCard(name, r.created, "switchyard") for name, r in pipeline.routers.items()]
    models_body = msgspec.json.encode(ModelList(cards))
    cards_by_id = {card.id: msgspec.json.encode(card) for card in cards}

    async def chat_completions(request: Request) -> Response | SSEResponse:
        ctx = new_context(request, "/v1/chat/completions", ids)
        try:
            body = await read_body(request, limit)
            await pipeline.authenticate(ctx)
            chat = decode(body, _chat_decoder)
            ctx.model_group = chat.model
            result = await pipeline.chat(ctx, ChatCall(chat, body), route_options(request))
        except SwitchyardError as exc:
            pipeline.fail(ctx, exc)
            return error_response(exc, ctx.headers())
        if isinstance(result, Reply):
            return Response(result.body, 200, ctx.headers(), media_type=_JSON)
        return SSEResponse(result.batches(), ctx.headers(), _frame, DONE_FRAME, _error_frame)

    async def embeddings(request: Request) -> Response:
        ctx = new_context(request, "/v1/embeddings", ids)
        try:
            body = await read_body(request, limit)
            await pipeline.authenticate(ctx)
            embed = decode(body, _embedding_decoder)
            ctx.model_group = embed.model
            reply = await pipeline.embed(ctx, EmbedCall(embed, body), route_options(request))
        except SwitchyardError as exc:
            pipeline.fail(ctx, exc)
            return error_response(exc, ctx.headers())
        return Response(reply.body, 200, ctx.headers(), media_type=_JSON)

    async def list_models(request: Request) -> Response:
        ctx = new_context(request, "/v1/models", ids)
        try:
            await pipeline.authenticate(ctx)
        except SwitchyardError as exc:
            return error_response(exc, ctx.headers())
        if ctx.principal is not None and ctx.principal.allowed_models is not None:
            # A key limited to some groups sees only those.
            mine = ModelList([card for card in cards if may_use(ctx.principal, card.id)])
            return Response(msgspec.json.encode(mine), 200, ctx.headers(), media_type=_JSON)
        return Response(models_body, 200, ctx.headers(), media_type=_JSON)

    async def get_model(request: Request) -> Response:
        ctx = new_context(request, "/v1/models/{model}", ids)
        name = request.path_params["model"]
        try:
            await pipeline.authenticate(ctx)
            body = cards_by_id.get(name) if may_use(ctx.principal, name) else None
            if body is None:
                raise ModelNotFoundError(f"The model `{name}` does not exist.", param="model")
        except SwitchyardError as exc:
            return error_response(exc, ctx.headers())
        return Response(body, 200, ctx.headers(), media_type=_JSON)

    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
    ]
