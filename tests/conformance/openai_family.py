"""Fixture adapters for the providers whose fakes build on the OpenAI fake: OpenAI and the OpenAI-compatible
family, Azure OpenAI, Mistral, Cohere v2 and Ollama. Faults, models and keys are the ones the provider tests use
(``tests/providers/test_<name>.py``); error bodies are each provider's documented ones, from its fake."""

from __future__ import annotations

from typing import Any

from tests.conformance.scenarios import JSON, PIXEL, PNG, PNG_B64
from tests.conformance.upstream import Armed, Upstream, image_bytes
from tests.fakes.azure_upstream import FakeAzure, rate_limited
from tests.fakes.cohere_upstream import FakeCohere, cohere_error
from tests.fakes.mistral_upstream import FakeMistral, mistral_error
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_errors import error_body
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_upstream import FakeOpenAI

WRONG = "wrong-key-zyxwvu987654"
BAD_TEMPERATURE = error_body(
    "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.",
    "invalid_request_error",
    "temperature",
    "decimal_above_max_value",
)


class _OpenAIFake(Upstream):
    """Shared plumbing: every fake here is a FakeOpenAI subclass, with its recorder and fault queue."""

    fake: FakeOpenAI

    def stop(self) -> None:
        self.fake.stop()

    def reset(self) -> None:
        self.fake.reset()

    def bodies(self) -> list[Any]:
        return [request.json for request in self.fake.requests]

    def push(self, fault: Fault, **armed: Any) -> Armed:
        self.fake.push_fault(fault)
        return Armed(**armed)


