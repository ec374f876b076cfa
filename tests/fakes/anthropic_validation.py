"""The fake Anthropic API's request checks: the fields, blocks, tools, turns and thinking settings the Messages
API accepts, refused with its own messages (which start with the field's path)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from tests.fakes.anthropic_errors import JSON, ApiError

ADAPTIVE_ONLY = ("claude-opus-4-7",)  # refuse token-budget thinking
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MAX_OUTPUT = 64_000
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def parse(raw: bytes) -> JSON:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError("There was an issue with the format of your request: invalid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("Input should be a valid dictionary")
    return body


def validate_fields(body: JSON, models: list[str]) -> None:
    """Everything ``validate`` checks after the unknown-field check (which stays with the app's FIELDS)."""
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise ApiError(f"{name}: Field required")
    if body["model"] not in models:
        raise ApiError(f"model: {body['model']}", 404, "not_found_error")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 0:
        raise ApiError("max_tokens: Input should be a valid integer greater than or equal to 0")
    if max_tokens > MAX_OUTPUT:
        raise ApiError(f"max_tokens: {max_tokens} > {MAX_OUTPUT}, which is the maximum allowed number of output "
                       f"tokens for {body['model']}")  # fmt: skip
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            raise ApiError(f"{name}: Input should be less than or equal to 1")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        for i, block in enumerate(system):
            _text_block(f"system.{i}", block)
    stops = body.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise ApiError("stop_sequences: Input should be a valid list of strings")
    if set(body.get("metadata") or {}) - {"user_id"}:
        raise ApiError("metadata: Extra inputs are not permitted")
    names = _validate_tools(body)
    _validate_messages(body["messages"], bool(names))
    _validate_thinking(body)


def _text_block(where: str, block: Any) -> None:
    if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
        raise ApiError(f"{where}: Input should be a valid text block")
    if not block["text"]:
        raise ApiError(f"{where}.text: text content blocks must be non-empty")
    if not block["text"].strip():
        raise ApiError(f"{where}.text: text content blocks must contain non-whitespace text")


def _validate_tools(body: JSON) -> set[str]:
    names: set[str] = set()
    for k, tool in enumerate(body.get("tools") or []):
        if not _TOOL_NAME.match(str(tool.get("name", ""))):
            raise ApiError(f"tools.{k}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise ApiError(f"tools.{k}.custom.input_schema: Field required")
        if schema.get("type") != "object":
            raise ApiError(f"tools.{k}.custom.input_schema.type: Input should be 'object'")
        if set(tool) - {"name", "description", "input_schema", "type", "cache_control", "strict"}:
            raise ApiError(f"tools.{k}.custom: Extra inputs are not permitted")
        if tool["name"] in names:
            raise ApiError("tools: Tool names must be unique.")
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not names:
            raise ApiError("tool_choice: tool_choice may only be specified while providing tools.")
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise ApiError("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise ApiError(f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in provided tools")
    return names


def _validate_messages(messages: Any, has_tools: bool) -> None:
    if not isinstance(messages, list) or not messages:
        raise ApiError("messages: at least one message is required")
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            raise ApiError('messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                           'parameter, not "system" as an input message role.')  # fmt: skip
        if role not in ("user", "assistant"):
            raise ApiError(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i and messages[i - 1].get("role") == role:
            raise ApiError(f'messages: roles must alternate between "user" and "assistant", but found multiple '
                           f'"{role}" roles in a row')  # fmt: skip
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks and not (role == "assistant" and i == len(messages) - 1):
            raise ApiError(f"messages.{i}: all messages must have non-empty content except for the optional final "
                           "assistant message")  # fmt: skip
        uses = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if (uses or results) and not has_tools:
            raise ApiError("Requests which include `tool_use` or `tool_result` blocks must define tools.")
        for j, block in enumerate(blocks):
            _validate_block(f"messages.{i}.content.{j}", role, block)
        unexpected = [r for r in results if r not in pending]
        if unexpected:
            raise ApiError(f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                           f"{unexpected[0]}. Each `tool_result` block must have a corresponding `tool_use` "
                           "block in the previous message.")  # fmt: skip
        if pending - set(results):
            raise ApiError(f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                           f"after: {', '.join(sorted(pending - set(results)))}. Each `tool_use` block must have "
                           "a corresponding `tool_result` block in the next message.")  # fmt: skip
        pending = set(uses)


def _validate_block(where: str, role: str, block: Any) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        _text_block(where, block)
    elif kind == "image" or kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "url" and kind == "image":
            if not str(source.get("url", "")).startswith(("http://", "https://")):
                raise ApiError(f"{where}.image.source.url.url: URL must use http or https")
        elif source.get("type") != "base64":
            raise ApiError(f"{where}.{kind}.source: Input tag '{source.get('type')}' does not match any expected tag")
        else:
            allowed = IMAGE_TYPES if kind == "image" else ("application/pdf",)
            if source.get("media_type") not in allowed:
                raise ApiError(f"{where}.{kind}.source.base64.media_type: Input should be {' or '.join(allowed)}")
            try:
                base64.b64decode(source.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(f"{where}.{kind}.source.base64.data: invalid base64 data") from None
        if role != "user":
            raise ApiError(f"{where}: {kind} blocks are only allowed in user messages")
    elif kind == "tool_use":
        if role != "assistant":
            raise ApiError(f"{where}: tool_use blocks are only allowed in assistant messages")
        if not _TOOL_ID.match(str(block.get("id", ""))):
            raise ApiError(f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("input"), dict):
            raise ApiError(f"{where}.tool_use.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if role != "user":
            raise ApiError(f"{where}: tool_result blocks are only allowed in user messages")
        content = block.get("content")
        for k, item in enumerate(content if isinstance(content, list) else []):
            _validate_block(f"{where}.content.{k}", role, item)
    elif kind in ("thinking", "redacted_thinking"):
        if role != "assistant":
            raise ApiError(f"{where}: {kind} blocks are only allowed in assistant messages")
        field = "signature" if kind == "thinking" else "data"
        if not isinstance(block.get(field), str) or not block[field]:
            raise ApiError(f"{where}.{kind}.{field}: Field required")
    else:
        raise ApiError(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags")


def _validate_thinking(body: JSON) -> None:
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        raise ApiError(f"output_config.effort: Input should be {', '.join(map(repr, EFFORTS))}")
    output_format = (body.get("output_config") or {}).get("format")
    if output_format is not None and (output_format.get("type") != "json_schema" or
                                      not isinstance(output_format.get("schema"), dict)):  # fmt: skip
        raise ApiError("output_config.format: Input should be a json_schema format with a schema")
    thinking = body.get("thinking")
    if not thinking or thinking.get("type") not in ("enabled", "adaptive"):
        return
    if thinking["type"] == "enabled":
        if body["model"] in ADAPTIVE_ONLY:
            raise ApiError("thinking.type.enabled is not supported for this model. Use thinking.type.adaptive and "
                           "output_config.effort to control thinking behavior.")  # fmt: skip
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise ApiError("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= body["max_tokens"]:
            raise ApiError("`max_tokens` must be greater than `thinking.budget_tokens`")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise ApiError("Thinking may not be enabled when tool_choice forces tool use.")
    if body.get("temperature") not in (None, 1):
        raise ApiError("`temperature` may only be set to 1 when thinking is enabled.")
    # Inside a tool-use loop (the last turn only returns results) the calling turn must start with its thinking.
    messages = body["messages"]
    results = messages[-1]["content"] if len(messages) > 1 and isinstance(messages[-1]["content"], list) else []
    blocks = messages[-2]["content"] if results and all(r.get("type") == "tool_result" for r in results) else []
    if blocks and isinstance(blocks, list) and blocks[0].get("type") != "thinking":
        raise ApiError(f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
                       f"`redacted_thinking`, but found `{blocks[0].get('type')}`. When `thinking` is enabled, a "
                       "final `assistant` message must start with a thinking block.")  # fmt: skip
