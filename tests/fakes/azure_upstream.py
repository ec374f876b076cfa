"""A fake Azure OpenAI resource: OpenAI's chat and embeddings bodies at Azure's URLs, with Azure's differences.

    fake = FakeAzure(deployments={"gpt4o-prod": "gpt-4o"}, api_key="azure-key-123")
    with fake:
        fake.base_url                                   # the resource endpoint, "http://127.0.0.1:PORT"
        fake.push_fault(Fault("status", status=429, body=errors_429(6), retry_after=6))

Built from the Azure OpenAI REST reference (data-plane inference) and bodies quoted in public threads:
- ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (and ``/embeddings``), or the
  v1 API ``POST /openai/v1/chat/completions`` with the deployment name as ``model``;
- auth: ``api-key: KEY`` or ``Authorization: Bearer ENTRA_TOKEN``; a bad key is a 401 with code "401";
- answers carry ``prompt_filter_results`` and per-choice ``content_filter_results``; a stream opens with a
  chunk whose ``choices`` is empty, ``id``/``model`` empty and ``created`` 0, carrying the prompt's results;
- a prompt containing ``FORBIDDEN`` trips the prompt filter (400 ``content_filter`` with ``innererror``);
  one containing ``FILTER_OUTPUT`` has its answer filtered (``finish_reason: "content_filter"``);
- an unknown deployment is a 404 ``DeploymentNotFound``; no ``api-version`` on a deployment URL is a 404;
  ``stream_options`` with a version before 2024-09-01-preview is a 400 (unrecognised argument).
It reuses the OpenAI fake's validation, replies and fault injection, and imports nothing from ``switchyard``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes import openai_bodies as bodies
from tests.fakes import openai_replies as replies
from tests.fakes import openai_validation as validation
from tests.fakes import openai_wire as wire
from tests.fakes.openai_bodies import JSON
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.openai_validation import ApiError

__all__ = ["FakeAzure", "Fault", "rate_limited", "DEFAULT_DEPLOYMENTS"]

DEFAULT_DEPLOYMENTS = {"gpt4o-prod": "gpt-4o-2024-08-06", "embed-prod": "text-embedding-3-small"}
_DEPLOYMENT_PATH = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings)$")
_SAFE = {"filtered": False, "severity": "safe"}
_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})(-preview)?$")


def azure_error(code: str, message: str, **extra: Any) -> JSON:
    return {"error": {"code": code, "message": message, **extra}}


def rate_limited(seconds: int, version: str = "2024-10-21") -> JSON:
    return azure_error(
        "429",
        f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {version} have exceeded "
        f"token rate limit of your current OpenAI S0 pricing tier. Please retry after {seconds} seconds. Please go "
        "here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
    )


def content_filter_error() -> JSON:
    results = {"hate": _SAFE, "jailbreak": {"filtered": False, "detected": False}, "sexual": _SAFE,
               "violence": {"filtered": True, "severity": "high"}, "self_harm": _SAFE}  # fmt: skip
    return {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
            "policy. Please modify your prompt and retry. To learn more about our content filtering policies please "
            "read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": results},
        }
    }


def _filter_results() -> JSON:
    return {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}


def _prompt_filter_results() -> list[JSON]:
    return [{"prompt_index": 0, "content_filter_results": _filter_results()}]


class FakeAzure(FakeOpenAI):
    def __init__(
        self,
        deployments: Mapping[str, str] | None = None,
        api_key: str = "azure-key-123",
        ad_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.deployments = dict(deployments or DEFAULT_DEPLOYMENTS)
        self.ad_token = ad_token
        super().__init__(models=list(self.deployments.values()), api_key=api_key, **kwargs)

    @property
    def base_url(self) -> str:
        return self.url

    def _check_auth(self, request: web.Request) -> JSON | None:
        key = request.headers.get("api-key")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if key is not None and self.api_keys is not None and key in self.api_keys:
            return None
        if key is None and scheme.lower() == "bearer" and self.ad_token is not None and token == self.ad_token:
            return None
        return azure_error(
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
            "for an active subscription and use a correct regional API endpoint for your resource.",
        )

    async def _route(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        path, version = ex.request.path, ex.request.query.get("api-version")
        matched = _DEPLOYMENT_PATH.match(path)
        if ex.request.method != "POST" or (matched is None and not path.startswith("/openai/v1/")):
            return wire.json_response(ex, 404, azure_error("404", "Resource not found"))
        if matched is not None:
            if version is None or _VERSION.match(version) is None:
                return wire.json_response(ex, 404, azure_error("404", "Resource not found"))
            name, operation = matched.groups()
            model = self.deployments.get(name)
            if model is None:
                return wire.json_response(ex, 404, _deployment_not_found())
        else:
            if version not in (None, "preview", "latest"):
                return wire.json_response(ex, 400, azure_error("BadRequest", "API version not supported"))
            operation = path.removeprefix("/openai/v1/")
            body = validation.parse_json(ex.record.raw)
            name = body.get("model") if isinstance(body, dict) else None
            model = self.deployments.get(str(name))
            if model is None:
                return wire.json_response(ex, 404, _deployment_not_found())
        if operation == "chat/completions":
            return await self._azure_chat(ex, fault, model, version)
        if operation == "embeddings":
            return await self._azure_embeddings(ex, fault, model)
        return wire.json_response(ex, 404, azure_error("404", "Resource not found"))

    async def _azure_chat(
        self, ex: wire.Exchange, fault: Fault | None, model: str, version: str | None
    ) -> web.StreamResponse:
        raw = validation.parse_json(ex.record.raw)
        if not isinstance(raw, dict):
            raise ApiError(400, azure_error("BadRequest", "The request body must be a JSON object."))
        dated = _VERSION.match(version or "")
        if "stream_options" in raw and dated is not None and dated.group(1) < "2024-09-01":
            return wire.json_response(ex, 400, _unrecognised("stream_options"))
        body = validation.validate_chat({**raw, "model": model}, self.models, self.context_window)
        text = " ".join(bodies.content_text(m.get("content")) for m in body["messages"])
        if "FORBIDDEN" in text:
            return wire.json_response(ex, 400, content_filter_error())
        plan = replies.plan_chat(body, self.reply, self.system_fingerprint)
        filtered = "FILTER_OUTPUT" in text
        if not body.get("stream"):
            answer = bodies.chat_completion(plan)
            answer["prompt_filter_results"] = _prompt_filter_results()
            for choice in answer["choices"]:
                choice["content_filter_results"] = _filter_results()
                if filtered:
                    choice["finish_reason"] = "content_filter"
                    choice["message"]["content"] = None
                    choice["content_filter_results"]["violence"] = {"filtered": True, "severity": "medium"}
            return await wire.send_json(ex, answer, fault, plan.prompt_tokens)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = bodies.chat_chunks(plan, include_usage=include_usage)
        for chunk in chunks:
            for choice in chunk["choices"]:
                choice["content_filter_results"] = {} if choice["finish_reason"] is None else _filter_results()
                if filtered and choice["finish_reason"] is not None:
                    choice["finish_reason"] = "content_filter"
        opening = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                   "prompt_filter_results": _prompt_filter_results()}  # fmt: skip
        return await wire.send_stream(ex, [opening, *chunks], plan.prompt_tokens, fault, self.chunk_delay)

    async def _azure_embeddings(self, ex: wire.Exchange, fault: Fault | None, model: str) -> web.StreamResponse:
        raw = validation.parse_json(ex.record.raw)
        body, items = validation.validate_embeddings({**raw, "model": model}, self.models)
        vectors = [bodies.embedding_vector(model, item, self.embedding_dim) for item in items]
        tokens = validation.embedding_tokens(items)
        answer = bodies.embeddings_response(model, vectors, body.get("encoding_format", "float"), tokens)
        return await wire.send_json(ex, answer, fault, tokens)


def _deployment_not_found() -> JSON:
    return azure_error(
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 "
        "minutes, please wait a moment and try again.",
    )


def _unrecognised(name: str) -> JSON:
    return {"error": {"message": f"Unrecognized request argument supplied: {name}", "type": "invalid_request_error",
                      "param": None, "code": None}}  # fmt: skip
