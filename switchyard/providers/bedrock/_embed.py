"""Bedrock embeddings through InvokeModel (``POST /model/{modelId}/invoke``), signed like the Converse calls.

InvokeModel bodies are the model vendor's own, so the body family is chosen from the model id once, at start-up:

- Amazon Titan Text Embeddings (``amazon.titan-embed-text-v2:0``; v1 / G1 take ``inputText`` alone): one call per
  input string (the API embeds one text per call), run concurrently with a small bound so one request cannot hold
  the whole connection pool, answers kept in input order. ``dimensions`` is one of 256, 512, 1024 (v2 only);
  vectors come back normalized (Titan's default). ``prompt_tokens`` is the sum of ``inputTextTokenCount``.
- Cohere Embed (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``, ``cohere.embed-v4:0``): up to 96
  texts per call, batches run concurrently; ``input_type: search_document`` (OpenAI's API has no way to say
  query or document, and documents are what most embedding calls index), ``embedding_types: ["float"]``;
  ``dimensions`` maps to ``output_dimension`` on v4 (256, 512, 1024, 1536) and is refused on v3. The body has no
  token count: Bedrock reports it in the ``X-Amzn-Bedrock-Input-Token-Count`` response header, which is used;
  without it the count is estimated on the high side (see ``_estimate``).

Token-id inputs, and ``dimensions`` a model cannot honour, are a 400 naming the parameter before any call.
``encoding_format: base64`` is encoded here (little-endian float32, as OpenAI does). Errors map exactly as for
Converse (``_response.http_error``).
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from switchyard import errors
from switchyard.providers.base import EmbedCall, Reply
from switchyard.providers.bedrock._response import PROVIDER, http_error
from switchyard.transport import UpstreamResponse
from switchyard.types.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage

TITAN_V2, TITAN_V1, COHERE_V3, COHERE_V4 = "titan-v2", "titan-v1", "cohere-v3", "cohere-v4"
TITAN_DIMENSIONS = (256, 512, 1024)
COHERE_V4_DIMENSIONS = (256, 512, 1024, 1536)
COHERE_BATCH = 96  # Cohere Embed's limit of texts per call
TITAN_CONCURRENCY = 8  # Titan calls in flight per request
COHERE_INPUT_TYPE = "search_document"
TOKEN_HEADER = "x-amzn-bedrock-input-token-count"

_encoder = msgspec.json.Encoder()
# Sends one signed InvokeModel body; returns the upstream's answer (status < 400) or raises the mapped error.
Post = Callable[[bytes], Awaitable[UpstreamResponse]]


def embed_family(model: str) -> str | None:
    """The InvokeModel body family of a Bedrock model id (or inference-profile id), None for a non-embedding model."""
    lowered = model.lower()
    if "cohere.embed-v4" in lowered:
        return COHERE_V4
    if "cohere.embed" in lowered:
        return COHERE_V3
    if "titan-embed-text-v2" in lowered:
        return TITAN_V2
    if "titan-embed-text-v1" in lowered or "titan-embed-g1-text" in lowered:
        return TITAN_V1
    return None


class _TitanAnswer(msgspec.Struct):
    embedding: list[float]
    inputTextTokenCount: int = 0


class _CohereTyped(msgspec.Struct):
    floats: list[list[float]] | None = msgspec.field(default=None, name="float")


class _CohereAnswer(msgspec.Struct):
    # A list of vectors ("embeddings_floats") or, when embedding_types was sent, one list per type
    # ("embeddings_by_type"). Decoded as Any: msgspec cannot tell a list from an object in one union here.
    embeddings: Any
    response_type: str | None = None


_titan_decoder = msgspec.json.Decoder(_TitanAnswer)
_cohere_decoder = msgspec.json.Decoder(_CohereAnswer)


@dataclass(frozen=True, slots=True)
class BedrockEmbedder:
    """Embeddings for one deployment: ``family`` from ``embed_family``; ``post`` sends a signed body."""

    family: str | None
    model: str
    post: Post

    async def embed(self, call: EmbedCall) -> Reply:
        request = call.request
        if self.family is None:
            raise errors.InvalidRequestError(
                f"model group {request.model!r} is served by Bedrock model {self.model!r}, which is not an embeddings "
                "model (Titan Text Embeddings or Cohere Embed)",
                param="model",
            )
        texts = _texts(request)
        _check_dimensions(self.family, request.dimensions)
        if self.family in (TITAN_V2, TITAN_V1):
            vectors, tokens, request_id = await self._titan(texts, request.dimensions)
        else:
            vectors, tokens, request_id = await self._cohere(texts, request.dimensions)
        b64 = request.encoding_format == "base64"
        data = [Embedding(i, _b64(vector) if b64 else vector) for i, vector in enumerate(vectors)]
        answer = EmbeddingResponse(data, self.model, EmbeddingUsage(tokens, tokens))
        return Reply(_encoder.encode(answer), request_id)

    async def _titan(self, texts: list[str], dimensions: int | None) -> tuple[list[list[float]], int, str | None]:
        gate = asyncio.Semaphore(TITAN_CONCURRENCY)

        async def one(text: str) -> tuple[_TitanAnswer, str | None]:
            body: dict[str, Any] = {"inputText": text}
            if self.family == TITAN_V2:
                body["normalize"] = True
                if dimensions is not None:
                    body["dimensions"] = dimensions
            async with gate:
                response = await self.post(_encoder.encode(body))
            try:
                return _titan_decoder.decode(response.body), response.headers.get("x-amzn-RequestId")
            except msgspec.DecodeError:
                raise errors.UpstreamError(f"upstream {PROVIDER} sent a malformed Titan embeddings answer") from None

        answers = await asyncio.gather(*(one(text) for text in texts))
        tokens = sum(answer.inputTextTokenCount for answer, _ in answers)
        return [answer.embedding for answer, _ in answers], tokens, answers[0][1]

    async def _cohere(self, texts: list[str], dimensions: int | None) -> tuple[list[list[float]], int, str | None]:
        async def batch(part: list[str]) -> tuple[list[list[float]], int, str | None]:
            body: dict[str, Any] = {"texts": part, "input_type": COHERE_INPUT_TYPE, "embedding_types": ["float"]}
            if dimensions is not None:
                body["output_dimension"] = dimensions
            response = await self.post(_encoder.encode(body))
            vectors = _cohere_vectors(response.body, len(part))
            return vectors, _tokens(response.headers, part), response.headers.get("x-amzn-RequestId")

        parts = [texts[i : i + COHERE_BATCH] for i in range(0, len(texts), COHERE_BATCH)]
        results = await asyncio.gather(*(batch(part) for part in parts))
        vectors = [vector for result in results for vector in result[0]]
        return vectors, sum(result[1] for result in results), results[0][2]


def _texts(request: EmbeddingRequest) -> list[str]:
    texts = [request.input] if isinstance(request.input, str) else request.input
    strings = [text for text in texts if isinstance(text, str)]
    if len(strings) != len(texts):
        raise errors.InvalidRequestError("Bedrock embeddings take text, not token ids", param="input")
    return strings


def _check_dimensions(family: str, dimensions: int | None) -> None:
    if dimensions is None:
        return
    allowed = {TITAN_V2: TITAN_DIMENSIONS, COHERE_V4: COHERE_V4_DIMENSIONS}.get(family)
    if allowed is None:
        raise errors.InvalidRequestError("this Bedrock embeddings model has a fixed size: drop dimensions",
                                         param="dimensions")  # fmt: skip
    if dimensions not in allowed:
        sizes = ", ".join(str(size) for size in allowed)
        raise errors.InvalidRequestError(f"dimensions must be one of {sizes} for this model", param="dimensions")


def _cohere_vectors(body: bytes, expected: int) -> list[list[float]]:
    try:
        answer = _cohere_decoder.decode(body)
        raw = answer.embeddings
        if isinstance(raw, dict):  # embeddings_by_type
            vectors = msgspec.convert(raw, _CohereTyped).floats
        else:  # embeddings_floats
            vectors = msgspec.convert(raw, list[list[float]])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise errors.UpstreamError(f"upstream {PROVIDER} sent a malformed Cohere embeddings answer") from None
    if vectors is None or len(vectors) != expected:
        raise errors.UpstreamError(f"upstream {PROVIDER} returned a different number of embeddings than inputs")
    return vectors


def _tokens(headers: Mapping[str, str], texts: list[str]) -> int:
    value = headers.get(TOKEN_HEADER)  # the transport's headers are case-insensitive
    if value is not None and value.isdigit():
        return int(value)
    return _estimate(texts)


def _estimate(texts: list[str]) -> int:
    # Without Bedrock's count, err high so budgets and rate limits are not undercharged: a token per three
    # characters (English averages about four) plus one per text for the special tokens Cohere prepends.
    return sum(math.ceil(len(text) / 3) + 1 for text in texts)


def _b64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def raise_for_status(response: UpstreamResponse, secrets: tuple[str | None, ...]) -> UpstreamResponse:
    if response.status >= 400:
        raise http_error(response.status, response.headers, response.body, secrets)
    return response
