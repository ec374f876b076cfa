"""Fixture adapters for the providers with their own wire formats: Anthropic, Gemini, Bedrock; and the built-in
demo model. Faults, models and credentials are the ones the provider tests use (``tests/providers/``)."""

from __future__ import annotations

import base64
from typing import Any

from tests.conformance.scenarios import COLUMNS, JSON, PNG, PNG_B64
from tests.conformance.upstream import Armed, Upstream
from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.fakes.anthropic_upstream import Fault as AnthropicFault
from tests.fakes.bedrock_invoke import TITAN_V2
from tests.fakes.bedrock_upstream import ACCESS_KEY, SECRET_KEY, FakeBedrock, Script
from tests.fakes.bedrock_upstream import Fault as BedrockFault
from tests.fakes.gemini_upstream import CANNED, FakeGemini
from tests.fakes.gemini_upstream import Fault as GeminiFault

WRONG = "wrong-key-zyxwvu987654"


FORCED = "The demo model calls a tool only when made to (these cells send tool_choice required), with {}."


class Demo(Upstream):
    name = provider = "demo"
    not_applicable = {
        c.key: "The demo model has no upstream, so nothing can fail there." for c in COLUMNS if c.is_error
    }
    remarks = {
        "tools": FORCED,
        "stream-tools": FORCED,
        "vision": "No upstream to inspect: the image is accepted and answered.",
        "json-schema": "The demo model answers any JSON mode with one JSON object; it does not follow schemas.",
    }
    calls_tools_unforced = False
    follows_schema = False
    embedding_model = "demo-1"

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def reset(self) -> None:
        return None

    def deployment(self) -> JSON:
        return {"provider": "demo", "model": "demo-1"}

    def wrong_credentials(self) -> JSON:
        raise AssertionError("the demo model has no credentials")

    def bodies(self) -> list[Any]:
        return []

    def check_vision(self, body: JSON) -> None:
        raise AssertionError("the demo model has no upstream")

    def arm(self, column: str) -> Armed:
        raise AssertionError("the demo model has no upstream")


class Anthropic(Upstream):
    name = provider = "anthropic"
    key = "sk-ant-secret-key-0123456789"
    unsupported = {"n2": ("n", "The Messages API returns one message per request.")}

    def __init__(self) -> None:
        self.secrets = (self.key, WRONG)

    def start(self) -> None:
        self.fake = FakeAnthropic(api_key=self.key).start()

    def stop(self) -> None:
        self.fake.stop()

    def reset(self) -> None:
        self.fake.reset()

    def deployment(self) -> JSON:
        return {"provider": "anthropic", "model": "claude-haiku-4-5", "api_base": self.fake.base_url,
                "api_key": self.key}  # fmt: skip

    def wrong_credentials(self) -> JSON:
        return {**self.deployment(), "api_key": WRONG}

    def bodies(self) -> list[Any]:
        return [request.json for request in self.fake.requests]

    def check_vision(self, body: JSON) -> None:
        blocks = body["messages"][-1]["content"]
        source = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
        assert {"type": "image", "source": source} in blocks, blocks

    def arm(self, column: str) -> Armed:
        def fault(status: int, message: str | None = None, **extra: Any) -> Armed:
            body = anthropic_error("invalid_request_error", message) if message else None
            self.fake.push_fault(AnthropicFault("status", status=status, body=body, **extra))
            return Armed()

        if column == "rate-limit":
            fault(429, retry_after=7)
            return Armed(retry_after="7")
        if column == "server-error":
            return fault(500)
        if column == "overloaded":
            return fault(529)
        if column == "context":
            return fault(400, "prompt is too long: 210000 tokens > 200000 maximum")
        if column == "content-policy":
            return fault(400, "Output blocked by content filtering policy")
        if column == "bad-request":
            return fault(400, "stop_sequences: each stop sequence must contain non-whitespace")
        return Armed()


