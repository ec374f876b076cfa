"""The fake "model": a deterministic answer to a validated chat request, so tests can assert on it.

- text: ``"Echo: <last user text>"`` unless a reply string/function is configured;
- tools: called when ``tool_choice`` names a function or is ``"required"``, or when the last user
  message says "call" and names tools (each mention is one call, so two names give parallel calls);
  ``key=value`` words in that message become the arguments; after a tool result, a text answer;
- ``response_format`` json_object/json_schema: the reply wrapped into a JSON object;
- ``max_tokens``/``max_completion_tokens``: the reply cut to that many words, ``finish_reason: "length"``.
The whole reply is decided once (a ``ChatPlan``), so plain and streamed renderings cannot disagree.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from tests.fakes import openai_bodies as bodies
from tests.fakes.openai_bodies import JSON, ChatPlan, ChoicePlan, ToolCallPlan
from tests.fakes.openai_validation import completion_limit

ReplyFn = Callable[[JSON], str]
Reply = str | ReplyFn | None

_PAIR = re.compile(r"(\w+)=(\"[^\"]*\"|\S+)")
_CALL_WORD = re.compile(r"\bcall\b", re.IGNORECASE)


def last_user_text(messages: list[JSON]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return bodies.content_text(message.get("content"))
    return ""


def _coerce(text: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return text.lower() in ("true", "1", "yes")
    return text


def _schema_type(schema: JSON) -> str:
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return str(kind)


def value_from_schema(schema: JSON, given: dict[str, str], default_string: str) -> Any:
    """A deterministic value matching a JSON schema; ``given`` overrides properties by name."""
    kind = _schema_type(schema)
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object":
        properties: JSON = schema.get("properties") or {}
        return {
            name: _coerce(given[name], _schema_type(sub))
            if name in given
            else value_from_schema(sub, given, default_string)
            for name, sub in properties.items()
        }
    defaults: JSON = {"string": default_string, "integer": 1, "number": 1.5, "boolean": True, "array": [], "null": None}
    return defaults.get(kind, default_string)


def _function_tools(body: JSON) -> dict[str, JSON]:
    tools = body.get("tools") or []
    return {t["function"]["name"]: t["function"] for t in tools if t.get("type") == "function"}


def _mentioned_tools(text: str, names: Sequence[str]) -> list[str]:
    if not _CALL_WORD.search(text):
        return []
    hits = [(m.start(), name) for name in names for m in re.finditer(rf"\b{re.escape(name)}\b", text)]
    return [name for _, name in sorted(hits)]


def wanted_tool_calls(body: JSON) -> list[tuple[str, str]]:
    """(name, arguments JSON) of the calls the fake model makes; empty for a text reply."""
    functions = _function_tools(body)
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none":
        return []
    text = last_user_text(body["messages"])
    if isinstance(choice, dict):
        names = [str((choice.get("function") or {}).get("name", ""))]
    elif body["messages"][-1].get("role") in ("tool", "function") and choice != "required":
        names = []  # a tool result came back: answer in text, or agent loops never end
    else:
        names = _mentioned_tools(text, list(functions))
        if not names and choice == "required":
            names = [next(iter(functions))]
    if body.get("parallel_tool_calls") is False:
        names = names[:1]
    given = {k: v.strip('"') for k, v in _PAIR.findall(text)}
    return [
        (name, bodies.dumps(value_from_schema(functions.get(name, {}).get("parameters") or {}, given, "test")))
        for name in names
    ]


def reply_text(body: JSON, reply: Reply) -> str:
    if isinstance(reply, str):
        text = reply
    elif reply is not None:
        text = reply(body)
    else:
        text = f"Echo: {last_user_text(body['messages'])}".rstrip()
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        return json.dumps({"reply": text})  # spaced separators, so it splits into several words
    if fmt.get("type") == "json_schema":
        schema = fmt["json_schema"].get("schema") or {"type": "object"}
        return json.dumps(value_from_schema(schema, {}, text))
    return text


def _text_choice(index: int, text: str, limit: int | None) -> ChoicePlan:
    if limit is not None and bodies.count_tokens(text) > limit:
        return ChoicePlan(index, "".join(bodies.split_words(text)[:limit]), (), "length")
    return ChoicePlan(index, text, (), "stop")


def plan_chat(body: JSON, reply: Reply, fingerprint: str) -> ChatPlan:
    calls = wanted_tool_calls(body)
    choices: list[ChoicePlan] = []
    for index in range(body.get("n") or 1):
        if calls:
            planned = tuple(ToolCallPlan(bodies.new_tool_call_id(), name, args) for name, args in calls)
            choices.append(ChoicePlan(index, None, planned, "tool_calls"))
        else:
            choices.append(_text_choice(index, reply_text(body, reply), completion_limit(body)))
    return ChatPlan(
        id=bodies.new_completion_id(),
        created=int(time.time()),
        model=body["model"],
        system_fingerprint=fingerprint,
        choices=tuple(choices),
        prompt_tokens=bodies.prompt_tokens(body["messages"]),
    )
