"""The semantic cache's embeddings from one of the gateway's own model groups instead of the packaged model.

The call goes straight to the executor, so the group's load balancing, retries, fallbacks and breakers apply, but
it is the gateway's own traffic: it is not logged as a request or charged to the caller's key.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from switchyard import errors
from switchyard.cache.embed import Matrix
from switchyard.providers.base import EmbedCall
from switchyard.routing.executor import Executor
from switchyard.routing.trace import Trace
from switchyard.types.embeddings import EmbeddingRequest


class _Item(msgspec.Struct):
    index: int
    embedding: list[float]


class _Answer(msgspec.Struct):
    data: list[_Item]


_decode = msgspec.json.Decoder(_Answer).decode


class GroupEmbedder:
    """Embeds with the model group ``group``; every vector must have ``dimensions`` entries."""

    def __init__(self, executor: Executor, group: str, dimensions: int) -> None:
        self._executor = executor
        self._group = group
        self._dimensions = dimensions

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def model_id(self) -> str:
        return f"group:{self._group}:{self._dimensions}"

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        request = EmbeddingRequest(model=self._group, input=list(texts), encoding_format="float")
        call = EmbedCall(request, msgspec.json.encode(request))
        reply = await self._executor.embed(self._executor.group(self._group), call, Trace())
        try:
            items = sorted(_decode(reply.body).data, key=lambda item: item.index)
        except msgspec.ValidationError as exc:
            raise errors.UpstreamError(f"embeddings for the semantic cache: unexpected answer ({exc})") from None
        vectors = np.asarray([item.embedding for item in items], dtype=np.float32)
        if vectors.shape != (len(texts), self._dimensions):
            raise errors.UpstreamError(
                f"embeddings for the semantic cache: shape {vectors.shape}, configured {self._dimensions} dimensions"
            )
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        unit: Matrix = (vectors / norms).astype(np.float32)
        return unit