class OpenAI(_OpenAIFake):
    name = provider = "openai"
    key = "sk-openai-secret-0123456789"
    model = "gpt-4o-mini"
    embedding_model = "text-embedding-3-small"

    def __init__(self) -> None:
        self.secrets = (self.key, WRONG)

    def start(self) -> None:
        self.fake = FakeOpenAI(api_key=self.key).start()

    def deployment(self) -> JSON:
        return {"provider": self.provider, "model": self.model, "api_base": self.fake.base_url, "api_key": self.key}

    def wrong_credentials(self) -> JSON:
        return {**self.deployment(), "api_key": WRONG}

    def check_vision(self, body: JSON) -> None:
        parts = body["messages"][-1]["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        assert len(images) == 1 and image_bytes(images[0]["image_url"]["url"]) == PNG, parts

    def arm(self, column: str) -> Armed:
        if column == "rate-limit":
            return self.push(Fault.rate_limit(retry_after=3), retry_after="3")
        if column == "server-error":
            return self.push(Fault.server_error())
        if column == "overloaded":
            return self.push(Fault.overloaded())
        if column == "context":
            return self.push(Fault.context_length())
        if column == "content-policy":
            return self.push(Fault.content_policy())
        if column == "bad-request":
            return self.push(Fault("status", status=400, body=BAD_TEMPERATURE))
        return Armed()


class OpenAICompatible(OpenAI):
    """The generic entry (vLLM, LM Studio, any OpenAI-style server); groq, together, ... differ only in api_base."""

    name = provider = "openai_compatible"
    key = "sk-compat-secret-0123456789"
    model = "gpt-4o"


class Azure(OpenAI):
    name = provider = "azure"
    key = "azure-secret-key-0123456789"
    model = "gpt4o-prod"
    embedding_model = "embed-prod"  # a deployment name, as Azure's are
    remarks = {"content-policy": "Azure's prompt filter (a 400 with code content_filter), not an injected fault."}

    def start(self) -> None:
        self.fake = FakeAzure(api_key=self.key).start()

    def deployment(self) -> JSON:
        return {**super().deployment(), "api_version": "2024-10-21"}

    def arm(self, column: str) -> Armed:
        if column == "rate-limit":
            return self.push(Fault("status", status=429, body=rate_limited(6), retry_after=6), retry_after="6")
        if column == "content-policy":
            return Armed(prompt="FORBIDDEN words")  # the fake's prompt filter refuses it
        return super().arm(column)


class Mistral(_OpenAIFake):
    name = provider = "mistral"
    embedding_model = "mistral-embed"
    key = "mistral-secret-key-0123456789"
    not_applicable = {"content-policy": "Mistral's chat API has no content-policy error (moderation is separate)."}

    def __init__(self) -> None:
        self.secrets = (self.key, WRONG)

    def start(self) -> None:
        self.fake = FakeMistral(api_key=self.key).start()

    def deployment(self) -> JSON:
        return {"provider": "mistral", "model": "mistral-small-latest", "api_base": self.fake.base_url,
                "api_key": self.key}  # fmt: skip

    def wrong_credentials(self) -> JSON:
        return {**self.deployment(), "api_key": WRONG}

    def check_vision(self, body: JSON) -> None:
        parts = body["messages"][-1]["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        # Mistral's own form: the URL is the image_url value itself, not an object.
        assert len(images) == 1 and image_bytes(images[0]["image_url"]) == PNG, parts

    def arm(self, column: str) -> Armed:
        if column == "rate-limit":
            limited = Fault("status", status=429, body={"message": "Requests rate limit exceeded"}, retry_after=2)
            return self.push(limited, retry_after="2")
        if column == "server-error":
            return self.push(Fault("status", status=500, body=mistral_error("Internal error", "internal_error")))
        if column == "overloaded":
            body = mistral_error("Service unavailable", "service_unavailable")
            return self.push(Fault("status", status=503, body=body))
        if column == "context":
            body = mistral_error("Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 "
                                 "maximum context length", "invalid_request_prompt")  # fmt: skip
            return self.push(Fault("status", status=400, body=body))
        if column == "bad-request":
            extra = {"type": "extra_forbidden", "loc": ["body", "store"], "msg": "Extra inputs are not permitted"}
            return self.push(Fault("status", status=422, body=mistral_error({"detail": [extra]})))
        return Armed()


class Cohere(_OpenAIFake):
    name = provider = "cohere"
    embedding_model = "embed-v4.0"
    key = "cohere-secret-key-0123456789"
    unsupported = {"n2": ("n", "Cohere's v2 chat returns one generation per request.")}
    not_applicable = {"content-policy": "Cohere's v2 chat API has no content-policy error."}

    def __init__(self) -> None:
        self.secrets = (self.key, WRONG)

    def start(self) -> None:
        self.fake = FakeCohere(api_key=self.key).start()

    def deployment(self) -> JSON:
        return {"provider": "cohere", "model": "command-a-03-2025", "api_base": self.fake.base_url,
                "api_key": self.key}  # fmt: skip

    def wrong_credentials(self) -> JSON:
        return {**self.deployment(), "api_key": WRONG}

    def check_vision(self, body: JSON) -> None:
        parts = body["messages"][-1]["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        assert len(images) == 1 and images[0]["image_url"]["url"] == PIXEL, parts

    def arm(self, column: str) -> Armed:
        if column == "rate-limit":
            body = cohere_error("You are using a Trial key, which is limited to 10 API calls / minute.")
            return self.push(Fault("status", status=429, body=body, retry_after=2), retry_after="2")
        if column == "server-error":
            return self.push(Fault("status", status=500, body=cohere_error("internal server error")))
        if column == "overloaded":
            return self.push(Fault("status", status=503, body=cohere_error("service unavailable")))
        if column == "context":
            body = cohere_error("too many tokens: total number of tokens in the prompt cannot exceed 4081 - "
                                "received 4292")  # fmt: skip
            return self.push(Fault("status", status=400, body=body))
        if column == "bad-request":
            body = cohere_error("invalid request: p must be between 0.01 and 0.99")
            return self.push(Fault("status", status=400, body=body))
        return Armed()


class Ollama(_OpenAIFake):
    name = provider = "ollama"
    embedding_model = "nomic-embed-text"
    proxy_key = "proxy-secret-token-0123456789"
    unsupported = {
        "tool-choice": ("tool_choice", "Ollama cannot force a tool call (tool_choice required or named)."),
        "n2": ("n", "Ollama returns one generation per request."),
    }
    not_applicable = {
        "context": "Ollama truncates the prompt to the model's num_ctx instead of refusing it.",
        "content-policy": "Ollama has no content-policy error.",
    }
    remarks = {"auth": "Ollama itself takes no key; a bearer token is sent for a proxy in front of it."}

    def __init__(self) -> None:
        self.secrets = (self.proxy_key, WRONG)

    def start(self) -> None:
        self.fake = FakeOllama().start()
        self.guarded = FakeOllama(api_key=self.proxy_key).start()

    def stop(self) -> None:
        super().stop()
        self.guarded.stop()

    def reset(self) -> None:
        super().reset()
        self.guarded.reset()

    def deployment(self) -> JSON:
        return {"provider": "ollama", "model": "llama3.2", "api_base": self.fake.base_url}

    def wrong_credentials(self) -> JSON:
        return {"provider": "ollama", "model": "llama3.2", "api_base": self.guarded.base_url, "api_key": WRONG}

    def check_vision(self, body: JSON) -> None:
        assert body["messages"][-1]["images"] == [PNG_B64], body["messages"]

    def arm(self, column: str) -> Armed:
        if column == "rate-limit":
            limited = Fault("status", status=429, body={"error": "too many requests"}, retry_after=2)
            return self.push(limited, retry_after="2")
        if column == "server-error":
            return self.push(Fault("status", status=500, body={"error": "llama runner process has terminated"}))
        if column == "overloaded":
            busy = {"error": "server busy, please try again.  maximum pending requests exceeded"}
            return self.push(Fault("status", status=503, body=busy))
        if column == "bad-request":
            return self.push(Fault("status", status=400, body={"error": "llama3.2 does not support tools"}))
        return Armed()
