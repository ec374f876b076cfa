"""An Anthropic Messages request → the canonical (OpenAI-shaped) chat request, for any provider behind it.

What maps, and how:

- ``system`` (a string or text blocks) → a system message first; ``role: "system"`` turns (in the SDK's
  ``MessageParam`` since 2.x) → system messages where they stand;
- user turns: text → text parts; ``image`` with a ``base64`` source → an ``image_url`` part holding a data URL,
  with a ``url`` source → an ``image_url`` part with that URL; ``document``: a base64 PDF → a ``file`` part with
  a data URL, a plain-text or content source → text (and image) parts; ``tool_result`` blocks → ``role: "tool"``
  messages placed before the rest of the turn (string or text-block content becomes the text, ``is_error`` is
  noted as an ``Error:`` prefix; images and documents inside a result, which OpenAI tool messages cannot hold,
  follow in the user message after the tool messages);
- assistant turns: text → the content string; ``tool_use`` → ``tool_calls`` (the input object becomes the
  arguments JSON string); ``thinking`` and ``redacted_thinking`` blocks are dropped: their signatures only mean
  something to Anthropic, and no other provider accepts reasoning as input;
- ``tools[{name, description, input_schema}]`` → function tools; ``tool_choice`` auto / any / tool / none →
  ``auto`` / ``required`` / the named function / ``none``; ``disable_parallel_tool_use`` →
  ``parallel_tool_calls: false`` (both only when tools are given, as OpenAI requires);
- ``max_tokens`` → ``max_tokens``; ``stop_sequences`` → ``stop``; ``temperature`` and ``top_p`` as they are;
  ``metadata.user_id`` → ``user``; ``output_config.format`` (json_schema) → ``response_format`` json_schema;
- ``thinking``: ``enabled`` with ``budget_tokens`` → ``reasoning_effort`` low (< 4096), medium (< 16384) or high;
  ``adaptive`` (and ``between_tools``) → ``output_config.effort`` (``max`` → xhigh), medium without one;
  ``disabled`` or absent → no reasoning. ``output_config.effort`` without thinking is dropped;
- ``stream: true`` → ``stream``. No ``stream_options``: the route asks the pipeline to relay the usage chunk
  (``Pipeline.chat(usage_chunk=True)``), since Anthropic reports usage at the end of every stream
  (``message_delta``), and each adapter asks its upstream for usage already (where the upstream can).

Dropped, documented: ``top_k`` (OpenAI's format has no such sampling control; dropping a sampling hint is
safer than failing every agent that sends it), ``cache_control`` (prompt caching is the upstream's own),
``service_tier``, ``container``, ``inference_geo``, ``speed`` and the other account-level members. Refused
with a 400 naming the member: server tools (a ``type`` other than ``custom``), Files API ids, PDF URLs, and
blocks a role cannot hold. Anything msgspec cannot decode (unknown block types included) is a 400 as well.

Dropped only where the request is translated: a deployment whose adapter speaks the Messages API itself gets the
client's body untouched instead (the route puts it on ``ChatCall.native``), everything above included. The
canonical request is still built, and checked, for every request: routing reads it, and a fallback to another
kind of provider needs it.
"""

from __future__ import annotations

import msgspec

from switchyard.errors import InvalidRequestError
from switchyard.types import anthropic as wire
from switchyard.types.chat import (
    AssistantMessage,
    ContentPart,
    FilePart,
    FunctionCall,
    FunctionDef,
    ImagePart,
    ImageURL,
    JSONSchemaFormat,
    Message,
    NamedFunction,
    NamedToolChoice,
    ResponseFormat,
    SystemMessage,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolMessage,
    UserMessage,
)
from switchyard.types.chat import ChatRequest as Chat

_encode = msgspec.json.Encoder().encode
_PDF = "application/pdf"
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}
# budget_tokens below each bound → that effort (the Anthropic adapter's budgets: low 2048, medium 8192, high 24576).
_BUDGETS = ((4096, "low"), (16384, "medium"))


