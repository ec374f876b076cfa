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
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

JSON = dict[str, Any]
FaultKind = Literal["status", "cut", "malformed", "stream_error", "no_finish", "drop_connection"]

_PATH = re.compile(r"/(v1beta|v1)/models/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)")
_TOP = {"contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig", "cachedContent"}
_GENERATION = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount", "maxOutputTokens",
    "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs",
    "thinkingConfig", "responseModalities", "mediaResolution",
}  # fmt: skip
_PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode"}
_PART_META = {"thought", "thoughtSignature", "codeExecutionResult"}
_SCHEMA = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
    "default", "items", "minimum", "maximum",
}  # fmt: skip
_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}
SKIP_SIGNATURE = "skip_thought_signature_validator"


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str, details: list[JSON] | None = None) -> None:
        super().__init__(message)
        self.code, self.body = code, error_body(code, status, message, details)


def error_body(code: int, status: str, message: str, details: list[JSON] | None = None) -> JSON:
    error: JSON = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def _unknown(name: str, where: str) -> ApiError:
    at = f" at '{where}'" if where else ""
    return _bad(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')


@dataclass
class Fault:
    """One injected failure for the next ``times`` requests; stream kinds act after ``after_events`` events."""

    kind: FaultKind
    code: int = 500
    status: str = "INTERNAL"
    message: str = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
    details: list[JSON] = field(default_factory=list)
    after_events: int = 0
    times: int = 1

    @classmethod
    def rate_limit(cls, retry_delay: str = "30s") -> Fault:
        quota = {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}  # fmt: skip
        details: list[JSON] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [quota]},
            {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ]  # fmt: skip
        text = ("You exceeded your current quota, please check your plan and billing details. For more information "
                "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")  # fmt: skip
        return cls("status", 429, "RESOURCE_EXHAUSTED", text, details)

    @classmethod
    def error(cls, code: int, status: str, message: str) -> Fault:
        return cls("status", code, status, message)


