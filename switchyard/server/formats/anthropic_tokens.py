"""An estimate of a request's input tokens, for ``/v1/messages/count_tokens`` and a stream's ``message_start``.

It is an estimate, not a count: the models behind the gateway use different tokenizers, and only the upstream
knows the exact number (the final usage of an answer reports it). The rule of thumb: about four characters of
text (message text, tool-call arguments, tool definitions as JSON) a token; four tokens of framing per message;
an image 1,600 tokens (Anthropic's figure for an image at its 1.15-megapixel size limit); a PDF 2,000 tokens
per started 50 KB (about a page).
"""

from __future__ import annotations

import math

import msgspec

from switchyard.types.chat import (
    AssistantMessage,
    ChatRequest,
    ContentPart,
    FilePart,
    ImagePart,
    TextPart,
)

_PER_MESSAGE = 4
_PER_IMAGE = 1600
_PER_PDF_CHUNK = 2000
_PDF_CHUNK_BYTES = 50_000
_encode = msgspec.json.Encoder().encode


def _text(text: str) -> int:
    return math.ceil(len(text) / 4)


def _content(content: str | list[ContentPart] | None) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _text(content)
    total = 0
    for part in content:
        if isinstance(part, TextPart):
            total += _text(part.text)
        elif isinstance(part, ImagePart):
            total += _PER_IMAGE
        elif isinstance(part, FilePart):
            data = str(part.file.get("file_data") or "")
            total += _PER_PDF_CHUNK * max(1, math.ceil(len(data) * 3 / 4 / _PDF_CHUNK_BYTES))
    return total


def estimate_input_tokens(request: ChatRequest) -> int:
    total = 0
    for message in request.messages:
        total += _PER_MESSAGE + _content(message.content)
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls or ():
                total += _text(call.function.name) + _text(call.function.arguments)
    if request.tools:
        total += _text(_encode(request.tools).decode())
    return total
