"""Prompt token counting, offline, for rate-limit reservations and the capability filter.

Counts use OpenAI's BPE vocabularies (``o200k_base``, ``cl100k_base``) as shipped inside the ``bpe-openai``
package, so nothing is downloaded at run time (``tiktoken`` fetches its vocabularies on first use). The count
follows OpenAI's cookbook recipe for chat models: 3 tokens of framing per message, 1 more when a message has
a ``name``, and 3 that prime the reply. Other model families (Claude, Gemini, Llama, Mistral...) have no
offline tokenizer here and are counted with ``o200k_base``: the count only sizes a reservation, which is
settled on the upstream's reported usage afterwards, so an estimate within a few percent is enough.

Without ``bpe-openai`` installed every text falls back to the classic estimate of one token per four
characters (rounded up). Images are counted conservatively: ``detail: low`` costs 85 tokens; any other detail
is charged as the largest image OpenAI bills (768x2048 after scaling: 85 + 8 tiles x 170 = 1445), since the
size is unknown without fetching the image. Nothing is cached per request: the tokenizers are loaded once
per counter and the count of a request is recomputed each time (about 5 us for a short chat). To keep a huge
prompt from holding the event loop, only the first ``EXACT_CHARS`` characters of a request are counted
exactly (about 1 ms); the rest is extrapolated from the tokens-per-character ratio measured on them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec

from switchyard.types.chat import (
    AssistantMessage,
    ChatRequest,
    DeveloperMessage,
    FunctionMessage,
    ImagePart,
    Message,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from switchyard.types.embeddings import EmbeddingRequest

Encoding = Literal["o200k_base", "cl100k_base"]

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
# Each tool definition is wrapped in a namespace preamble the model sees; OpenAI does not publish the exact
# figure, this is the cookbook's measured order of magnitude.
TOKENS_PER_TOOL = 8
IMAGE_LOW = 85
IMAGE_MAX = 85 + 8 * 170
# Characters of a request counted exactly (about 1 ms); beyond them tokens are extrapolated (see _Tally).
EXACT_CHARS = 32_000

# Model-name prefixes of the older vocabulary; everything newer (gpt-4o, gpt-4.1, gpt-5, o1, o3, o4...) and
# every non-OpenAI family is counted with o200k_base.
_CL100K_PREFIXES = ("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")

log = logging.getLogger("switchyard")
_encode_json = msgspec.json.Encoder().encode
_ROLES: dict[type, str] = {
    SystemMessage: "system",
    DeveloperMessage: "developer",
    UserMessage: "user",
    AssistantMessage: "assistant",
    ToolMessage: "tool",
    FunctionMessage: "function",
}


def encoding_for_model(model: str) -> Encoding:
    """The vocabulary that counts ``model``'s tokens (or approximates them, for non-OpenAI families)."""
    name = model.rsplit("/", 1)[-1].lower()
    if name == "gpt-4" or name.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return "o200k_base"


def estimate(text: str) -> int:
    """The fallback: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def _bindings() -> Any:
    """The package's Rust extension (vocabularies compiled in), loaded without running ``bpe_openai/__init__``:
    that module builds Python rank tables at import, costing a second and ~70 MB we do not need."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    for directory in spec.submodule_search_locations:
        for path in sorted(Path(directory).glob("_bindings*.so")) + sorted(Path(directory).glob("_bindings*.pyd")):
            loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", str(path))
            module_spec = importlib.util.spec_from_file_location("bpe_openai._bindings", path, loader=loader)
            if module_spec is None:
                continue
            module = importlib.util.module_from_spec(module_spec)
            loader.exec_module(module)
            return module
    return None


def _load(encoding: Encoding) -> Callable[[str], int] | None:
    try:
        bindings = _bindings()
    except ImportError:
        bindings = None
    if bindings is None:
        log.info("bpe-openai is not installed: token counts are estimated at four characters a token")
        return None
    # A count without building a token list; about 70 MB (o200k) or 35 MB (cl100k) once loaded.
    count: Callable[[str], int] = bindings.tokenizer_for_encoding(encoding).count
    return count


