"""The Anthropic inbound driver: the Messages API (``POST /v1/messages``) through the official ``anthropic`` SDK.

Answers are checked the way ``inbound`` checks OpenAI ones: every ``Message``, stream event and error body is
re-validated strictly with the SDK's own types. Streams are read with the SDK's ``messages.stream`` helper, whose
final message is the SDK's own assembly of the events (so a block index or an event order we get wrong breaks
it), and the raw event sequence is checked as well. Stop reasons are reported in OpenAI's vocabulary.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic.types import ErrorResponse, Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from tests.conformance.inbound import Answer, Ask, Call, Refusal, strict
from tests.conformance.scenarios import FORCED_TOOL, PNG_B64, SCHEMA, anthropic_tools

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
          "refusal": "content_filter", "pause_turn": "stop"}  # fmt: skip
CHOICES = {"auto": {"type": "auto"}, "required": {"type": "any"}, "named": {"type": "tool", "name": FORCED_TOOL}}
RAW_EVENTS = TypeAdapter[Any](RawMessageStreamEvent)
RAW_TYPES = {"message_start", "message_delta", "message_stop", "content_block_start", "content_block_delta",
             "content_block_stop"}  # fmt: skip


class AnthropicInbound:
    name = "anthropic"
    # Anthropic's error envelope has no ``param`` and no gateway code: the error ``type`` stands for the code,
    # and the 400 for an unsupported request names the parameter in its message.
    carries_param = False
    error_codes = {
        "auth": "api_error",
        "rate-limit": "rate_limit_error",
        "server-error": "api_error",
        "overloaded": "overloaded_error",
        "context": "invalid_request_error",
        "content-policy": "invalid_request_error",
        "bad-request": "invalid_request_error",
    }

    def __init__(self, base_url: str) -> None:
        self.client = anthropic.Anthropic(base_url=base_url, api_key="client-key", max_retries=0, timeout=30)

    def request(self, group: str, ask: Ask) -> dict[str, Any]:
        content: Any = ask.prompt
        if ask.image:
            image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
            content = [{"type": "text", "text": ask.prompt}, image]
        body: dict[str, Any] = {"model": group, "max_tokens": 512, "messages": [{"role": "user", "content": content}]}
        if ask.tools:
            body["tools"] = anthropic_tools()
        if ask.tool_choice is not None:
            body["tool_choice"] = CHOICES[ask.tool_choice]
        if ask.json == "schema":
            body["output_config"] = {"format": {"type": "json_schema", "schema": SCHEMA}}
        assert ask.json != "object" and ask.n == 1, "the Messages API cannot ask this"
        return body

    def ask(self, group: str, ask: Ask) -> Answer | Refusal:
        body = self.request(group, ask)
        try:
            if ask.stream:
                return self._stream(body)
            return self._answer(strict(Message, self.client.messages.create(**body)))
        except anthropic.APIStatusError as exc:
            error = ErrorResponse.model_validate(json.loads(exc.response.text))
            assert error.type == "error" and exc.response.headers.get("request-id")
            return Refusal(exc.status_code, error.error.type, None, exc.response.headers.get("retry-after"),
                           exc.response.text)  # fmt: skip

    def _answer(self, message: Message) -> Answer:
        assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
        assert message.stop_reason is not None
        text = "".join(block.text for block in message.content if block.type == "text")
        calls = [Call(b.id, b.name, json.dumps(b.input)) for b in message.content if b.type == "tool_use"]
        usage = message.usage
        prompt = usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
        output = usage.output_tokens
        return Answer([text], FINISH[message.stop_reason], calls, prompt, output, prompt + output)

    def _stream(self, body: dict[str, Any]) -> Answer:
        seen: list[str] = []
        open_blocks: set[int] = set()
        with self.client.messages.stream(**body) as stream:
            for event in stream:
                if event.type not in RAW_TYPES:
                    continue  # the helper's own convenience events (text, input_json, ...)
                RAW_EVENTS.validate_python(event.to_dict(mode="json"))
                seen.append(event.type)
                if event.type == "content_block_start":
                    assert event.index not in open_blocks and event.index == seen.count("content_block_start") - 1
                    open_blocks.add(event.index)
                elif event.type == "content_block_delta":
                    assert event.index in open_blocks, "a delta for a block that is not open"
                elif event.type == "content_block_stop":
                    open_blocks.remove(event.index)
            final = strict(Message, stream.get_final_message())
        assert seen[0] == "message_start" and seen[-2:] == ["message_delta", "message_stop"], seen
        assert not open_blocks, "every block is closed before the message ends"
        return self._answer(final)
