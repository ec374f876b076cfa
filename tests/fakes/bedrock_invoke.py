"""The fake Bedrock's InvokeModel for embedding models: Titan Text Embeddings and Cohere Embed bodies.

Written from the Bedrock user guide's model parameter pages, not from the gateway's translator (it imports
nothing from ``switchyard``):

- Titan Text Embeddings V2 (``amazon.titan-embed-text-v2:0``): ``{"inputText", "dimensions"?, "normalize"?,
  "embeddingTypes"?}``; ``dimensions`` is 1024 (default), 512 or 256; ``normalize`` defaults to true;
  ``embeddingTypes`` lists "float" and/or "binary". Answer: ``{"embedding", "inputTextTokenCount",
  "embeddingsByType"}``. G1 / v1 (``amazon.titan-embed-text-v1``) takes ``inputText`` alone and answers
  ``{"embedding", "inputTextTokenCount"}`` with 1536 values. One text per call.
- Cohere Embed v3 (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``): ``{"texts", "input_type",
  "truncate"?, "embedding_types"?, "images"?}``; at most 96 texts of at most 2048 characters; ``input_type`` is
  search_document, search_query, classification, clustering or image; ``truncate`` NONE, START or END; the
  types are float, int8, uint8, binary, ubinary. v4 (``cohere.embed-v4:0``) adds ``inputs``,
  ``output_dimension`` (256, 512, 1024, 1536; default 1536) and ``max_tokens``, and truncates LEFT or RIGHT.
  Answer: ``{"id", "texts", "response_type", "embeddings"}`` where ``embeddings`` is a list of vectors
  ("embeddings_floats") or, when ``embedding_types`` was sent, an object with one list per type
  ("embeddings_by_type"). The body carries no token count; Bedrock sends it in ``X-Amzn-Bedrock-Input-Token-Count``
  (on every InvokeModel answer).

Bodies that break these rules get a ValidationException worded like Bedrock's ("Malformed input request: ...").
"""

from __future__ import annotations

import hashlib
import math
import uuid
from typing import Any

from tests.fakes.bedrock_wire import JSON, ApiError

TITAN_V2, TITAN_V1 = "amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v1"
COHERE_V3, COHERE_V4 = "cohere.embed-english-v3", "cohere.embed-v4:0"
EMBED_MODELS = (TITAN_V2, TITAN_V1, COHERE_V3, "cohere.embed-multilingual-v3", COHERE_V4)
TOKEN_HEADER = "X-Amzn-Bedrock-Input-Token-Count"

_COHERE_TYPES = {"float", "int8", "uint8", "binary", "ubinary"}
_INPUT_TYPES = {"search_document", "search_query", "classification", "clustering", "image"}


def malformed(detail: str) -> ApiError:
    return ApiError(
        "ValidationException", f"Malformed input request: {detail}, please reformat your input and try again."
    )


def tokens_of(text: str) -> int:
    """The fake tokenizer: a token per word, plus one."""
    return len(text.split()) + 1


def vector(model: str, text: str, size: int, normalize: bool = True) -> list[float]:
    """A deterministic embedding of ``text``: the same text gives the same vector, different texts differ."""
    seed = hashlib.sha256(f"{model}\0{text}".encode()).digest()
    raw = [(seed[i % 32] ^ (i * 37 % 251)) / 255 - 0.5 for i in range(size)]
    if not normalize:
        return [round(value, 6) for value in raw]
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return [round(value / norm, 6) for value in raw]


def _keys(body: JSON, allowed: set[str], required: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise malformed(f"#: extraneous key [{key}] is not permitted")
    for key in required:
        if key not in body:
            raise malformed(f"#: required key [{key}] not found")


def invoke(model: str, body: Any) -> tuple[JSON, int]:
    """The answer to an InvokeModel body for an embedding model, and the input token count."""
    if not isinstance(body, dict):
        raise malformed("#: expected type: JSONObject, found: " + type(body).__name__)
    if model.startswith("amazon.titan-embed-text"):
        return _titan(model, body)
    return _cohere(model, body)


def _titan(model: str, body: JSON) -> tuple[JSON, int]:
    v2 = model == TITAN_V2
    _keys(body, {"inputText", "dimensions", "normalize", "embeddingTypes"} if v2 else {"inputText"}, ("inputText",))
    text = body["inputText"]
    if not isinstance(text, str) or not text:
        raise malformed("#/inputText: expected minLength: 1, actual: 0")
    if len(text) > 50_000:
        raise malformed("#/inputText: expected maxLength: 50000")
    size = body.get("dimensions", 1024) if v2 else 1536
    if v2 and size not in (256, 512, 1024):
        raise malformed(f"#/dimensions: {size} is not a valid enum value")
    normalize = body.get("normalize", True)
    if not isinstance(normalize, bool):
        raise malformed("#/normalize: expected type: Boolean")
    types = body.get("embeddingTypes", ["float"])
    if not isinstance(types, list) or not types or not set(types) <= {"float", "binary"}:
        raise malformed("#/embeddingTypes: expected a non-empty list of float, binary")
    values = vector(model, text, size, normalize)
    tokens = tokens_of(text)
    answer: JSON = {"embedding": values, "inputTextTokenCount": tokens}
    if v2:
        by_type: JSON = {"float": values} if "float" in types else {}
        if "binary" in types:
            by_type["binary"] = [1 if value > 0 else 0 for value in values]
        answer["embeddingsByType"] = by_type
    return answer, tokens


def _cohere(model: str, body: JSON) -> tuple[JSON, int]:
    v4 = model == COHERE_V4
    allowed = {"texts", "input_type", "truncate", "embedding_types", "images"}
    _keys(body, allowed | {"inputs", "output_dimension", "max_tokens"} if v4 else allowed, ("input_type",))
    texts = body.get("texts")
    if texts is None and ("images" in body or "inputs" in body):
        raise malformed("#: this fake embeds texts only")
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise malformed("#/texts: expected type: JSONArray of strings")
    if len(texts) > 96:
        raise malformed(f"#/texts: expected maximum item count: 96, found: {len(texts)}")
    if any(len(text) > 2048 for text in texts) and not v4:
        raise malformed("#/texts: expected maxLength: 2048")
    if body["input_type"] not in _INPUT_TYPES - ({"image"} if v4 else set()):
        raise malformed(f"#/input_type: {body['input_type']} is not a valid enum value")
    if body.get("truncate", "NONE") not in ({"NONE", "LEFT", "RIGHT"} if v4 else {"NONE", "START", "END"}):
        raise malformed(f"#/truncate: {body['truncate']} is not a valid enum value")
    size = body.get("output_dimension", 1536) if v4 else 1024
    if size not in (256, 512, 1024, 1536):
        raise malformed(f"#/output_dimension: {size} is not a valid enum value")
    types = body.get("embedding_types")
    if types is not None and (not isinstance(types, list) or not types or not set(types) <= _COHERE_TYPES):
        raise malformed("#/embedding_types: expected a non-empty list of " + ", ".join(sorted(_COHERE_TYPES)))
    floats = [vector(model, text, size) for text in texts]
    answer: JSON = {"id": str(uuid.uuid4()), "texts": texts}
    if types is None:
        answer |= {"embeddings": floats, "response_type": "embeddings_floats"}
    else:
        by_type: JSON = {"float": floats} if "float" in types else {}
        for kind in set(types) - {"float"}:
            by_type[kind] = [[max(-128, min(127, round(value * 127))) for value in v] for v in floats]
        answer |= {"embeddings": by_type, "response_type": "embeddings_by_type"}
    return answer, sum(tokens_of(text) for text in texts)
