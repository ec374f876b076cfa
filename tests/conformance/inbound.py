"""The inbound side of a cell: one scenario asked in a client's own API, answered in a format-neutral shape.

Each driver speaks its API through the official SDK and re-validates every answer, chunk and error with the
SDK's pydantic types (``Model.model_validate`` on what the SDK parsed): the SDKs build their objects leniently,
so without this a wrong type or a missing required field would slip through.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import openai
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.shared import ErrorObject
from pydantic import BaseModel

from tests.conformance.scenarios import FORCED_TOOL, JSON, PIXEL, SCHEMA, openai_tools

Model = TypeVar("Model", bound=BaseModel)
ToolChoice = Literal["auto", "required", "named"]


@dataclass(frozen=True)
class Ask:
    """One scenario, in no particular API."""

    prompt: str
    image: bool = False
    tools: bool = False
    tool_choice: ToolChoice | None = None
    json: Literal["object", "schema"] | None = None
    n: int = 1
    stream: bool = False


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str  # JSON text, reassembled from fragments when streamed


@dataclass
class Answer:
    """A successful answer: finish reasons in OpenAI's vocabulary, whatever the inbound API."""

    texts: list[str]  # one per choice
    finish: str
    calls: list[Call] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @property
    def text(self) -> str:
        return self.texts[0]


@dataclass(frozen=True)
class Refusal:
    """An error answer as the client saw it."""

    status: int
    code: str | None  # the gateway's error code (OpenAI envelope), or the inbound API's error type
    param: str | None
    retry_after: str | None
    raw: str


@dataclass
class Embedded:
    """An embeddings answer: the vectors in input order (base64 ones decoded) and the usage."""

    vectors: list[list[float]]
    prompt_tokens: int
    total_tokens: int


class Inbound(Protocol):
    name: str

    def ask(self, group: str, ask: Ask) -> Answer | Refusal: ...


def strict(model: type[Model], parsed: Any) -> Model:
    """Validate what an SDK parsed (leniently) against its own type, strictly."""
    return model.model_validate(parsed.to_dict(mode="json"))


class OpenAIInbound:
    """Chat Completions through the ``openai`` SDK."""

    name = "openai"

    def __init__(self, base_url: str) -> None:
        self.client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="client-key", max_retries=0, timeout=30)

    def request(self, group: str, ask: Ask) -> dict[str, Any]:
        content: Any = ask.prompt
        if ask.image:
            content = [{"type": "text", "text": ask.prompt}, {"type": "image_url", "image_url": {"url": PIXEL}}]
        body: dict[str, Any] = {"model": group, "messages": [{"role": "user", "content": content}]}
        if ask.tools:
            body["tools"] = openai_tools()
        if ask.tool_choice == "named":
            body["tool_choice"] = {"type": "function", "function": {"name": FORCED_TOOL}}
        elif ask.tool_choice is not None:
            body["tool_choice"] = ask.tool_choice
        if ask.json == "object":
            body["response_format"] = {"type": "json_object"}
        elif ask.json == "schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
        if ask.n != 1:
            body["n"] = ask.n
        if ask.stream:
            body["stream"], body["stream_options"] = True, {"include_usage": True}
        return body

    def ask(self, group: str, ask: Ask) -> Answer | Refusal:
        body = self.request(group, ask)
        try:
            if ask.stream:
                return self._stream(body)
            return self._plain(body)
        except openai.APIStatusError as exc:
            error = json.loads(exc.response.text)["error"]
            strict_error = ErrorObject.model_validate(error)
            return Refusal(exc.status_code, strict_error.code, strict_error.param,
                           exc.response.headers.get("retry-after"), exc.response.text)  # fmt: skip

    def _plain(self, body: dict[str, Any]) -> Answer:
        completion = strict(ChatCompletion, self.client.chat.completions.create(**body))
        assert completion.object == "chat.completion" and completion.id
        assert [c.index for c in completion.choices] == list(range(len(completion.choices)))
        first = completion.choices[0]
        calls = []
        for call in first.message.tool_calls or []:
            assert call.type == "function", call
            calls.append(Call(call.id, call.function.name, call.function.arguments))
        usage = completion.usage
        assert usage is not None
        texts = [c.message.content or "" for c in completion.choices]
        return Answer(texts, first.finish_reason, calls, usage.prompt_tokens, usage.completion_tokens,
                      usage.total_tokens)  # fmt: skip

    def _stream(self, body: dict[str, Any]) -> Answer:
        texts: dict[int, str] = {}
        calls: dict[int, dict[str, str]] = {}
        finish: str | None = None
        usage = None
        ids = set()
        for parsed in self.client.chat.completions.create(**body):
            chunk = strict(ChatCompletionChunk, parsed)
            assert chunk.object == "chat.completion.chunk"
            ids.add(chunk.id)
            if chunk.usage is not None:
                assert usage is None and chunk.choices == [], "usage comes once, in a chunk of its own"
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.index not in texts:
                    assert choice.delta.role == "assistant", "a choice's first chunk carries the role"
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
                finish = choice.finish_reason or finish
                for delta in choice.delta.tool_calls or []:
                    if delta.index not in calls:  # a call opens with its id, type and name
                        assert delta.id and delta.type == "function" and delta.function and delta.function.name
                        calls[delta.index] = {"id": delta.id, "name": delta.function.name, "arguments": ""}
                    elif delta.function is not None:
                        assert not delta.id and not delta.function.name, "a call's id and name come once"
                    calls[delta.index]["arguments"] += (delta.function and delta.function.arguments) or ""
        assert len(ids) == 1, "every chunk of a stream carries the same id"
        assert finish is not None and usage is not None
        ordered = [Call(**calls[i]) for i in sorted(calls)]
        return Answer([texts[i] for i in sorted(texts)], finish, ordered, usage.prompt_tokens,
                      usage.completion_tokens, usage.total_tokens)  # fmt: skip


def embed(
    client: openai.OpenAI, group: str, texts: list[str], encoding: Literal["float", "base64"]
) -> Embedded | Refusal:
    """``/v1/embeddings`` through the ``openai`` SDK, the answer checked strictly. A base64 answer is checked as
    sent (each vector a base64 string of little-endian float32), then decoded."""
    try:
        raw = client.embeddings.with_raw_response.create(model=group, input=texts, encoding_format=encoding)
    except openai.APIStatusError as exc:
        error = ErrorObject.model_validate(json.loads(exc.response.text)["error"])
        return Refusal(exc.status_code, error.code, error.param, None, exc.response.text)
    body = raw.http_response.json()
    if encoding == "base64":
        for item in body["data"]:
            assert isinstance(item["embedding"], str), item
            packed = base64.b64decode(item["embedding"], validate=True)
            assert packed and len(packed) % 4 == 0, item
            item["embedding"] = list(struct.unpack(f"<{len(packed) // 4}f", packed))
    answer = CreateEmbeddingResponse.model_validate(body, strict=True)
    assert answer.object == "list" and answer.model, answer
    assert [item.index for item in answer.data] == list(range(len(texts))), answer
    assert all(item.object == "embedding" and item.embedding for item in answer.data), answer
    return Embedded([item.embedding for item in answer.data], answer.usage.prompt_tokens, answer.usage.total_tokens)


def as_json(text: str) -> JSON:
    value = json.loads(text)
    assert isinstance(value, dict), text
    return value
