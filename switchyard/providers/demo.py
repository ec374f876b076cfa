"""The built-in demo provider: a model that needs no key and no network.

Its answers are deterministic for a given prompt (so tests and demos are repeatable), its latency is
configurable (so it can stand in for a real model in load tests), and it streams, calls tools, reports
token usage and serves embeddings exactly as an OpenAI upstream would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator

import msgspec

from switchyard.config.schema import Deployment, Simulation
from switchyard.providers.base import ChatCall, EmbedCall, ProviderContext, Reply
from switchyard.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    NamedToolChoice,
    ResponseMessage,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from switchyard.types.embeddings import Embedding, EmbeddingResponse, EmbeddingUsage

_VOCABULARY = (
    "switchyard routes every request to the right model quickly and reliably while keeping costs low "
    "gateways balance load across providers retry failures cache answers and count tokens precisely"
).split()
_encoder = msgspec.json.Encoder()


class DemoProvider:
    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        self._model = deployment.model
        self._sim = deployment.simulate or Simulation()

    async def chat(self, call: ChatCall) -> Reply:
        if self._sim.latency_ms:
            await asyncio.sleep(self._sim.latency_ms / 1000)
        request = call.request
        usage, choices = _usage(request, self._sim), []
        for index in range(request.n or 1):
            text, finish, calls = _answer(request, self._sim, index)
            choices.append(Choice(index, ResponseMessage(text, "assistant", tool_calls=calls), finish))
        completion = ChatCompletion(_id(), int(time.time()), self._model, choices, usage)
        return Reply(_encoder.encode(completion))

    async def chat_stream(self, call: ChatCall) -> _DemoStream:
        return _DemoStream(call.request, self._model, self._sim)

    async def embed(self, call: EmbedCall) -> Reply:
        request = call.request
        raw = request.input
        inputs: list[str | list[int]]
        if isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw[0], int):
            inputs = [[int(t) for t in raw if isinstance(t, int)]]
        else:
            inputs = [item for item in raw if not isinstance(item, int)]
        dimensions = request.dimensions or self._sim.embedding_dimensions
        data, tokens = [], 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += len(item) if isinstance(item, list) else _count_tokens(text)
            vector = _vector(text, dimensions)
            encoded: list[float] | str = vector
            if request.encoding_format == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append(Embedding(index, encoded))
        response = EmbeddingResponse(data, self._model, EmbeddingUsage(tokens, tokens))
        return Reply(_encoder.encode(response))


class _DemoStream:
    upstream_request_id: str | None = None

    def __init__(self, request: ChatRequest, model: str, sim: Simulation) -> None:
        self._request, self._model, self._sim = request, model, sim

    async def batches(self) -> AsyncIterator[list[bytes]]:
        sim, request = self._sim, self._request
        if sim.latency_ms:
            await asyncio.sleep(sim.latency_ms / 1000)
        cid, created = _id(), int(time.time())

        def chunk(delta: Delta, finish: str | None = None, index: int = 0) -> bytes:
            choice = ChunkChoice(index, delta, finish)
            return _encoder.encode(ChatCompletionChunk(cid, created, self._model, [choice]))

        batch: list[bytes] = []
        for index in range(request.n or 1):
            text, finish, calls = _answer(request, sim, index)
            batch.append(chunk(Delta(role="assistant", content=""), index=index))
            pieces: list[Delta] = []
            if calls:
                for n, tool_call in enumerate(calls):
                    head = ToolCallDelta(
                        n, tool_call.id, "function", {"name": tool_call.function.name, "arguments": ""}
                    )
                    body = ToolCallDelta(n, function={"arguments": tool_call.function.arguments})
                    pieces += [Delta(tool_calls=[head]), Delta(tool_calls=[body])]
            else:
                words = (text or "").split(" ")
                pieces = [Delta(content=w if i == 0 else " " + w) for i, w in enumerate(words)]
            for delta in pieces:
                batch.append(chunk(delta, index=index))
                if sim.inter_chunk_ms:
                    yield batch
                    batch = []
                    await asyncio.sleep(sim.inter_chunk_ms / 1000)
            batch.append(chunk(Delta(), finish, index=index))
        usage = _usage(request, sim)
        batch.append(_encoder.encode(ChatCompletionChunk(cid, created, self._model, [], usage=usage)))
        yield batch

    async def aclose(self) -> None:
        return None


def _answer(request: ChatRequest, sim: Simulation, index: int) -> tuple[str | None, str, list[ToolCall] | None]:
    tool = _forced_tool(request)
    if tool is not None:
        call = ToolCall(id=f"call_{_digest(request, index)[:24]}", function=FunctionCall(tool, "{}"))
        return None, "tool_calls", [call]
    limit = request.max_completion_tokens or request.max_tokens
    words = _words(request, sim.reply_words, index)
    finish = "stop"
    if limit is not None and limit < len(words):
        words, finish = words[:limit], "length"
    text = " ".join(words)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        text = msgspec.json.encode({"answer": text}).decode()
    return text, finish, None


def _forced_tool(request: ChatRequest) -> str | None:
    if not request.tools:
        return None
    choice = request.tool_choice
    if isinstance(choice, NamedToolChoice):
        return choice.function.name
    if choice == "required":
        return request.tools[0].function.name
    return None


def _words(request: ChatRequest, count: int, index: int) -> list[str]:
    rng = random.Random(_digest(request, index))
    opening = ["This", "is", "the", "Switchyard", "demo", "model."]
    body = [rng.choice(_VOCABULARY) for _ in range(max(0, count - len(opening)))]
    return (opening + body)[:count]


def _digest(request: ChatRequest, index: int) -> str:
    hasher = hashlib.sha256(str(index).encode())
    for message in request.messages:
        hasher.update(_text(message.content).encode())
    return hasher.hexdigest()


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.text for part in content if isinstance(part, TextPart))
    return ""


def _usage(request: ChatRequest, sim: Simulation) -> Usage:
    prompt = sum(3 + _count_tokens(_text(m.content)) for m in request.messages) + 3
    completion = 0
    for index in range(request.n or 1):
        text, _, calls = _answer(request, sim, index)
        completion += 8 * len(calls) if calls else len((text or "").split())
    return Usage(prompt, completion, prompt + completion)


def _count_tokens(text: str) -> int:
    # About four characters a token, as OpenAI's own rule of thumb: close enough for a demo.
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _vector(text: str, dimensions: int) -> list[float]:
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