class Gemini(Upstream):
    name = provider = "gemini"
    embedding_model = "gemini-embedding-001"
    key = "AIza-upstream-secret-0123456789"
    remarks = {"content-policy": "A prompt Gemini's safety filters block (a 200 with no candidates), not a fault."}

    def __init__(self) -> None:
        self.secrets = (self.key, WRONG)

    def start(self) -> None:
        self.fake = FakeGemini(api_key=self.key).start()

    def stop(self) -> None:
        self.fake.stop()

    def reset(self) -> None:
        self.fake.reset()

    def deployment(self) -> JSON:
        return {"provider": "gemini", "model": "gemini-2.5-flash", "api_base": self.fake.base_url, "api_key": self.key}

    def wrong_credentials(self) -> JSON:
        return {**self.deployment(), "api_key": WRONG}

    def bodies(self) -> list[Any]:
        return [request.json for request in self.fake.requests]

    def check_vision(self, body: JSON) -> None:
        parts = body["contents"][-1]["parts"]
        assert {"inlineData": {"mimeType": "image/png", "data": PNG_B64}} in parts, parts

    def arm(self, column: str) -> Armed:
        if column == "rate-limit":
            self.fake.push_fault(GeminiFault.rate_limit("27s"))
            return Armed(retry_after="27")
        if column == "content-policy":
            return Armed(prompt="BLOCKME")  # the fake's safety filter blocks the prompt
        canned = {"server-error": CANNED["internal"], "overloaded": CANNED["overloaded"], "context": CANNED["context"]}
        bad = GeminiFault.error(400, "INVALID_ARGUMENT", "* GenerateContentRequest.generation_config.temperature: "
                                "must be in [0.0, 2.0]\n")  # fmt: skip
        fault = canned.get(column, bad if column == "bad-request" else None)
        if fault is not None:
            self.fake.push_fault(fault)
        return Armed()


class Bedrock(Upstream):
    name = provider = "bedrock"
    embedding_model = TITAN_V2
    token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"
    unsupported = {"n2": ("n", "Converse returns one message per request.")}
    remarks = {
        "content-policy": "Bedrock reports a guardrail as stopReason guardrail_intervened on a 200: the cell checks "
        "finish_reason content_filter instead of a 400.",
        "json-object": "Sent as a forced tool with an empty object schema.",
        "json-schema": "Sent as a forced tool whose input schema is the requested schema.",
        "embeddings": "Titan Text Embeddings v2 through InvokeModel, one call per text; Cohere Embed on Bedrock is "
        "tested in tests/providers/test_bedrock_embeddings.py.",
    }

    def __init__(self) -> None:
        self.secrets = (SECRET_KEY, self.token, "not-the-secret-0123")

    def start(self) -> None:
        self.fake = FakeBedrock(session_token=self.token).start()

    def stop(self) -> None:
        self.fake.stop()

    def reset(self) -> None:
        self.fake.reset()

    def deployment(self) -> JSON:
        return {"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "api_base": self.fake.base_url, "aws_region": "us-east-1", "aws_access_key_id": ACCESS_KEY,
                "aws_secret_access_key": SECRET_KEY, "aws_session_token": self.token}  # fmt: skip

    def wrong_credentials(self) -> JSON:
        return {**self.deployment(), "aws_secret_access_key": "not-the-secret-0123"}

    def bodies(self) -> list[Any]:
        return [request.json for request in self.fake.requests]

    def check_vision(self, body: JSON) -> None:
        images = [block["image"] for block in body["messages"][-1]["content"] if "image" in block]
        assert len(images) == 1 and images[0]["format"] == "png", body["messages"]
        assert base64.b64decode(images[0]["source"]["bytes"]) == PNG

    def arm(self, column: str) -> Armed:
        def error(exception: str, message: str | None = None, **extra: Any) -> Armed:
            self.fake.push_fault(BedrockFault("error", exception=exception, message=message, **extra))
            return Armed()

        if column == "rate-limit":
            error("ThrottlingException", headers={"Retry-After": "2"})
            return Armed(retry_after="2")
        if column == "server-error":
            return error("InternalServerException")
        if column == "overloaded":
            return error("ServiceUnavailableException")
        if column == "context":
            return error("ValidationException", "Input is too long for requested model.")
        if column == "bad-request":
            return error("ValidationException", "The model returned the following errors: bad field")
        if column == "content-policy":
            self.fake.script = Script(text="Blocked by a guardrail.", stop_reason="guardrail_intervened")
            return Armed(finish="content_filter")
        return Armed()
