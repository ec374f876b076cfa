"""The canonical (OpenAI-shaped) chat request → a Bedrock Converse request body.

What maps, and how (the service model ``bedrock-runtime`` 2023-09-30 is the reference):

- system and developer messages → ``system[{text}]``, in order, wherever they appear;
- user/assistant turns → ``messages[{role, content[...]}]`` with ``text``, ``image{format, source{bytes}}``
  (data URLs and http(s) URLs, fetched through the SSRF guard: Converse takes bytes only),
  ``toolUse{toolUseId, name, input}`` for assistant tool calls and ``toolResult{toolUseId, content[{text}]}``
  for role "tool" messages. Converse needs strictly alternating roles, so consecutive turns of one role
  (several tool results, a tool result followed by a user message) are merged into one turn;
- tools → ``toolConfig.tools[{toolSpec{name, description, inputSchema{json}}}]``; tool_choice auto → ``auto``,
  required → ``any``, a named function → ``tool{name}``, none → no toolConfig at all (Converse has no
  "none"), which is a 400 when the conversation already holds tool calls (Converse needs toolConfig then);
- response_format json_object / json_schema → one forced tool whose input schema is the requested schema
  (the answer comes back as that tool's input and is returned as the message content); with the client's
  own tools as well it is a 400, since the forced tool would stop the model from calling them;
- temperature (Converse allows 0..1, so above 1 is a 400), top_p, max_tokens / max_completion_tokens
  (default: the deployment's max_output_tokens, else the model's own default), stop → ``inferenceConfig``.

Dropped because they are harmless to drop: seed (best-effort in OpenAI too), user, metadata, store,
service_tier, parallel_tool_calls (Converse cannot forbid parallel calls), stream_options (usage is always
reported), tool ``strict`` and message ``name``. Refused with a 400 naming the parameter: n > 1, non-zero
presence/frequency penalties, logit_bias, logprobs / top_logprobs, reasoning_effort (model-specific on
Bedrock), audio output, audio and file inputs, images in system messages, legacy function messages.
"""

from __future__ import annotations

from typing import Any

import msgspec

from switchyard.errors import InvalidRequestError
from switchyard.providers._images import load_image
from switchyard.providers.base import ProviderContext
from switchyard.types.chat import (
    AssistantMessage,
    ChatRequest,
    ContentPart,
    DeveloperMessage,
    ImagePart,
    JSONSchemaFormat,
    NamedToolChoice,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)

JSON_TOOL = "json_response"
Block = dict[str, Any]
Turn = dict[str, Any]

# Parameters Converse cannot honour: (field, why). Any truthy value is refused, before any translation.
_REFUSED: tuple[tuple[str, str], ...] = (
    ("presence_penalty", "Bedrock Converse has no presence penalty"),
    ("frequency_penalty", "Bedrock Converse has no frequency penalty"),
    ("logit_bias", "Bedrock Converse has no logit bias"),
    ("logprobs", "Bedrock Converse does not return log probabilities"),
    ("top_logprobs", "Bedrock Converse does not return log probabilities"),
    ("reasoning_effort", "reasoning settings are model-specific on Bedrock and not mapped by this gateway"),
)
# Converse inferenceConfig members, with the canonical field each comes from.
_INFERENCE: tuple[tuple[str, str], ...] = (("temperature", "temperature"), ("top_p", "topP"))
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def check_supported(request: ChatRequest) -> None:
    if request.n is not None and request.n > 1:
        raise InvalidRequestError("Bedrock Converse returns one choice per request; n must be 1", param="n")
    for name, why in _REFUSED:
        value = getattr(request, name)
        if value:  # None, 0, False and {} ask for nothing
            raise InvalidRequestError(f"{name} is not supported: {why}", param=name)
    if request.temperature is not None and request.temperature > 1:
        raise InvalidRequestError("temperature must be between 0 and 1 for Bedrock models", param="temperature")
    if request.modalities and set(request.modalities) - {"text"}:
        raise InvalidRequestError("Bedrock Converse deployments answer with text only", param="modalities")


async def build_body(
    request: ChatRequest, context: ProviderContext, default_max_tokens: int | None
) -> tuple[dict[str, Any], str | None]:
    """The Converse body, and the name of the forced JSON tool when response_format asked for JSON."""
    check_supported(request)
    system, messages = await _messages(request, context)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference = _inference(request, default_max_tokens)
    if inference:
        body["inferenceConfig"] = inference
    tool_config, json_tool = _tool_config(request, _has_tool_blocks(messages))
    if tool_config is not None:
        body["toolConfig"] = tool_config
    return body, json_tool


