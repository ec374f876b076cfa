"""The canonical (OpenAI-shaped) chat request → an Anthropic Messages API request body.

What maps, and how (Anthropic's Messages API reference and its Python SDK's ``MessageCreateParams``):

- system and developer messages → the top-level ``system`` (a string for one text, else text blocks), in
  order, wherever they appear: the Messages API has no system role;
- user/assistant turns → ``messages[{role, content[blocks]}]``. Anthropic's turns alternate, so consecutive
  turns of one role are merged into one; role "tool" messages become ``tool_result`` blocks of a user turn
  (so consecutive tool results, and a user message after them, form one user turn, results first);
- content: text → ``text`` blocks (blank ones dropped: Anthropic rejects them); images → ``image`` blocks, a
  data URL as a ``base64`` source and an http(s) URL as a ``url`` source (Anthropic fetches it itself, so
  the gateway never does); a PDF given as an OpenAI ``file`` part with a data URL → a ``document`` block;
- assistant tool_calls → ``tool_use`` blocks (the arguments JSON string becomes the ``input`` object; arguments
  that are not a JSON object are a 400); tool-call ids outside Anthropic's ``[a-zA-Z0-9_-]`` are rewritten the
  same way wherever they appear, so calls and results still pair up;
- tools → ``tools[{name, description, input_schema}]``; tool_choice auto → ``auto``, required → ``any``,
  none → ``none``, a named function → ``tool{name}``; ``parallel_tool_calls: false`` →
  ``disable_parallel_tool_use``;
- response_format json_object / json_schema → a forced tool whose input schema is the requested schema (the
  common approach, and the one that works on every Claude model); the tool's input comes back as the message
  content. With the client's own tools as well the model must call some tool (``any``): one of the client's,
  or the JSON tool to answer. Unneeded (and not added) when tool_choice already forces a tool call;
- max_completion_tokens / max_tokens → ``max_tokens``, which Anthropic requires: the deployment's
  ``max_output_tokens``, else 4096, when the client sets none; stop → ``stop_sequences``; user →
  ``metadata.user_id``; temperature and top_p pass through (both within 0..1: above is a 400, the same as
  for Claude on Bedrock, rather than a silent clamp that would change the sampling the client asked for);
- reasoning_effort → ``thinking{type: enabled, budget_tokens}`` (``none`` turns it off); OpenAI counts
  reasoning inside the completion limit and so does Anthropic, so a client's limit bounds the budget, and
  without one the budget is added to the default. Claude 4.6 and later (by model id) get
  ``thinking{type: adaptive}`` with ``output_config.effort`` instead: 4.6 deprecates budgets and 4.7 and
  later refuse them. Assistant turns carry no thinking blocks (the canonical request has none) and Anthropic
  refuses tool results answering calls made while thinking without them, so a request that only returns tool
  results is sent without thinking.

Dropped because they are harmless to drop: seed (best-effort in OpenAI too), metadata and store (OpenAI's
stored completions), service_tier, stream_options (the usage is always reported), tool ``strict``, message
``name``. Refused with a 400 naming the parameter: n > 1, non-zero presence/frequency penalties, logit_bias,
logprobs / top_logprobs, audio output, audio inputs, file inputs other than PDF data URLs, images in system
messages, legacy function messages, and JSON mode together with reasoning (Anthropic cannot force a tool
while thinking).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec

from switchyard.errors import InvalidRequestError
from switchyard.providers._images import parse_data_url
from switchyard.types.chat import (
    AssistantMessage,
    AudioPart,
    ChatRequest,
    ContentPart,
    DeveloperMessage,
    FilePart,
    ImagePart,
    JSONSchemaFormat,
    NamedToolChoice,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)

JSON_TOOL = "json_response"
DEFAULT_MAX_TOKENS = 4096
Block = dict[str, Any]
Turn = dict[str, Any]

# Parameters Anthropic cannot honour: (field, why). Any truthy value is refused, before any translation.
_REFUSED: tuple[tuple[str, str], ...] = (
    ("presence_penalty", "Anthropic has no presence penalty"),
    ("frequency_penalty", "Anthropic has no frequency penalty"),
    ("logit_bias", "Anthropic has no logit bias"),
    ("logprobs", "Anthropic does not return log probabilities"),
    ("top_logprobs", "Anthropic does not return log probabilities"),
)
# Sampling parameters passed through under the same name, with the range Anthropic accepts.
_SAMPLING: tuple[tuple[str, float, float], ...] = (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0))
# reasoning_effort → thinking budget in tokens (Anthropic's minimum is 1024).
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768}
_MIN_BUDGET = 1024
# Claude 4.6 and later take ``thinking: {type: adaptive}`` with ``output_config.effort`` instead of a budget.
ADAPTIVE_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"}
_ADAPTIVE_FROM = (4, 6)
# "claude-opus-4-7", "claude-sonnet-4-5-20250929", "us.anthropic.claude-opus-4-7": family, major, minor (a
# dated snapshot's date is not a minor version).
_VERSION = re.compile(r"claude-[a-z]+-(\d+)(?:-(\d{1,2})(?!\d))?")
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")
_PDF_PREFIX = "data:application/pdf;base64,"


def check_supported(request: ChatRequest) -> None:
    if request.n is not None and request.n > 1:
        raise InvalidRequestError("Anthropic returns one choice per request; n must be 1", param="n")
    for name, why in _REFUSED:
        if getattr(request, name):  # None, 0, False and {} ask for nothing
            raise InvalidRequestError(f"{name} is not supported: {why}", param=name)
    for name, low, high in _SAMPLING:
        value = getattr(request, name)
        if value is not None and not low <= value <= high:
            raise InvalidRequestError(f"{name} must be between {low:g} and {high:g} for Anthropic", param=name)
    if request.modalities and set(request.modalities) - {"text"}:
        raise InvalidRequestError("Anthropic models answer with text only", param="modalities")


def build_body(
    request: ChatRequest, model: str, default_max_tokens: int | None, image_max_bytes: int
) -> tuple[dict[str, Any], str | None]:
    """The Messages API body (without ``stream``), and the forced JSON tool's name when JSON mode is on."""
    check_supported(request)
    system, messages = _messages(request, image_max_bytes)
    max_tokens, thinking = _limits(request, model, default_max_tokens)
    if thinking and _continues_tool_loop(messages):
        # Anthropic wants the thinking block that preceded these tool calls back, and the canonical request
        # cannot carry it: thinking stays off until the next user turn rather than failing the request.
        thinking = {}
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": messages}
    if system is not None:
        body["system"] = system
    for name, _, _ in _SAMPLING:
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    if stop:
        body["stop_sequences"] = stop
    if request.user:
        body["metadata"] = {"user_id": request.user}
    body.update(thinking)
    tools, choice, json_tool = _tools(request, bool(thinking))
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    return body, json_tool