def to_chat(request: wire.MessagesRequest, *, counting: bool = False) -> Chat:
    """The canonical request; ``counting`` (count_tokens) does not require ``max_tokens``."""
    if request.max_tokens is None and not counting:
        raise InvalidRequestError("max_tokens: Field required", param="max_tokens")
    messages = _system(request.system)
    for index, message in enumerate(request.messages):
        messages += _message(message, f"messages.{index}")
    if not messages:
        raise InvalidRequestError("messages: at least one message with content is required", param="messages")
    tools = _tools(request.tools)
    choice, parallel = _tool_choice(request.tool_choice) if tools else (None, None)
    return Chat(
        model=request.model,
        messages=messages,
        stream=True if request.stream else None,
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_tokens,
        stop=request.stop_sequences or None,
        tools=tools or None,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        response_format=_response_format(request.output_config),
        reasoning_effort=_effort(request.thinking, request.output_config),
        user=request.metadata.user_id if request.metadata else None,
    )


# --- messages ----------------------------------------------------------------------------------------------


def _system(system: str | list[wire.TextBlock] | None) -> list[Message]:
    if system is None:
        return []
    if isinstance(system, str):
        return [SystemMessage(system)] if system else []
    if len(system) <= 1:
        return [SystemMessage(block.text) for block in system]
    parts: list[ContentPart] = [TextPart(block.text) for block in system]
    return [SystemMessage(parts)]


def _message(message: wire.MessageParam, where: str) -> list[Message]:
    if message.role == "assistant":
        return _assistant(message.content, where)
    if message.role == "system":
        if isinstance(message.content, str):
            return [SystemMessage(message.content)]
        texts: list[ContentPart] = []
        for index, block in enumerate(message.content):
            if not isinstance(block, wire.TextBlock):
                raise _refuse(f"{where}.content.{index}", "system turns may only hold text blocks")
            texts.append(TextPart(block.text))
        return [SystemMessage(texts)] if texts else []
    return _user(message.content, where)


def _user(content: str | list[wire.ContentBlock], where: str) -> list[Message]:
    if isinstance(content, str):
        return [UserMessage(content)]
    results: list[Message] = []
    carried: list[ContentPart] = []  # images and documents from tool results: tool messages hold text only
    parts: list[ContentPart] = []
    for index, block in enumerate(content):
        path = f"{where}.content.{index}"
        if isinstance(block, wire.ToolResultBlock):
            text, extra = _tool_result(block, path)
            results.append(ToolMessage(text, block.tool_use_id))
            carried += extra
        elif isinstance(block, wire.TextBlock | wire.ImageBlock | wire.DocumentBlock):
            parts += _part(block, path)
        else:
            raise _refuse(path, f"user turns cannot hold {_tag(block)} blocks")
    parts = carried + parts
    if not parts:
        return results
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return [*results, UserMessage(parts[0].text)]
    return [*results, UserMessage(parts)]


def _tool_result(block: wire.ToolResultBlock, where: str) -> tuple[str, list[ContentPart]]:
    texts: list[str] = []
    extra: list[ContentPart] = []
    if isinstance(block.content, str):
        texts.append(block.content)
    else:
        for index, item in enumerate(block.content or ()):
            for part in _part(item, f"{where}.content.{index}"):
                if isinstance(part, TextPart):
                    texts.append(part.text)
                else:
                    extra.append(part)
    text = "\n".join(texts)
    if block.is_error:
        text = f"Error: {text}" if text else "Error"
    return text, extra


def _part(block: wire.TextBlock | wire.ImageBlock | wire.DocumentBlock, where: str) -> list[ContentPart]:
    if isinstance(block, wire.TextBlock):
        return [TextPart(block.text)]
    if isinstance(block, wire.ImageBlock):
        return [_image(block.source, where)]
    return _document(block, where)


