"""The fake Gemini API's request checks: unknown JSON fields, parts, function declarations and schemas, tool and
generation config, and the turn rules (alternation, thought signatures, function responses) Google enforces."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.fakes.gemini_errors import JSON, bad, unknown

_GENERATION = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount", "maxOutputTokens",
    "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
    "thinkingConfig", "responseModalities", "mediaResolution",
}  # fmt: skip
_PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode"}
_PART_META = {"thought", "thoughtSignature", "codeExecutionResult"}
_SCHEMA = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
    "default", "items", "minimum", "maximum",
}  # fmt: skip
_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}

SKIP_SIGNATURE = "skip_thought_signature_validator"


def as_object(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise bad(f"Invalid value at '{where}': expected an object")
    return value


def _check_part(part: JSON, role: str, where: str) -> None:
    for key in part:
        if key not in _PART_DATA | _PART_META:
            raise unknown(key, where)
    data = [key for key in part if key in _PART_DATA]
    if len(data) != 1:
        raise bad(f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized "
                   "field")  # fmt: skip
    if "functionCall" in part and (role != "model" or not isinstance(part["functionCall"].get("args", {}), dict)):
        raise bad(f"* GenerateContentRequest.{where}: function calls belong to model turns, with object args")
    answer = part.get("functionResponse")
    if answer is not None and (role != "user" or not isinstance(answer.get("response"), dict)):
        raise bad(f"* GenerateContentRequest.{where}: function responses belong to user turns, as objects")
    inline = part.get("inlineData")
    if inline is not None:
        if set(inline) != {"mimeType", "data"}:
            raise bad(f"* GenerateContentRequest.{where}.inline_data: mimeType and data are required")
        base64.b64decode(inline["data"], validate=True)


def declarations(tools: Any) -> dict[str, JSON]:
    found: dict[str, JSON] = {}
    for i, tool in enumerate(tools or []):
        for j, declaration in enumerate(as_object(tool, f"tools[{i}]").get("functionDeclarations", [])):
            where = f"tools[{i}].function_declarations[{j}]"
            for key in declaration:
                if key not in ("name", "description", "parameters", "parametersJsonSchema", "response", "behavior"):
                    raise unknown(key, where)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", str(declaration.get("name", ""))):
                raise bad(f"* GenerateContentRequest.{where}.name: Invalid function name.")
            if "parameters" in declaration:
                _check_schema(declaration["parameters"], f"{where}.parameters")
            found[declaration["name"]] = declaration
    return found


def _check_schema(schema: Any, where: str) -> None:
    for key in as_object(schema, where):
        if key not in _SCHEMA:
            raise unknown(key, where)
    kind = str(schema.get("type", "TYPE_UNSPECIFIED")).upper()
    if "type" in schema and kind not in _TYPES:
        raise bad(f"Invalid value at '{where}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "
                   f"\"{schema['type']}\"")  # fmt: skip
    if kind == "OBJECT" and schema.get("properties") == {}:
        raise bad(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type\n")
    if "format" in schema and schema["format"] not in _FORMATS.get(kind, ()):
        raise bad(f"* GenerateContentRequest.{where}.format: only 'enum' and 'date-time' are supported for STRING "
                   "type\n")  # fmt: skip
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.properties[{name}].value")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for n, sub in enumerate(schema.get("anyOf", [])):
        _check_schema(sub, f"{where}.any_of[{n}]")


def tool_config(config: Any, tools: dict[str, JSON]) -> tuple[str, list[str]]:
    calling = as_object(config or {}, "tool_config").get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    if mode not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        raise bad(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")
    allowed = calling.get("allowedFunctionNames") or []
    if allowed and mode != "ANY":
        raise bad("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                   "allowed_function_names should only be set when the Function calling mode is ANY.\n")  # fmt: skip
    if any(name not in tools for name in allowed):
        raise bad("* GenerateContentRequest.tool_config: allowed_function_names must name declared functions\n")
    return mode, allowed


def generation_config(value: Any) -> JSON:
    config = as_object(value or {}, "generation_config")
    for key in config:
        if key not in _GENERATION:
            raise unknown(key, "generation_config")
    if not 1 <= config.get("candidateCount", 1) <= 8:
        raise bad("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8\n")
    if not 0 <= config.get("temperature", 1) <= 2:
        raise bad("* GenerateContentRequest.generation_config.temperature: must be in [0.0, 2.0]\n")
    if len(config.get("stopSequences", [])) > 5:
        raise bad("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences\n")
    if "responseSchema" in config:
        if config.get("responseMimeType") != "application/json":
            raise bad("* GenerateContentRequest.generation_config.response_mime_type: must be application/json "
                       "when response_schema is set\n")  # fmt: skip
        _check_schema(config["responseSchema"], "generation_config.response_schema")
    thinking = config.get("thinkingConfig") or {}
    for key in thinking:
        if key not in ("includeThoughts", "thinkingBudget", "thinkingLevel"):
            raise unknown(key, "generation_config.thinking_config")
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        raise bad("You can only set one of thinking budget and thinking level.")
    return config


def check_contents(model: str, contents: list[Any], signatures: set[str]) -> None:
    """Turns alternate, parts are valid, replayed calls carry signatures the fake issued, answers match calls."""
    previous: JSON | None = None
    for i, content in enumerate(contents):
        content = as_object(content, f"contents[{i}]")
        if content.get("role") not in ("user", "model"):
            raise bad("Please use a valid role: user, model.")
        if previous is not None and previous["role"] == content["role"]:
            raise bad("Please ensure that multiturn requests alternate between user and model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise bad(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n")
        for j, part in enumerate(parts):
            _check_part(as_object(part, f"contents[{i}].parts[{j}]"), content["role"], f"contents[{i}].parts[{j}]")
        calls = [p for p in parts if "functionCall" in p]
        if calls and model.startswith("gemini-3") and calls[0].get("thoughtSignature") is None:
            name = calls[0]["functionCall"]["name"]
            raise bad(f"Function call is missing a thought_signature in functionCall parts. This is required for "
                       f"tools to work correctly, and missing thought_signature may lead to degraded model "
                       f"performance. Additional data, function call `default_api:{name}` , position {i + 1}. "
                       "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                       "details.")  # fmt: skip
        for call in calls:
            signature = call.get("thoughtSignature")
            if signature is not None and signature != SKIP_SIGNATURE and signature not in signatures:
                raise bad("Corrupted thought signature.")
        answers = sum("functionResponse" in p for p in parts)
        if answers and (previous is None or answers != sum("functionCall" in p for p in previous["parts"])):
            raise bad("Please ensure that the number of function response parts is equal to the number of "
                       "function call parts of the function call turn.")  # fmt: skip
        previous = content