def _inference(request: ChatRequest, default_max_tokens: int | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = request.max_completion_tokens or request.max_tokens or default_max_tokens
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    for source, target in _INFERENCE:
        value = getattr(request, source)
        if value is not None:
            config[target] = value
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    if stop:
        config["stopSequences"] = [s for s in stop if s]
    return config


# --- messages ----------------------------------------------------------------------------------------------


async def _messages(request: ChatRequest, context: ProviderContext) -> tuple[list[Block], list[Turn]]:
    system: list[Block] = []
    turns: list[Turn] = []
    for message in request.messages:
        if isinstance(message, SystemMessage | DeveloperMessage):
            system += [{"text": text} for text in _texts(message.content, "system") if text]
            continue
        role, blocks = await _turn(message, context)
        if not blocks:
            continue  # e.g. an assistant turn with empty content: Converse rejects blank text
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


async def _turn(message: object, context: ProviderContext) -> tuple[str, list[Block]]:
    if isinstance(message, UserMessage):
        return "user", await _user_blocks(message.content, context)
    if isinstance(message, AssistantMessage):
        if message.function_call is not None:
            raise InvalidRequestError(
                "legacy function_call messages are not supported; use tool_calls", param="messages"
            )
        blocks: list[Block] = [{"text": t} for t in _texts(message.content, "assistant") if t.strip()]
        for call in message.tool_calls or ():
            blocks.append(
                {"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": _arguments(call.id, call)}}
            )
        return "assistant", blocks
    if isinstance(message, ToolMessage):
        text = "".join(_texts(message.content, "tool"))
        # Converse rejects blank text blocks, and a tool may well have printed nothing.
        result = {"toolUseId": message.tool_call_id, "content": [{"text": text if text.strip() else "(no output)"}]}
        return "user", [{"toolResult": result}]
    raise InvalidRequestError("legacy function messages are not supported; use tool messages", param="messages")


async def _user_blocks(content: str | list[ContentPart], context: ProviderContext) -> list[Block]:
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    blocks: list[Block] = []
    for part in content:
        if isinstance(part, TextPart):
            if part.text.strip():
                blocks.append({"text": part.text})
        elif isinstance(part, ImagePart):
            image = await load_image(part.image_url.url, context.images, context.image_max_bytes)
            blocks.append({"image": {"format": _IMAGE_FORMATS[image.media_type], "source": {"bytes": image.base64}}})
        else:
            raise InvalidRequestError(
                f"{part.__class__.__name__} inputs are not supported on Bedrock", param="messages"
            )
    return blocks


def _texts(content: str | list[ContentPart] | None, where: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for part in content:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, RefusalPart):
            texts.append(part.refusal)
        else:
            raise InvalidRequestError(f"{where} messages may only hold text on Bedrock", param="messages")
    return texts


def _arguments(call_id: str, call: Any) -> dict[str, Any]:
    raw = call.function.arguments
    try:
        value = msgspec.json.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"tool call {call_id!r} has arguments that are not a JSON object", param="messages")
    return value


def _has_tool_blocks(turns: list[Turn]) -> bool:
    return any("toolUse" in b or "toolResult" in b for turn in turns for b in turn["content"])


# --- tools and JSON mode -----------------------------------------------------------------------------------


def _tool_config(request: ChatRequest, history_has_tools: bool) -> tuple[dict[str, Any] | None, str | None]:
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        if request.tools:
            raise InvalidRequestError(
                "response_format with tools is not supported on Bedrock (JSON mode uses a forced tool)",
                param="response_format",
            )
        if history_has_tools:
            raise InvalidRequestError(
                "response_format on a conversation with tool calls is not supported on Bedrock",
                param="response_format",
            )
        return _json_tool(fmt.json_schema), JSON_TOOL
    choice = request.tool_choice
    if not request.tools:
        return None, None
    if choice == "none":
        if history_has_tools:
            raise InvalidRequestError(
                "tool_choice 'none' cannot be honoured on Bedrock once the conversation holds tool calls "
                "(Converse has no 'none' and requires the tools then); use 'auto'",
                param="tool_choice",
            )
        return None, None
    tools = []
    for tool in request.tools:
        spec: dict[str, Any] = {
            "name": tool.function.name,
            "inputSchema": {"json": tool.function.parameters or {"type": "object", "properties": {}}},
        }
        if tool.function.description:
            spec["description"] = tool.function.description
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    if isinstance(choice, NamedToolChoice):
        config["toolChoice"] = {"tool": {"name": choice.function.name}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    return config, None


def _json_tool(schema: JSONSchemaFormat | None) -> dict[str, Any]:
    description = "Answer by calling this tool with the response as its input, a JSON object."
    if schema is not None and schema.description:
        description += " " + schema.description
    json_schema = (schema.schema if schema is not None else None) or {"type": "object"}
    spec = {"name": JSON_TOOL, "description": description, "inputSchema": {"json": json_schema}}
    return {"tools": [{"toolSpec": spec}], "toolChoice": {"tool": {"name": JSON_TOOL}}}