class TokenCounter:
    """Counts tokens of canonical requests. Build one per app; it holds at most one tokenizer per vocabulary."""

    def __init__(self, *, use_tokenizer: bool = True) -> None:
        self._use_tokenizer = use_tokenizer
        self._counters: dict[Encoding, Callable[[str], int] | None] = {}

    def warm(self, *encodings: Encoding) -> None:
        """Load the vocabularies now (about 50 ms each) rather than on the first request that needs them."""
        for encoding in encodings:
            self._counter(encoding)

    def _counter(self, encoding: Encoding) -> Callable[[str], int] | None:
        if encoding not in self._counters:
            self._counters[encoding] = _load(encoding) if self._use_tokenizer else None
        return self._counters[encoding]

    @property
    def exact(self) -> bool:
        """Whether counts come from the real vocabulary rather than the four-characters estimate."""
        return self._counter("o200k_base") is not None

    def text(self, text: str, encoding: Encoding = "o200k_base") -> int:
        """Exact tokens of one text (the estimate without a tokenizer)."""
        if not text:
            return 0
        count = self._counter(encoding)
        return estimate(text) if count is None else _exact(count, text)

    def _tally(self, encoding: Encoding) -> _Tally:
        return _Tally(self._counter(encoding))

    def chat(self, request: ChatRequest, encoding: Encoding = "o200k_base") -> int:
        """Prompt tokens of a chat request: messages, names, tool calls, images and tool definitions."""
        tally = self._tally(encoding)
        total = REPLY_PRIMING
        for message in request.messages:
            total += TOKENS_PER_MESSAGE + _message(message, tally)
        if request.tools:
            for tool in request.tools:
                function = tool.function
                total += TOKENS_PER_TOOL + tally(function.name)
                if function.description:
                    total += tally(function.description)
                if function.parameters:
                    total += tally(_encode_json(function.parameters).decode())
        fmt = request.response_format
        if fmt is not None and fmt.json_schema is not None and fmt.json_schema.schema is not None:
            total += tally(_encode_json(fmt.json_schema.schema).decode())
        return total

    def embedding(self, request: EmbeddingRequest, encoding: Encoding = "cl100k_base") -> int:
        """Input tokens of an embeddings request (token-id inputs count one per id)."""
        tally = self._tally(encoding)
        value = request.input
        if isinstance(value, str):
            return tally(value)
        total = 0
        for item in value:
            if isinstance(item, str):
                total += tally(item)
            elif isinstance(item, int):
                total += 1
            else:
                total += len(item)
        return total


def _message(message: Message, tally: _Tally) -> int:
    # The cookbook counts the role's text too (one token for every role OpenAI defines).
    total = tally(_ROLES[type(message)])
    name = getattr(message, "name", None)
    if name:
        total += TOKENS_PER_NAME + tally(name)
    content = message.content
    if isinstance(content, str):
        total += tally(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, TextPart):
                total += tally(part.text)
            elif isinstance(part, ImagePart):
                total += IMAGE_LOW if part.image_url.detail == "low" else IMAGE_MAX
            elif isinstance(part, RefusalPart):
                total += tally(part.refusal)
            else:
                # Audio and files: no published formula; the size of what was sent, estimated.
                total += estimate(_encode_json(part).decode())
    if isinstance(message, AssistantMessage):
        for call in message.tool_calls or ():
            total += tally(call.function.name) + tally(call.function.arguments)
        if message.function_call is not None:
            total += tally(message.function_call.name)
            total += tally(message.function_call.arguments)
    elif isinstance(message, ToolMessage):
        total += tally(message.tool_call_id)
    elif isinstance(message, FunctionMessage):
        pass  # name and content are counted above
    return total


def _exact(count: Callable[[str], int], text: str) -> int:
    try:
        return count(text)
    except UnicodeEncodeError:
        # Lone surrogates (JSON escapes): count them as the replacement characters a provider would see.
        return count(text.encode("utf-8", "replace").decode("utf-8"))


class _Tally:
    """Counts the texts of one request: exactly for its first ``EXACT_CHARS`` characters, then by the
    tokens-per-character ratio measured on those, so a huge prompt costs at most about a millisecond."""

    __slots__ = ("_count", "_left", "_chars", "_tokens")

    def __init__(self, count: Callable[[str], int] | None) -> None:
        self._count = count
        self._left = EXACT_CHARS
        self._chars = 0
        self._tokens = 0

    def __call__(self, text: str) -> int:
        size = len(text)
        if not size:
            return 0
        if self._count is None:
            return estimate(text)
        if size <= self._left:
            tokens = _exact(self._count, text)
            self._left -= size
            self._chars += size
            self._tokens += tokens
            return tokens
        head = text[: self._left]
        tokens = _exact(self._count, head) if head else 0
        self._left = 0
        self._chars += len(head)
        self._tokens += tokens
        ratio = self._tokens / self._chars if self._chars else 0.25
        return tokens + math.ceil((size - len(head)) * ratio)