CANNED = {
    "internal": Fault.error(500, "INTERNAL", Fault.message),
    "overloaded": Fault.error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "deadline": Fault.error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
    "context": Fault.error(400, "INVALID_ARGUMENT",
                           "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."),
    "precondition": Fault.error(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
}  # fmt: skip


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
            return _json(fault.code, error_body(fault.code, fault.status, fault.message, fault.details))
        try:
            self._check_key(request)
            match = _PATH.fullmatch(request.path)
            if request.method != "POST" or match is None:
                raise ApiError(404, "NOT_FOUND", f"Method not found: {request.method} {request.path}")
            if raw and body is None:
                raise _bad("Invalid JSON payload received. Unexpected token.")
            model, method = match.group(2), match.group(3)
            if not model.startswith("gemini"):
                raise ApiError(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not "
                               f"supported for {method}. Call ListModels to see the list of available models and "
                               "their supported methods.")  # fmt: skip
            if method == "batchEmbedContents":
                return _json(200, self._embed(model, body))
            candidates, usage = self._generate(model, _object(body, ""))
        except ApiError as err:
            return _json(err.code, err.body)
        reply = {"candidates": candidates, "usageMetadata": usage, "modelVersion": model, "responseId": _rid(raw)}
        if not candidates:  # a prompt the safety filters stopped: feedback instead of candidates
            reply["promptFeedback"] = {"blockReason": "SAFETY"}
        if method == "generateContent":
            return _json(200, {k: v for k, v in reply.items() if v})
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
        events = _stream_events(reply)
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
                    await response.write(_frame(error_body(500, "INTERNAL", Fault.message)))
                    await response.write_eof()
                    return response
            if number and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await response.write(_frame(event))
        await response.write_eof()
        return response

    # --- generateContent ------------------------------------------------------------------------------------

    def _generate(self, model: str, body: JSON) -> tuple[list[JSON], JSON]:
        for key in body:
            if key not in _TOP:
                raise _unknown(key, "")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise _bad("* GenerateContentRequest.contents: contents is not specified\n")
        tools = _declarations(body.get("tools"))
        mode, allowed = _tool_config(body.get("toolConfig"), tools)
        config = _generation_config(body.get("generationConfig"))
        self._check_contents(model, contents)
        for part in _object(body.get("systemInstruction") or {"parts": [{"text": "x"}]}, "system_instruction")["parts"]:
            if set(part) != {"text"}:
                raise _bad("* GenerateContentRequest.system_instruction: only text parts are supported\n")
        last = contents[-1]["parts"]
        text = " ".join(p["text"] for p in last if "text" in p)
        prompt = _count_words(contents) + _count_words([body.get("systemInstruction") or {}])
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

    def _check_contents(self, model: str, contents: list[Any]) -> None:
        previous: JSON | None = None
        for i, content in enumerate(contents):
            content = _object(content, f"contents[{i}]")
            if content.get("role") not in ("user", "model"):
                raise _bad("Please use a valid role: user, model.")
            if previous is not None and previous["role"] == content["role"]:
                raise _bad("Please ensure that multiturn requests alternate between user and model.")
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                raise _bad(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n")
            for j, part in enumerate(parts):
                _check_part(_object(part, f"contents[{i}].parts[{j}]"), content["role"], f"contents[{i}].parts[{j}]")
            calls = [p for p in parts if "functionCall" in p]
            if calls and model.startswith("gemini-3") and calls[0].get("thoughtSignature") is None:
                name = calls[0]["functionCall"]["name"]
                raise _bad(f"Function call is missing a thought_signature in functionCall parts. This is required for "
                           f"tools to work correctly, and missing thought_signature may lead to degraded model "
                           f"performance. Additional data, function call `default_api:{name}` , position {i + 1}. "
                           "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                           "details.")  # fmt: skip
            for call in calls:
                signature = call.get("thoughtSignature")
                if signature is not None and signature != SKIP_SIGNATURE and signature not in self.signatures:
                    raise _bad("Corrupted thought signature.")
            answers = sum("functionResponse" in p for p in parts)
            if answers and (previous is None or answers != sum("functionCall" in p for p in previous["parts"])):
                raise _bad("Please ensure that the number of function response parts is equal to the number of "
                           "function call parts of the function call turn.")  # fmt: skip
            previous = content

    def _answer(
        self, model: str, last: list[JSON], text: str, tools: dict[str, JSON], mode: str, allowed: list[str],
        config: JSON, index: int,
    ) -> tuple[list[JSON], str]:  # fmt: skip
        results = [p["functionResponse"] for p in last if "functionResponse" in p]
        mentioned = [name for name in tools if name in text]
        if tools and mode != "NONE" and not results and (mode == "ANY" or mentioned):
            names = allowed or mentioned or [next(iter(tools))]
            parts: list[JSON] = [
                {"functionCall": {"name": n, "args": _sample(tools[n].get("parameters") or {})}} for n in names
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
            reply = json.dumps(_sample(schema) if schema else {"answer": reply})
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
        requests = _object(body, "").get("requests")
        if not isinstance(requests, list) or not requests or len(requests) > 100:
            raise _bad("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n")
        vectors = []
        for i, item in enumerate(requests):
            for key in _object(item, f"requests[{i}]"):
                if key not in ("model", "content", "taskType", "title", "outputDimensionality"):
                    raise _unknown(key, f"requests[{i}]")
            if item.get("model") != f"models/{model}":
                raise _bad(f"* BatchEmbedContentsRequest.requests[{i}].model: The model in each of the requests "
                           "must match the model specified in BatchEmbedContentsRequest.model\n")  # fmt: skip
            text = " ".join(p.get("text", "") for p in _object(item.get("content"), "content").get("parts", []))
            size = int(item.get("outputDimensionality") or self.embedding_dim)
            seed = hashlib.sha256(text.encode()).digest()
            vectors.append({"values": [round((seed[j % 32] - 128) / 128, 6) for j in range(size)]})
        return {"embeddings": vectors}


# --- request checks -------------------------------------------------------------------------------------------


def _object(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise _bad(f"Invalid value at '{where}': expected an object")
    return value


def _check_part(part: JSON, role: str, where: str) -> None:
    for key in part:
        if key not in _PART_DATA | _PART_META:
            raise _unknown(key, where)
    data = [key for key in part if key in _PART_DATA]
    if len(data) != 1:
        raise _bad(f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized "
                   "field")  # fmt: skip
    if "functionCall" in part and (role != "model" or not isinstance(part["functionCall"].get("args", {}), dict)):
        raise _bad(f"* GenerateContentRequest.{where}: function calls belong to model turns, with object args")
    answer = part.get("functionResponse")
    if answer is not None and (role != "user" or not isinstance(answer.get("response"), dict)):
        raise _bad(f"* GenerateContentRequest.{where}: function responses belong to user turns, as objects")
    inline = part.get("inlineData")
    if inline is not None:
        if set(inline) != {"mimeType", "data"}:
            raise _bad(f"* GenerateContentRequest.{where}.inline_data: mimeType and data are required")
        base64.b64decode(inline["data"], validate=True)


def _declarations(tools: Any) -> dict[str, JSON]:
    found: dict[str, JSON] = {}
    for i, tool in enumerate(tools or []):
        for j, declaration in enumerate(_object(tool, f"tools[{i}]").get("functionDeclarations", [])):
            where = f"tools[{i}].function_declarations[{j}]"
            for key in declaration:
                if key not in ("name", "description", "parameters", "parametersJsonSchema", "response", "behavior"):
                    raise _unknown(key, where)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", str(declaration.get("name", ""))):
                raise _bad(f"* GenerateContentRequest.{where}.name: Invalid function name.")
            if "parameters" in declaration:
                _check_schema(declaration["parameters"], f"{where}.parameters")
            found[declaration["name"]] = declaration
    return found


def _check_schema(schema: Any, where: str) -> None:
    for key in _object(schema, where):
        if key not in _SCHEMA:
            raise _unknown(key, where)
    kind = str(schema.get("type", "TYPE_UNSPECIFIED")).upper()
    if "type" in schema and kind not in _TYPES:
        raise _bad(f"Invalid value at '{where}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "
                   f"\"{schema['type']}\"")  # fmt: skip
    if kind == "OBJECT" and schema.get("properties") == {}:
        raise _bad(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type\n")
    if "format" in schema and schema["format"] not in _FORMATS.get(kind, ()):
        raise _bad(f"* GenerateContentRequest.{where}.format: only 'enum' and 'date-time' are supported for STRING "
                   "type\n")  # fmt: skip
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.properties[{name}].value")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for n, sub in enumerate(schema.get("anyOf", [])):
        _check_schema(sub, f"{where}.any_of[{n}]")


def _tool_config(config: Any, tools: dict[str, JSON]) -> tuple[str, list[str]]:
    calling = _object(config or {}, "tool_config").get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    if mode not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        raise _bad(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")
    allowed = calling.get("allowedFunctionNames") or []
    if allowed and mode != "ANY":
        raise _bad("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                   "allowed_function_names should only be set when the Function calling mode is ANY.\n")  # fmt: skip
    if any(name not in tools for name in allowed):
        raise _bad("* GenerateContentRequest.tool_config: allowed_function_names must name declared functions\n")
    return mode, allowed


def _generation_config(value: Any) -> JSON:
    config = _object(value or {}, "generation_config")
    for key in config:
        if key not in _GENERATION:
            raise _unknown(key, "generation_config")
    if not 1 <= config.get("candidateCount", 1) <= 8:
        raise _bad("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8\n")
    if not 0 <= config.get("temperature", 1) <= 2:
        raise _bad("* GenerateContentRequest.generation_config.temperature: must be in [0.0, 2.0]\n")
    if len(config.get("stopSequences", [])) > 5:
        raise _bad("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences\n")
    if "responseSchema" in config:
        if config.get("responseMimeType") != "application/json":
            raise _bad("* GenerateContentRequest.generation_config.response_mime_type: must be application/json "
                       "when response_schema is set\n")  # fmt: skip
        _check_schema(config["responseSchema"], "generation_config.response_schema")
    thinking = config.get("thinkingConfig") or {}
    for key in thinking:
        if key not in ("includeThoughts", "thinkingBudget", "thinkingLevel"):
            raise _unknown(key, "generation_config.thinking_config")
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        raise _bad("You can only set one of thinking budget and thinking level.")
    return config


# --- replies --------------------------------------------------------------------------------------------------


def _sample(schema: JSON) -> Any:
    kind = str(schema.get("type", "OBJECT")).upper()
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "OBJECT":
        return {name: _sample(sub) for name, sub in (schema.get("properties") or {}).items()}
    return {"STRING": "example", "NUMBER": 1.5, "INTEGER": 1, "BOOLEAN": True, "ARRAY": []}.get(kind)


def _count_words(contents: list[Any]) -> int:
    return sum(len(str(p.get("text", "x")).split()) for c in contents for p in (c.get("parts") or []))


def _rid(raw: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode()


def _stream_events(reply: JSON) -> list[JSON]:
    """Text arrives two words an event, a function call whole; the last event of a candidate finishes it."""
    events: list[JSON] = []
    meta = {"modelVersion": reply["modelVersion"], "responseId": reply["responseId"]}
    prompt = {"promptTokenCount": reply["usageMetadata"].get("promptTokenCount", 0)}
    for candidate in reply["candidates"]:
        pieces: list[JSON] = []
        for part in candidate.get("content", {}).get("parts", []):
            if "text" in part and not part.get("thought"):
                words = part["text"].split(" ")
                pieces += [{"text": " ".join(words[i : i + 2]) + (" " if i + 2 < len(words) else "")}
                           for i in range(0, len(words), 2)]  # fmt: skip
            else:
                pieces.append(part)
        for n, piece in enumerate(pieces or [None]):
            out: JSON = {"index": candidate.get("index", 0)}
            if piece is not None:
                out["content"] = {"parts": [piece], "role": "model"}
            if n == len(pieces or [None]) - 1:
                out["finishReason"] = candidate["finishReason"]
            events.append({"candidates": [{k: v for k, v in out.items() if v}], "usageMetadata": prompt, **meta})
    if not events:  # a blocked prompt: one event with the feedback and no candidates
        events.append({"promptFeedback": reply["promptFeedback"], "usageMetadata": prompt, **meta})
    events[-1]["usageMetadata"] = reply["usageMetadata"]
    return events


def _frame(event: JSON) -> bytes:
    return b"data: " + json.dumps(event).encode() + b"\r\n\r\n"


def _json(status: int, body: JSON) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json", charset="UTF-8")
