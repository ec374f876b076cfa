"""OpenAI embeddings request and response structs."""

from __future__ import annotations

from typing import Literal

import msgspec

# msgspec allows one list type in a union, so the list's items are checked in __post_init__: all strings,
# all token ids (one input), or all token-id lists.
EmbeddingInput = str | list[str | int | list[int]]


class EmbeddingRequest(msgspec.Struct, omit_defaults=True):
    model: str
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        value = self.input
        if isinstance(value, str):
            if not value:
                raise ValueError("input must not be empty")
            return
        if not value:
            raise ValueError("input must not be an empty list")
        kind = type(value[0])
        if any(type(item) is not kind for item in value):
            raise ValueError("input must be a string, a list of strings, or token ids, not a mixture")
        if kind is str and any(not item for item in value):
            raise ValueError("input must not contain empty strings")


class Embedding(msgspec.Struct):
    index: int
    # A list of floats, or a base64 string of little-endian float32 when encoding_format is base64.
    embedding: list[float] | str
    object: Literal["embedding"] = "embedding"


class EmbeddingUsage(msgspec.Struct):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingResponse(msgspec.Struct):
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: Literal["list"] = "list"