def _image(source: wire.Base64Source | wire.URLSource | wire.FileSource, where: str) -> ImagePart:
    if isinstance(source, wire.Base64Source):
        if not source.media_type.startswith("image/"):
            raise _refuse(f"{where}.source.media_type", f"{source.media_type!r} is not an image type")
        return ImagePart(ImageURL(f"data:{source.media_type};base64,{source.data}"))
    if isinstance(source, wire.URLSource):
        return ImagePart(ImageURL(source.url))
    raise _refuse(f"{where}.source", "Files API ids are not supported by the gateway; send the image as base64")


def _document(block: wire.DocumentBlock, where: str) -> list[ContentPart]:
    source = block.source
    heading = f"{block.title}\n\n" if block.title else ""
    if isinstance(source, wire.PlainTextSource):
        return [TextPart(heading + source.data)]
    if isinstance(source, wire.ContentSource):
        if isinstance(source.content, str):
            return [TextPart(heading + source.content)]
        return [_part(item, f"{where}.source.content.{i}")[0] for i, item in enumerate(source.content)]
    if isinstance(source, wire.Base64Source):
        if source.media_type != _PDF:
            raise _refuse(f"{where}.source.media_type", "base64 documents must be PDFs (application/pdf)")
        file = {"filename": block.title or "document.pdf", "file_data": f"data:{_PDF};base64,{source.data}"}
        return [FilePart(file)]
    raise _refuse(f"{where}.source", "documents must be base64 PDFs or text: the gateway does not fetch them")


def _assistant(content: str | list[wire.ContentBlock], where: str) -> list[Message]:
    if isinstance(content, str):
        return [AssistantMessage(content)] if content else []
    texts: list[str] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(content):
        if isinstance(block, wire.TextBlock):
            texts.append(block.text)
        elif isinstance(block, wire.ToolUseBlock):
            calls.append(ToolCall(block.id, FunctionCall(block.name, _encode(block.input).decode())))
        elif not isinstance(block, wire.ThinkingBlock | wire.RedactedThinkingBlock):
            raise _refuse(f"{where}.content.{index}", f"assistant turns cannot hold {_tag(block)} blocks")
    text = "".join(texts)
    if not text and not calls:
        return []  # only thinking: nothing another provider can take
    return [AssistantMessage(text or None, tool_calls=calls or None)]


# --- tools, reasoning, output format -----------------------------------------------------------------------


def _tools(tools: list[wire.ToolParam] | None) -> list[Tool]:
    found: list[Tool] = []
    for index, tool in enumerate(tools or ()):
        if tool.type not in (None, "custom"):
            raise _refuse(f"tools.{index}.type", f"server tools ({tool.type}) are not supported by the gateway")
        if tool.input_schema is None:
            raise _refuse(f"tools.{index}.input_schema", "Field required")
        found.append(Tool(FunctionDef(tool.name, tool.description, tool.input_schema)))
    return found


def _tool_choice(choice: wire.ToolChoice | None) -> tuple[ToolChoice | None, bool | None]:
    if choice is None:
        return None, None
    if isinstance(choice, wire.ToolChoiceNone):
        return "none", None
    parallel = False if choice.disable_parallel_tool_use else None
    if isinstance(choice, wire.ToolChoiceTool):
        return NamedToolChoice(NamedFunction(choice.name)), parallel
    return ("required" if isinstance(choice, wire.ToolChoiceAny) else "auto"), parallel


def _effort(thinking: wire.ThinkingConfig | None, output: wire.OutputConfig | None) -> str | None:
    if thinking is None or thinking.type == "disabled":
        return None
    if thinking.type == "enabled":
        if thinking.budget_tokens is None:
            raise _refuse("thinking.budget_tokens", "Field required")
        return next((effort for bound, effort in _BUDGETS if thinking.budget_tokens < bound), "high")
    effort = output.effort if output is not None else None
    return _EFFORTS[effort] if effort is not None else "medium"


def _response_format(output: wire.OutputConfig | None) -> ResponseFormat | None:
    if output is None or output.format is None:
        return None
    return ResponseFormat("json_schema", JSONSchemaFormat("output", output.format.schema, strict=True))


def _tag(block: msgspec.Struct) -> str:
    return str(block.__struct_config__.tag)


def _refuse(param: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"{param}: {why}", param=param)
