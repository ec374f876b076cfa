"""A fake Google Gemini API (generativelanguage v1beta) on a local port, with fault injection.

    with FakeGemini(api_key="AIza-test") as fake:
        fake.base_url                            # "http://127.0.0.1:PORT/v1beta"
        fake.push_fault(Fault.rate_limit("30s"))
        fake.requests                            # what the fake received

Request checks and reply shapes follow the API reference (ai.google.dev/api/generate-content, /embeddings)
and the errors Google documents (ai.google.dev/gemini-api/docs/troubleshooting): the key is read from
``x-goog-api-key`` (or ``?key=``), unknown JSON fields are refused the way Google's JSON parser refuses
them, turns must alternate, function responses must answer the calls of the turn before, and ``gemini-3``
models insist on thought signatures on replayed function calls. Replies are deterministic, proto3 JSON
(zero values omitted). It imports nothing from ``switchyard``: it stands for the provider.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.gemini_checks import (
    SKIP_SIGNATURE,
    as_object,
    check_contents,
    declarations,
    generation_config,
    tool_config,
)
from tests.fakes.gemini_errors import CANNED, JSON, ApiError, Fault, bad, error_body, unknown
from tests.fakes.gemini_replies import count_words, frame, json_response, rid, sample, stream_events

__all__ = ["CANNED", "SKIP_SIGNATURE", "ApiError", "FakeGemini", "Fault", "RecordedRequest", "error_body"]

_PATH = re.compile(r"/(v1beta|v1)/models/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)")
_TOP = {"contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig", "cachedContent"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    json: Any


class FakeGemini:
    def __init__(self, api_key: str = "AIza-fake-key-0123456789", *, embedding_dim: int = 8) -> None:
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.chunk_delay = 0.0
        self.cached_tokens = 0  # reported as cachedContentTokenCount when set
        self.signatures: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle and controls ---------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-gemini", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Gemini did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = int(self._runner.addresses[0][1])
        ready.set()
        loop.run_forever()
        loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"

    def push_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * fault.times)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            return self._requests[-1]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
        self.chunk_delay, self.cached_tokens = 0.0, 0

    # --- handling -------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.path, dict(request.query), headers, body))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "drop_connection":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if fault is not None and fault.kind == "status":
            return json_response(fault.code, error_body(fault.code, fault.status, fault.message, fault.details))
        try:
            self._check_key(request)
            match = _PATH.fullmatch(request.path)
            if request.method != "POST" or match is None:
                raise ApiError(404, "NOT_FOUND", f"Method not found: {request.method} {request.path}")
            if raw and body is None:
                raise bad("Invalid JSON payload received. Unexpected token.")
            model, method = match.group(2), match.group(3)
            if not model.startswith("gemini"):
                raise ApiError(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not "
                               f"supported for {method}. Call ListModels to see the list of available models and "
                               "their supported methods.")  # fmt: skip
            if method == "batchEmbedContents":
                return json_response(200, self._embed(model, body))
            candidates, usage = self._generate(model, as_object(body, ""))
        except ApiError as err:
            return json_response(err.code, err.body)
        reply = {"candidates": candidates, "usageMetadata": usage, "modelVersion": model, "responseId": rid(raw)}
        if not candidates:  # a prompt the safety filters stopped: feedback instead of candidates
            reply["promptFeedback"] = {"blockReason": "SAFETY"}
        if method == "generateContent":
            return json_response(200, {k: v for k, v in reply.items() if v})
        if request.query.get("alt") != "sse":
            raise AssertionError("the fake serves streams as SSE only")
        return await self._stream(request, reply, fault)

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise ApiError(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
                           "established identity). Please use API Key or other form of API consumer identity to "
                           "call this API.")  # fmt: skip
        if key != self.api_key:
            text = "API key not valid. Please pass a valid API key."
            info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"}}  # fmt: skip
            localized = {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": text}
            raise ApiError(400, "INVALID_ARGUMENT", text, [info, localized])

    async def _stream(self, request: web.Request, reply: JSON, fault: Fault | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        events = stream_events(reply)
        if fault is not None and fault.kind == "no_finish":
            for event in events:
                for candidate in event.get("candidates", []):
                    candidate.pop("finishReason", None)
        for number, event in enumerate(events):
            if fault is not None and number == fault.after_events:
                if fault.kind == "cut":
                    await response.write(b'data: {"candidates": [{"content": {"par')
                    assert request.transport is not None
                    request.transport.close()
                    return response
                if fault.kind == "malformed":
                    await response.write(b"data: {not json\r\n\r\n")
                if fault.kind == "stream_error":
                    await response.write(frame(error_body(500, "INTERNAL", Fault.message)))
                    await response.write_eof()
                    return response
            if number and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await response.write(frame(event))
        await response.write_eof()
        return response

    # --- generateContent ------------------------------------------------------------------------------------

    def _generate(self, model: str, body: JSON) -> tuple[list[JSON], JSON]:
        for key in body:
            if key not in _TOP:
                raise unknown(key, "")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise bad("* GenerateContentRequest.contents: contents is not specified\n")
        tools = declarations(body.get("tools"))
        mode, allowed = tool_config(body.get("toolConfig"), tools)
        config = generation_config(body.get("generationConfig"))
        check_contents(model, contents, self.signatures)
        system = as_object(body.get("systemInstruction") or {"parts": [{"text": "x"}]}, "system_instruction")
        for part in system["parts"]:
            if set(part) != {"text"}:
                raise bad("* GenerateContentRequest.system_instruction: only text parts are supported\n")
        last = contents[-1]["parts"]
        text = " ".join(p["text"] for p in last if "text" in p)
        prompt = count_words(contents) + count_words([body.get("systemInstruction") or {}])
        thinking = config.get("thinkingConfig") or {}
        thoughts = "Thinking it over step by step." if thinking.get("includeThoughts") else ""
        candidates, produced = [], 0
        for index in range(int(config.get("candidateCount", 1))):
            parts, finish = self._answer(model, last, text, tools, mode, allowed, config, index)
            produced += sum(len(str(p.get("text") or p.get("functionCall") or "").split()) for p in parts)
            if thoughts and parts:
                parts.insert(0, {"text": thoughts, "thought": True})
            candidate: JSON = {"finishReason": finish, "index": index}
            if parts:
                candidate["content"] = {"parts": parts, "role": "model"}
            candidates.append({k: v for k, v in candidate.items() if v})
        thought_tokens = 6 * len(candidates) if thoughts else 0
        if "BLOCKME" in text:
            candidates, produced = [], 0
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": produced, "thoughtsTokenCount": thought_tokens,
                 "cachedContentTokenCount": min(self.cached_tokens, prompt),
                 "totalTokenCount": prompt + produced + thought_tokens}  # fmt: skip
        return candidates, {k: v for k, v in usage.items() if v}

    def _answer(
        self, model: str, last: list[JSON], text: str, tools: dict[str, JSON], mode: str, allowed: list[str],
        config: JSON, index: int,
    ) -> tuple[list[JSON], str]:  # fmt: skip
        results = [p["functionResponse"] for p in last if "functionResponse" in p]
        mentioned = [name for name in tools if name in text]
        if tools and mode != "NONE" and not results and (mode == "ANY" or mentioned):
            names = allowed or mentioned or [next(iter(tools))]
            parts: list[JSON] = [
                {"functionCall": {"name": n, "args": sample(tools[n].get("parameters") or {})}} for n in names
            ]
            if model.startswith("gemini-3"):
                signature = base64.b64encode(b"\xfb\xff\xbf" + hashlib.sha256(text.encode()).digest()[:12]).decode()
                self.signatures.add(signature)
                parts[0]["thoughtSignature"] = signature
            return parts, "STOP"
        if "UNSAFE" in text:
            return [], "SAFETY"
        if results:
            reply = "Results: " + json.dumps(results, sort_keys=True)
        else:
            images = [p["inlineData"]["mimeType"] for p in last if "inlineData" in p]
            reply = f"I see {len(images)} image(s): {', '.join(images)}." if images else f"Echo: {text}"
        if index:
            reply += f" (variant {index})"
        if config.get("responseMimeType") == "application/json":
            schema = config.get("responseSchema")
            reply = json.dumps(sample(schema) if schema else {"answer": reply})
        finish = "STOP"
        for stop in config.get("stopSequences", []):
            reply = reply.split(stop)[0]
        words = reply.split(" ")
        limit = config.get("maxOutputTokens")
        if limit is not None and len(words) > limit:
            reply, finish = " ".join(words[:limit]), "MAX_TOKENS"
        return [{"text": reply}], finish

    # --- embeddings -----------------------------------------------------------------------------------------

    def _embed(self, model: str, body: Any) -> JSON:
        requests = as_object(body, "").get("requests")
        if not isinstance(requests, list) or not requests or len(requests) > 100:
            raise bad("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n")
        vectors = []
        for i, item in enumerate(requests):
            for key in as_object(item, f"requests[{i}]"):
                if key not in ("model", "content", "taskType", "title", "outputDimensionality"):
                    raise unknown(key, f"requests[{i}]")
            if item.get("model") != f"models/{model}":
                raise bad(f"* BatchEmbedContentsRequest.requests[{i}].model: The model in each of the requests "
                           "must match the model specified in BatchEmbedContentsRequest.model\n")  # fmt: skip
            text = " ".join(p.get("text", "") for p in as_object(item.get("content"), "content").get("parts", []))
            size = int(item.get("outputDimensionality") or self.embedding_dim)
            seed = hashlib.sha256(text.encode()).digest()
            vectors.append({"values": [round((seed[j % 32] - 128) / 128, 6) for j in range(size)]})
        return {"embeddings": vectors}
