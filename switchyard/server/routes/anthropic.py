"""Anthropic-format endpoints: ``POST /v1/messages`` (plain and streamed) and ``/v1/messages/count_tokens``.

Any model group answers, whatever its providers: the body is translated to the canonical request at the edge
(``formats.anthropic_request``), goes through the same pipeline as an OpenAI-format request, and the answer is
translated back (``formats.anthropic_response`` and ``formats.anthropic_stream``). The client's own body rides
along (``ChatCall.native``): a deployment whose adapter speaks this API gets it as it is (only the model
renamed), so nothing the canonical form cannot carry is lost (``cache_control``, ``top_k``, signed thinking
blocks, citations, ``stop_sequence``), and its answer (``Reply.format`` / ``StreamRelay.format`` naming this
API) is sent back untouched. Which happens is decided per attempt, so a fallback to another kind of provider
still answers in this format, translated. The key comes from
``x-api-key`` or ``Authorization: Bearer``; ``anthropic-version`` and ``anthropic-beta`` ride along with the
native body (``NativeBody.headers``), since what a body means can depend on them, and are not used otherwise.
Errors use Anthropic's envelope (``formats.anthropic_errors``); every response carries our request id as
``request-id``, where Anthropic's SDKs look for it.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.errors import SwitchyardError
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.routed import resolve
from switchyard.pipeline.stages.access import AccessStage
from switchyard.providers.base import ANTHROPIC_MESSAGES, ChatCall, NativeBody, Reply
from switchyard.server.decode import decode, read_body
from switchyard.server.formats.anthropic_errors import error_event, error_response
from switchyard.server.formats.anthropic_request import to_chat
from switchyard.server.formats.anthropic_response import to_message
from switchyard.server.formats.anthropic_stream import StreamEncoder, anthropic_events
from switchyard.server.formats.anthropic_tokens import estimate_input_tokens
from switchyard.server.routes.common import Services, new_context, route_options
from switchyard.server.sse import SSEResponse
from switchyard.types.anthropic import MessagesRequest, TokenCount

_decoder = msgspec.json.Decoder(MessagesRequest)
_encode = msgspec.json.Encoder().encode
_JSON = "application/json"
_API_HEADERS = ("anthropic-version", "anthropic-beta")


def _headers(ctx: RequestContext) -> dict[str, str]:
    return {**ctx.headers(), "request-id": ctx.request_id}


def _api_headers(request: Request) -> tuple[tuple[str, str], ...]:
    """The client's Anthropic API headers, for an upstream that gets its body as it is (repeats joined by commas)."""
    found = ((name, ",".join(request.headers.getlist(name))) for name in _API_HEADERS)
    return tuple((name, value) for name, value in found if value)


def _join(frames: list[bytes]) -> bytes:
    return b"".join(frames)


def routes(services: Services) -> list[Route]:
    pipeline = services.pipeline
    ids = services.ids
    limit = services.config.server.max_request_bytes
    access = AccessStage()  # count_tokens checks model access itself: it does not run the pipeline

    async def messages(request: Request) -> Response | SSEResponse:
        ctx = new_context(request, "/v1/messages", ids)
        try:
            body = await read_body(request, limit)
            await pipeline.authenticate(ctx)
            chat = to_chat(decode(body, _decoder))
            ctx.model_group = chat.model
            # The canonical body stands in for an OpenAI client's: providers that forward one forward this.
            as_sent = NativeBody(ANTHROPIC_MESSAGES, body, _api_headers(request))
            call = ChatCall(chat, _encode(chat), as_sent)
            result = await pipeline.chat(ctx, call, route_options(request), usage_chunk=True)
            if isinstance(result, Reply):
                native = result.format == ANTHROPIC_MESSAGES
                answer = result.body if native else to_message(result.body, chat.model)
                return Response(answer, 200, _headers(ctx), media_type=_JSON)
        except SwitchyardError as exc:
            pipeline.fail(ctx, exc)
            return error_response(exc, _headers(ctx), ctx.request_id)
        if result.format == ANTHROPIC_MESSAGES:
            return SSEResponse(result.batches(), _headers(ctx), _join, b"", error_event)
        encoder = StreamEncoder(chat.model, estimate_input_tokens(chat))
        return SSEResponse(anthropic_events(result.batches(), encoder), _headers(ctx), _join, b"", error_event)

    async def count_tokens(request: Request) -> Response:
        ctx = new_context(request, "/v1/messages/count_tokens", ids)
        try:
            body = await read_body(request, limit)
            await pipeline.authenticate(ctx)
            chat = to_chat(decode(body, _decoder), counting=True)
            ctx.model_group = chat.model
            resolve(pipeline.executor, pipeline.routers, chat.model)  # unknown is a 404; router groups count
            await access.before(ctx)  # a key limited to some models may count only for those (403)
        except SwitchyardError as exc:
            return error_response(exc, _headers(ctx), ctx.request_id)
        answer = _encode(TokenCount(estimate_input_tokens(chat)))
        return Response(answer, 200, _headers(ctx), media_type=_JSON)

    return [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    ]
