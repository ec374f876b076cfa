"""Request validation like the API's: 400 bodies with ``param`` naming the field and codes such as
``invalid_type``, ``missing_required_parameter``, ``empty_array``, ``invalid_value``,
``integer_below_min_value``; 404 ``model_not_found``; 400 ``context_length_exceeded``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tests.fakes import openai_bodies as bodies
from tests.fakes import openai_errors as errors
from tests.fakes.openai_bodies import JSON

VALID_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_ROLES_NEEDING_CONTENT = ("system", "user", "developer", "tool")


class ApiError(Exception):
    """An error answer: HTTP status plus the OpenAI error body."""

    def __init__(self, status: int, body: JSON) -> None:
        super().__init__(body["error"]["message"])
        self.status = status
        self.body = body


# ------------------------------------------------------------------------------------- validation


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, errors.error_body(message, "invalid_request_error", param, code))


def _invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return _bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.", param, "invalid_type"
    )


def _missing(param: str) -> ApiError:
    return _bad_request(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _invalid_value(param: str, value: Any, supported: Sequence[str]) -> ApiError:
    quoted = [f"'{s}'" for s in supported]
    listing = ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 2 else " and ".join(quoted)
    return _bad_request(f"Invalid value: '{value}'. Supported values are: {listing}.", param, "invalid_value")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, errors.invalid_json()) from None


def _require_object(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise _bad_request(f"Invalid type for body: expected an object, but got {_type_name(body)} instead.")
    return body


def _require_model(body: JSON) -> str:
    model = body.get("model")
    if model is None:
        raise _bad_request("you must provide a model parameter")
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    return model


def _validate_messages(body: JSON) -> None:
    if "messages" not in body:
        raise _missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of objects", messages)
    if not messages:
        raise _bad_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, message in enumerate(messages):
        _validate_message(f"messages[{i}]", message)


def _validate_message(where: str, message: Any) -> None:
    if not isinstance(message, dict):
        raise _invalid_type(where, "an object", message)
    if "role" not in message:
        raise _missing(f"{where}.role")
    role = message["role"]
    if role not in VALID_ROLES:
        raise _invalid_value(f"{where}.role", role, VALID_ROLES)
    content = message.get("content")
    if role in _ROLES_NEEDING_CONTENT and "content" not in message:
        raise _missing(f"{where}.content")
    if content is not None and not isinstance(content, str | list):
        raise _invalid_type(f"{where}.content", "one of a string or array of objects", content)
    if role == "tool" and "tool_call_id" not in message:
        raise _missing(f"{where}.tool_call_id")


def _validate_int(body: JSON, name: str, minimum: int, maximum: int | None = None) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_int(value):
        raise _invalid_type(name, "an integer", value)
    if value < minimum:
        raise _bad_request(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            name,
            "integer_below_min_value",
        )
    if maximum is not None and value > maximum:
        raise _bad_request(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
            name,
            "integer_above_max_value",
        )


def _validate_decimal(body: JSON, name: str, maximum: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_number(value):
        raise _invalid_type(name, "a decimal", value)
    if value < 0:
        raise _bad_request(
            f"Invalid '{name}': decimal below minimum value. Expected a value >= 0, but got {value} instead.",
            name,
            "decimal_below_min_value",
        )
    if value > maximum:
        raise _bad_request(
            f"Invalid '{name}': decimal above maximum value. Expected a value <= {maximum:g}, but got {value} instead.",
            name,
            "decimal_above_max_value",
        )


def _validate_stream(body: JSON) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid_type("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is None:
        return
    if not isinstance(options, dict):
        raise _invalid_type("stream_options", "an object", options)
    if not stream:
        raise _bad_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")


def _validate_tools(body: JSON) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _invalid_type("tools", "an array of objects", tools)
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _invalid_type(f"tools[{i}]", "an object", tool)
            if tool.get("type") == "function":
                function = tool.get("function")
                if not isinstance(function, dict):
                    raise _missing(f"tools[{i}].function")
                if not isinstance(function.get("name"), str):
                    raise _missing(f"tools[{i}].function.name")
    if body.get("tool_choice") is not None and not tools:
        raise _bad_request(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            "tool_choice",
        )


def _validate_response_format(body: JSON) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise _invalid_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise _invalid_value("response_format.type", kind, ("text", "json_object", "json_schema"))
    if kind == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
        raise _missing("response_format.json_schema")
    if kind == "json_object":
        text = " ".join(bodies.content_text(m.get("content")) for m in body["messages"])
        if "json" not in text.lower():
            raise _bad_request(
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                "messages",
            )


def completion_limit(body: JSON) -> int | None:
    limit = body.get("max_completion_tokens")
    return limit if limit is not None else body.get("max_tokens")


def validate_chat(body: Any, models: Sequence[str], context_window: int) -> JSON:
    """Check a chat-completions request the way the API does; return it as a dict or raise ApiError."""
    obj = _require_object(body)
    model = _require_model(obj)
    _validate_messages(obj)
    _validate_int(obj, "n", 1, 128)
    _validate_int(obj, "max_tokens", 1)
    _validate_int(obj, "max_completion_tokens", 1)
    _validate_decimal(obj, "temperature", 2.0)
    _validate_decimal(obj, "top_p", 1.0)
    _validate_stream(obj)
    _validate_tools(obj)
    _validate_response_format(obj)
    if model not in models:
        raise ApiError(404, errors.model_not_found(model))
    prompt = bodies.prompt_tokens(obj["messages"])
    completion = completion_limit(obj)
    if prompt + (completion or 0) > context_window:
        raise ApiError(400, errors.context_length_exceeded(context_window, prompt, completion))
    return obj


_BAD_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def embedding_items(value: Any) -> list[str | list[int]]:
    """The inputs of an embeddings request: a string, strings, a token array, or token arrays."""
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value:
        if all(_is_int(v) for v in value):
            return [list(value)]
        if all(isinstance(v, str) and v for v in value):
            return list(value)
        if all(isinstance(v, list) and v and all(_is_int(t) for t in v) for v in value):
            return [list(v) for v in value]
    raise _bad_request(_BAD_INPUT)


def validate_embeddings(body: Any, models: Sequence[str]) -> tuple[JSON, list[str | list[int]]]:
    obj = _require_object(body)
    model = _require_model(obj)
    if "input" not in obj:
        raise _missing("input")
    items = embedding_items(obj["input"])
    encoding = obj.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise _invalid_value("encoding_format", encoding, ("float", "base64"))
    _validate_int(obj, "dimensions", 1, 3072)
    if obj.get("dimensions") is not None and model.startswith("text-embedding-ada"):
        raise _bad_request("This model does not support specifying dimensions.")
    if model not in models:
        raise ApiError(404, errors.model_not_found(model))
    return obj, items


def embedding_tokens(items: list[str | list[int]]) -> int:
    return sum(bodies.count_tokens(i) if isinstance(i, str) else len(i) for i in items)