def _continues_tool_loop(turns: list[Turn]) -> bool:
    return bool(turns) and turns[-1]["role"] == "user" and all(b["type"] == "tool_result" for b in turns[-1]["content"])


def _limits(request: ChatRequest, model: str, default_max_tokens: int | None) -> tuple[int, Block]:
    """``max_tokens``, and the members that turn thinking on (none when reasoning is off)."""
    asked = request.max_completion_tokens or request.max_tokens
    default = default_max_tokens or DEFAULT_MAX_TOKENS
    effort = request.reasoning_effort
    if effort is None or effort == "none":
        return asked or default, {}
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:
        choices = ", ".join(["none", *THINKING_BUDGETS])
        raise InvalidRequestError(f"reasoning_effort must be one of {choices}", param="reasoning_effort")
    if takes_adaptive_thinking(model):
        # The model decides how much to think; without a client limit, leave it the budget's room on top.
        thinking = {"thinking": {"type": "adaptive"}, "output_config": {"effort": ADAPTIVE_EFFORTS[effort]}}
        return asked or default + budget, thinking
    if asked is None:
        return default + budget, {"thinking": {"type": "enabled", "budget_tokens": budget}}
    # Leave at least half of the client's limit for the answer, but never go under Anthropic's minimum.
    budget = max(_MIN_BUDGET, min(budget, asked // 2))
    if budget >= asked:
        raise InvalidRequestError(
            f"reasoning needs a completion limit above {_MIN_BUDGET} tokens on Anthropic",
            param="max_completion_tokens" if request.max_completion_tokens else "max_tokens",
        )
    return asked, {"thinking": {"type": "enabled", "budget_tokens": budget}}


def takes_adaptive_thinking(model: str) -> bool:
    """Claude 4.6 and later think adaptively (4.7 and later refuse token budgets); earlier models need budgets."""
    if "mythos-preview" in model:
        return True
    version = _VERSION.search(model)
    return version is not None and (int(version[1]), int(version[2] or 0)) >= _ADAPTIVE_FROM


# --- messages ----------------------------------------------------------------------------------------------


def _messages(request: ChatRequest, image_max_bytes: int) -> tuple[str | list[Block] | None, list[Turn]]:
    system: list[str] = []
    turns: list[Turn] = []
    for message in request.messages:
        if isinstance(message, SystemMessage | DeveloperMessage):
            system += [text for text in _texts(message.content, "system") if text.strip()]
            continue
        role, blocks = _turn(message, image_max_bytes)
        if not blocks:
            continue  # e.g. an assistant turn with empty content: Anthropic rejects empty turns
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    if not system:
        return None, turns
    if len(system) == 1:
        return system[0], turns
    return [{"type": "text", "text": text} for text in system], turns


def _turn(message: object, image_max_bytes: int) -> tuple[str, list[Block]]:
    if isinstance(message, UserMessage):
        return "user", _blocks(message.content, image_max_bytes)
    if isinstance(message, AssistantMessage):
        if message.function_call is not None:
            raise InvalidRequestError(
                "legacy function_call messages are not supported; use tool_calls", param="messages"
            )
        blocks: list[Block] = [{"type": "text", "text": t} for t in _texts(message.content, "assistant") if t.strip()]
        for call in message.tool_calls or ():
            blocks.append(
                {"type": "tool_use", "id": tool_id(call.id), "name": call.function.name, "input": _arguments(call)}
            )
        return "assistant", blocks
    if isinstance(message, ToolMessage):
        result: Block = {"type": "tool_result", "tool_use_id": tool_id(message.tool_call_id)}
        if isinstance(message.content, str):
            if message.content:
                result["content"] = message.content
        else:
            content = _blocks(message.content, image_max_bytes)
            if content:
                result["content"] = content
        return "user", [result]
    raise InvalidRequestError("legacy function messages are not supported; use tool messages", param="messages")


def _blocks(content: str | list[ContentPart], image_max_bytes: int) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[Block] = []
    for part in content:
        if isinstance(part, TextPart | RefusalPart):
            text = part.text if isinstance(part, TextPart) else part.refusal
            if text.strip():
                blocks.append({"type": "text", "text": text})
        elif isinstance(part, ImagePart):
            blocks.append(_image(part.image_url.url, image_max_bytes))
        elif isinstance(part, FilePart):
            blocks.append(_document(part, image_max_bytes))
        elif isinstance(part, AudioPart):
            raise InvalidRequestError("audio inputs are not supported on Anthropic", param="messages")
    return blocks


def _image(url: str, max_bytes: int) -> Block:
    inline = parse_data_url(url, max_bytes)
    if inline is not None:
        source = {"type": "base64", "media_type": inline.media_type, "data": inline.base64}
        return {"type": "image", "source": source}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequestError("image URLs must be data: or http(s): URLs", param="messages")


def _document(part: FilePart, max_bytes: int) -> Block:
    data = part.file.get("file_data")
    if not isinstance(data, str) or not data.startswith(_PDF_PREFIX):
        raise InvalidRequestError(
            "file inputs must be PDFs given as file_data data URLs on Anthropic (file ids are not supported)",
            param="messages",
        )
    payload = data[len(_PDF_PREFIX) :]
    if len(payload) * 3 // 4 > max_bytes:
        raise InvalidRequestError(f"file is larger than the {max_bytes}-byte limit", param="messages")
    return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": payload}}


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
            raise InvalidRequestError(f"{where} messages may only hold text on Anthropic", param="messages")
    return texts


def _arguments(call: ToolCall) -> dict[str, Any]:
    raw = call.function.arguments
    try:
        value = msgspec.json.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"tool call {call.id!r} has arguments that are not a JSON object", param="messages")
    return value


def tool_id(raw: str) -> str:
    """An id Anthropic accepts (``^[a-zA-Z0-9_-]+$``); the same input always gives the same id."""
    cleaned = _UNSAFE_ID.sub("_", raw)
    if cleaned == raw and raw:
        return raw
    return f"{cleaned}_{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


# --- tools and JSON mode -----------------------------------------------------------------------------------


def _tools(request: ChatRequest, thinking: bool) -> tuple[list[Block], Block | None, str | None]:
    """The tool definitions, the tool_choice, and the JSON tool's name when JSON mode added one."""
    tools: list[Block] = []
    for tool in request.tools or ():
        schema = dict(tool.function.parameters or {})
        schema.setdefault("type", "object")
        spec: Block = {"name": tool.function.name, "input_schema": schema}
        if tool.function.description:
            spec["description"] = tool.function.description
        tools.append(spec)
    choice = _choice(request) if tools else None
    fmt = request.response_format
    forced = choice is not None and choice["type"] in ("any", "tool")
    if fmt is None or fmt.type == "text" or forced:
        return tools, choice, None
    if thinking:
        raise InvalidRequestError(
            "response_format cannot be combined with reasoning_effort on Anthropic (JSON mode forces a tool, "
            "which Anthropic does not allow while thinking)",
            param="response_format",
        )
    if any(tool["name"] == JSON_TOOL for tool in tools):
        raise InvalidRequestError(f"the tool name {JSON_TOOL!r} is reserved for JSON mode", param="tools")
    # With tools the client lets the model call, it must call one of them or the JSON tool; else the JSON tool.
    callable_tools = bool(tools) and request.tool_choice != "none"
    json_choice: Block = {"type": "any"} if callable_tools else {"type": "tool", "name": JSON_TOOL}
    if not callable_tools or request.parallel_tool_calls is False:
        json_choice["disable_parallel_tool_use"] = True
    return [*tools, _json_tool(fmt.json_schema)], json_choice, JSON_TOOL


def _choice(request: ChatRequest) -> Block | None:
    choice = request.tool_choice
    result: Block
    if isinstance(choice, NamedToolChoice):
        result = {"type": "tool", "name": choice.function.name}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "auto" or request.parallel_tool_calls is False:
        result = {"type": "auto"}
    else:
        return None
    if request.parallel_tool_calls is False:
        result["disable_parallel_tool_use"] = True
    return result


def _json_tool(schema: JSONSchemaFormat | None) -> Block:
    description = "Answer by calling this tool with the response as its input, a JSON object."
    if schema is not None and schema.description:
        description += " " + schema.description
    json_schema = dict((schema.schema if schema is not None else None) or {})
    json_schema.setdefault("type", "object")
    return {"name": JSON_TOOL, "description": description, "input_schema": json_schema}
