"""The conformance matrix's scenario table: its columns, what every cell sends, and what each cell must show.

A row is one inbound format (what the client speaks) in front of one provider; a column is one scenario. Every
cell ends in one of four declared outcomes, and the matrix test proves the declaration:

- ``pass``: the answer, parsed strictly with the official SDK's types, has the scenario's shape;
- ``400 (unsupported)``: the provider cannot do it, and the gateway says so before calling it: a 400 that
  names the parameter (``param``), with no request reaching the upstream;
- ``n/a``: there is nothing to translate (the provider has no such error, the inbound API no such field),
  with the reason as a footnote in the table;
- ``pending``: the inbound format is not served yet (its cells are tested once it is).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


class Outcome(StrEnum):
    PASS = "pass"
    UNSUPPORTED = "400 (unsupported)"
    NA = "n/a"
    PENDING = "pending"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    # What an error column's cell must return: (HTTP status, the gateway's error code).
    status: int | None = None
    code: str | None = None

    @property
    def is_error(self) -> bool:
        return self.status is not None


COLUMNS: tuple[Column, ...] = (
    Column("plain", "plain"),
    Column("stream", "stream"),
    Column("tools", "tools"),
    Column("stream-tools", "streamed tools"),
    Column("tool-choice", "named tool_choice"),
    Column("vision", "vision"),
    Column("json-object", "JSON object"),
    Column("json-schema", "JSON schema"),
    Column("n2", "n=2"),
    Column("embeddings", "embeddings"),
    Column("embeddings-b64", "embeddings base64"),
    Column("auth", "auth → 502", 502, "upstream_auth_error"),
    Column("rate-limit", "rate limit → 429", 429, "upstream_rate_limited"),
    Column("server-error", "server error → 502", 502, "upstream_error"),
    Column("overloaded", "overloaded → 503", 503, "upstream_unavailable"),
    Column("context", "context window → 400", 400, "context_length_exceeded"),
    Column("content-policy", "content policy → 400", 400, "content_policy_violation"),
    Column("bad-request", "bad request → 400", 400, "upstream_bad_request"),
)
COLUMN = {column.key: column for column in COLUMNS}
ERROR_COLUMNS = tuple(column.key for column in COLUMNS if column.is_error)
EMBED_COLUMNS = ("embeddings", "embeddings-b64")
INBOUNDS = ("openai", "anthropic")
INBOUND_TITLES = {"openai": "OpenAI", "anthropic": "Anthropic"}


@dataclass(frozen=True)
class Expectation:
    outcome: Outcome
    param: str | None = None  # for 400 (unsupported): the parameter the gateway's 400 must name
    note: str | None = None  # why the cell is unsupported or not applicable (a footnote in the table)
    about: str = ""  # whom the note is about: a provider, or an inbound API


# --- what the cells send ----------------------------------------------------------------------------------

PROMPT = "What is a gateway?"
EMBED_TEXTS = ["What is a gateway?", "A gateway routes each request to a deployment."]
TOOL_PROMPT = "call search q=gateways"
VISION_PROMPT = "Describe this image"
JSON_PROMPT = "Answer in json: what is a gateway?"  # OpenAI refuses json_object unless a message says "json"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG).decode()
PIXEL = "data:image/png;base64," + PNG_B64
TOOL_PARAMETERS: JSON = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
TOOL_NAMES = ("search", "lookup")
FORCED_TOOL = "lookup"
SCHEMA: JSON = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def openai_tools() -> list[JSON]:
    return [
        {"type": "function", "function": {"name": n, "description": f"{n} the web", "parameters": TOOL_PARAMETERS}}
        for n in TOOL_NAMES
    ]


def anthropic_tools() -> list[JSON]:
    return [{"name": n, "description": f"{n} the web", "input_schema": TOOL_PARAMETERS} for n in TOOL_NAMES]


def cell_id(inbound: str, provider: str, column: str) -> str:
    return f"{inbound}-inbound-{provider}-{column}"
