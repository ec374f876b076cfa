"""The canonical (OpenAI-shaped) chat request → a Gemini ``GenerateContentRequest`` body.

Simple parameters are the tables below; messages, tools and formats are functions. Gemini has one system
instruction, two roles (``user``, ``model``) and wants consecutive turns of one role merged, so tool results
(``functionResponse`` parts, addressed by function name, not by call id) join the user turn around them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from switchyard.errors import InvalidRequestError
from switchyard.providers._images import load_image
from switchyard.providers.gemini.response import signature_of
from switchyard.providers.gemini.schema import gemini_schema
from switchyard.transport.guarded import GuardedFetcher
from switchyard.types.chat import (
    AssistantMessage,
    AudioPart,
    ChatRequest,
    ContentPart,
    DeveloperMessage,
    FilePart,
    FunctionCall,
    FunctionMessage,
    ImagePart,
    NamedToolChoice,
    RefusalPart,
    SystemMessage,
    TextPart,
    Tool,
    ToolMessage,
    UserMessage,
)

JSON = dict[str, Any]

# Request field → generationConfig field, copied as they are.
RENAMED = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("seed", "seed"),
    ("n", "candidateCount"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)
# Fields Gemini cannot honour: a 400 rather than a silent change of meaning.
REFUSED = ("logit_bias", "logprobs", "top_logprobs")
# Dropped because they are harmless to drop: user, metadata, store, service_tier (tracking and billing
# hints), stream_options (the adapter always reports usage) and parallel_tool_calls (Gemini has no switch;
# a client that set it false still gets valid, if possibly several, tool calls).

# reasoning_effort → thinkingConfig: Gemini 3 takes a level, Gemini 2.5 a token budget (0 turns it off).
THINKING_LEVELS = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
# Google's documented stand-in for a missing thought signature (history written by another model or a
# client that rebuilt the call): Gemini 3 rejects a replayed function call without any signature.
SKIP_SIGNATURE = "skip_thought_signature_validator"

_GENERATION = re.compile(r"gemini-(\d+)")


def is_gemini3_or_later(model: str) -> bool:
    match = _GENERATION.search(model)
    return match is not None and int(match.group(1)) >= 3


@dataclass(frozen=True, slots=True)
class RequestOptions:
    model: str
    default_max_tokens: int | None
    images: GuardedFetcher
    image_max_bytes: int


async def generate_content_body(request: ChatRequest, options: RequestOptions) -> JSON:
    for name in REFUSED:
        if getattr(request, name):
            raise InvalidRequestError(f"{name} is not supported by this model", param=name)
    if request.modalities and set(request.modalities) != {"text"}:
        raise InvalidRequestError("only text output is supported by this model", param="modalities")
    system, contents = await _Messages(options).translate(request)
    body: JSON = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in request.tools]}]
    tool_config = _tool_config(request)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    config = _generation_config(request, options)
    if config:
        body["generationConfig"] = config
    return body


# --- generation config --------------------------------------------------------------------------------------


def _generation_config(request: ChatRequest, options: RequestOptions) -> JSON:
    config: JSON = {}
    for source, target in RENAMED:
        value = getattr(request, source)
        if value is not None:
            config[target] = value
    max_tokens = request.max_completion_tokens or request.max_tokens or options.default_max_tokens
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if request.stop:
        config["stopSequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        schema = fmt.json_schema.schema if fmt.json_schema is not None else None
        if fmt.type == "json_schema" and schema:
            config["responseSchema"] = gemini_schema(schema, "response_format")
    effort = request.reasoning_effort
    if effort is not None:
        if effort not in THINKING_BUDGETS:
            raise InvalidRequestError(
                f"reasoning_effort must be one of {', '.join(THINKING_BUDGETS)}", param="reasoning_effort"
            )
        thinking: JSON = {"includeThoughts": effort != "none"}
        if is_gemini3_or_later(options.model):
            thinking["thinkingLevel"] = THINKING_LEVELS[effort]
        else:
            thinking["thinkingBudget"] = THINKING_BUDGETS[effort]
        config["thinkingConfig"] = thinking
    return config


# --- tools --------------------------------------------------------------------------------------------------


def _declaration(tool: Tool) -> JSON:
    function = tool.function
    declaration: JSON = {"name": function.name}
    if function.description:
        declaration["description"] = function.description
    if function.parameters:
        parameters = gemini_schema(function.parameters, "tools")
        # A function without arguments has no parameters at all: Gemini refuses an OBJECT without properties.
        if parameters.get("properties") or parameters.get("type") not in ("OBJECT", None):
            declaration["parameters"] = parameters
    return declaration


def _tool_config(request: ChatRequest) -> JSON | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if not request.tools:
        if choice in ("auto", "none"):
            return None
        raise InvalidRequestError("tool_choice needs tools", param="tool_choice")
    if isinstance(choice, NamedToolChoice):
        name = choice.function.name
        if name not in {tool.function.name for tool in request.tools}:
            raise InvalidRequestError(f"tool_choice names an unknown tool {name!r}", param="tool_choice")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return {"functionCallingConfig": {"mode": TOOL_CHOICE_MODES[choice]}}


# --- messages -----------------------------------------------------------------------------------------------


class _Messages:
    __slots__ = ("_options", "_contents", "_names", "_signatures")

    def __init__(self, options: RequestOptions) -> None:
        self._options = options
        self._contents: list[JSON] = []
        self._names: dict[str, str] = {}  # tool_call_id → function name, for the results that follow
        self._signatures = is_gemini3_or_later(options.model)

    async def translate(self, request: ChatRequest) -> tuple[list[JSON], list[JSON]]:
        system: list[JSON] = []
        for message in request.messages:
            if isinstance(message, (SystemMessage, DeveloperMessage)):
                system.append({"text": _text(message.content, "system")})
            elif isinstance(message, UserMessage):
                self._add("user", await self._user_parts(message.content))
            elif isinstance(message, AssistantMessage):
                self._add("model", self._model_parts(message))
            elif isinstance(message, ToolMessage):
                name = self._names.get(message.tool_call_id)
                if name is None:
                    raise InvalidRequestError(
                        f"tool message answers unknown tool_call_id {message.tool_call_id!r}", param="messages"
                    )
                self._add("user", [_function_response(name, _text(message.content, "tool"))])
            elif isinstance(message, FunctionMessage):
                self._add("user", [_function_response(message.name, message.content or "")])
        if not self._contents:
            raise InvalidRequestError("messages need at least one user or assistant message", param="messages")
        return system, self._contents

    def _add(self, role: str, parts: list[JSON]) -> None:
        if not parts:
            return
        if self._contents and self._contents[-1]["role"] == role:
            self._contents[-1]["parts"].extend(parts)
        else:
            self._contents.append({"role": role, "parts": parts})

    async def _user_parts(self, content: str | list[ContentPart]) -> list[JSON]:
        if isinstance(content, str):
            return [{"text": content}] if content else []
        parts: list[JSON] = []
        for part in content:
            if isinstance(part, TextPart):
                if part.text:
                    parts.append({"text": part.text})
            elif isinstance(part, ImagePart):
                options = self._options
                image = await load_image(part.image_url.url, options.images, options.image_max_bytes)
                parts.append({"inlineData": {"mimeType": image.media_type, "data": image.base64}})
            elif isinstance(part, AudioPart):
                media_type = AUDIO_TYPES.get(part.input_audio.format)
                if media_type is None:
                    raise InvalidRequestError("input_audio format must be wav or mp3", param="messages")
                parts.append({"inlineData": {"mimeType": media_type, "data": part.input_audio.data}})
            elif isinstance(part, FilePart):
                parts.append(_file_part(part, self._options.image_max_bytes))
            else:
                raise InvalidRequestError(f"{part.__class__.__name__} is not valid in a user message", param="messages")
        return parts

    def _model_parts(self, message: AssistantMessage) -> list[JSON]:
        parts: list[JSON] = []
        content = message.content
        if isinstance(content, str):
            parts += [{"text": content}] if content else []
        elif content:
            parts += [{"text": text} for text in (_part_text(part, "assistant") for part in content) if text]
        calls: list[tuple[str | None, FunctionCall]] = [(call.id, call.function) for call in message.tool_calls or ()]
        if message.function_call is not None:
            calls.append((None, message.function_call))
        signed = False
        for call_id, function in calls:
            part: JSON = {"functionCall": {"name": function.name, "args": _arguments(function.arguments)}}
            signature = signature_of(call_id) if call_id else None
            if signature is not None:
                part["thoughtSignature"] = signature
                signed = True
            if call_id:
                self._names[call_id] = function.name
            parts.append(part)
        if calls and self._signatures and not signed:
            first = next(part for part in parts if "functionCall" in part)
            first["thoughtSignature"] = SKIP_SIGNATURE
        return parts


def _function_response(name: str, content: str) -> JSON:
    try:
        value = msgspec.json.decode(content)
    except msgspec.DecodeError:
        value = content
    # Gemini wants an object: a JSON object as it is, anything else wrapped.
    response = value if isinstance(value, dict) else {"result": value}
    return {"functionResponse": {"name": name, "response": response}}


def _arguments(arguments: str) -> JSON:
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        raise InvalidRequestError("tool call arguments must be a JSON object", param="messages") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("tool call arguments must be a JSON object", param="messages")
    return value


def _text(content: str | list[ContentPart], role: str) -> str:
    if isinstance(content, str):
        return content
    return "".join(_part_text(part, role) for part in content)


def _part_text(part: ContentPart, role: str) -> str:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, RefusalPart):
        return part.refusal
    raise InvalidRequestError(f"{role} messages may contain only text for this model", param="messages")


def _file_part(part: FilePart, max_bytes: int) -> JSON:
    data_url = part.file.get("file_data")
    header, _, payload = data_url.partition(",") if isinstance(data_url, str) else ("", "", "")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidRequestError("file inputs must be base64 data URLs (file_data) for this model", param="messages")
    try:
        size = len(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        raise InvalidRequestError("file data is not valid base64", param="messages") from None
    if size > max_bytes:
        raise InvalidRequestError(f"file is larger than the {max_bytes}-byte limit", param="messages")
    return {"inlineData": {"mimeType": header[5:-7] or "application/octet-stream", "data": payload}}
