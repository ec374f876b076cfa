"""The client side of the failover bench: one chat request to a gateway, and what the client saw.

The classification is gateway-neutral: it looks only at the HTTP status, the body, and for streams at the
server-sent events (content, ``data: [DONE]``, an error event) and at how the response body ended.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

MESSAGES = [{"role": "user", "content": "Tell me something reliable."}]
_local = threading.local()


def _client() -> httpx.Client:
    """One keep-alive client per thread: building an httpx.Client costs milliseconds (its SSL context)."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(trust_env=False)
    return client


# Outcome kinds, from the client's point of view.
OK = "ok"  # plain: 200 with a chat.completion body
COMPLETE = "complete"  # stream: content and data: [DONE], no error event
WRONG_TEXT = "wrong-text"  # stream: [DONE] without an error, but the text is not the upstream's reply
EXPLICIT_ERROR = "explicit-error"  # stream: an error event in the stream, no [DONE]
ERROR_THEN_DONE = "error-then-done"  # stream: an error event, then [DONE] anyway
TRUNCATED = "truncated"  # stream: the body ended cleanly without [DONE] and without an error event
ABORTED = "aborted"  # stream: the connection broke inside the body (no error event, no [DONE])
PASSED_MALFORMED = "passed-malformed"  # stream: a data: line that is not JSON reached the client, no error event
HTTP_ERROR = "http-error"  # a non-200 status
BAD_BODY = "bad-body"  # 200 with a body that is not a chat completion
TIMEOUT = "client-timeout"  # the client gave up waiting
NO_RESPONSE = "no-response"  # no HTTP response at all (connection refused / reset)


@dataclass
class Seen:
    """One request as the client saw it."""

    mode: str  # "plain" or "stream"
    status: int | None
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # parsed JSON (plain, or an error answer); raw text when not JSON
    events: list[str] = field(default_factory=list)  # the data: payloads of a stream, in order
    event_names: list[str] = field(default_factory=list)  # "event:" lines, if the gateway sends any
    text: str = ""  # the assistant text the client received
    error_event: dict[str, Any] | None = None
    done: bool = False
    unparseable_events: int = 0  # data: payloads that were not JSON (a malformed chunk passed through)
    transport_error: str = ""
    timed_out: bool = False
    kind: str = ""
    first_content_s: float | None = None
    last_content_s: float | None = None  # when the last piece of content arrived (for the silence before the end)

    @property
    def error_code(self) -> str:
        """The error's code (or type) from an error body or an error event; "" when there is none."""
        error = self.error_event
        if error is None and isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            error = self.body["error"]
        if not isinstance(error, dict):
            return ""
        for key in ("code", "type"):
            value = error.get(key)
            if value not in (None, ""):
                return str(value)
        return "error"

    @property
    def openai_error_shape(self) -> bool:
        """An error body in OpenAI's format: {"error": {"message", "type", "param", "code"}}."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error)

    def summary(self) -> str:
        code = f" {self.error_code}" if self.error_code and self.error_code != str(self.status) else ""
        if self.kind in (EXPLICIT_ERROR, ERROR_THEN_DONE) and self.error_code:
            code = f" {self.error_code}"
        if self.kind == OK:
            return "200 ok"
        if self.kind == COMPLETE:
            return "200 stream complete"
        if self.kind == WRONG_TEXT:
            return "200 stream [DONE], wrong text"
        if self.kind == EXPLICIT_ERROR:
            return f"200 stream → error event{code}"
        if self.kind == ERROR_THEN_DONE:
            return f"200 stream → error event{code} + [DONE]"
        if self.kind == TRUNCATED:
            return "200 stream silently truncated"
        if self.kind == ABORTED:
            return "200 stream aborted (no error event)"
        if self.kind == PASSED_MALFORMED:
            return f"200 stream with a malformed event{' + [DONE]' if self.done else ''}"
        if self.kind == HTTP_ERROR:
            return f"{self.status}{code}" if self.error_code else f"{self.status} (no JSON error)"
        if self.kind == BAD_BODY:
            return "200 not a chat completion"
        if self.kind == TIMEOUT:
            return f"client timeout {self.seconds:.0f}s"
        return f"no response ({self.transport_error})"

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "outcome": self.kind,
            "summary": self.summary(),
            "status": self.status,
            "seconds": round(self.seconds, 4),
            "first_content_s": None if self.first_content_s is None else round(self.first_content_s, 4),
            "last_content_s": None if self.last_content_s is None else round(self.last_content_s, 4),
            "error_code": self.error_code or None,
            "text": self.text,
            "events": len(self.events),
            "done": self.done,
            "unparseable_events": self.unparseable_events,
            "transport_error": self.transport_error or None,
            "headers": {k: v for k, v in self.headers.items() if k.startswith(("x-switchyard", "x-litellm", "retry"))},
            "body": self.body if self.mode == "plain" or self.status != 200 else None,
        }


def _classify(seen: Seen, reference_text: str | None) -> str:
    if seen.timed_out:
        return TIMEOUT
    if seen.status is None:
        return NO_RESPONSE
    if seen.status != 200:
        return HTTP_ERROR
    if seen.mode == "plain":
        choices = seen.body.get("choices") if isinstance(seen.body, dict) else None
        return OK if isinstance(choices, list) and choices else BAD_BODY
    if seen.error_event is not None:
        return ERROR_THEN_DONE if seen.done else EXPLICIT_ERROR
    if seen.unparseable_events:
        return PASSED_MALFORMED
    if seen.done:
        return COMPLETE if reference_text is None or seen.text == reference_text else WRONG_TEXT
    return ABORTED if seen.transport_error else TRUNCATED


def _data_payload(line: str) -> str | None:
    if line.startswith("data:"):
        return line[5:].removeprefix(" ")
    return None


def chat(
    base_url: str,
    model: str,
    stream: bool = False,
    timeout: float = 12.0,
    headers: dict[str, str] | None = None,
    reference_text: str | None = None,
    **body: Any,
) -> Seen:
    """POST /v1/chat/completions and record what came back. Never raises for HTTP or network trouble."""
    payload: dict[str, Any] = {"model": model, "messages": MESSAGES, **body}
    if stream:
        payload["stream"] = True
    seen = Seen("stream" if stream else "plain", None, 0.0)
    started = time.perf_counter()
    hard_deadline = started + timeout
    limits = httpx.Timeout(timeout, connect=3.0)
    try:
        url = f"{base_url}/v1/chat/completions"
        with _client().stream("POST", url, json=payload, headers=headers, timeout=limits) as response:
            seen.status = response.status_code
            seen.headers = {k.lower(): v for k, v in response.headers.items()}
            is_sse = "text/event-stream" in seen.headers.get("content-type", "")
            if not stream or response.status_code != 200 or not is_sse:
                raw = response.read()
                try:
                    seen.body = json.loads(raw)
                except ValueError:
                    seen.body = raw.decode(errors="replace")[:500]
                if stream and response.status_code == 200:
                    seen.transport_error = "200 without text/event-stream"
            else:
                _read_events(seen, response, started, hard_deadline)
    except httpx.TimeoutException:
        seen.timed_out = True
    except httpx.HTTPError as exc:
        seen.transport_error = f"{type(exc).__name__}"
    seen.seconds = time.perf_counter() - started
    seen.kind = _classify(seen, reference_text)
    return seen


def _read_events(seen: Seen, response: httpx.Response, started: float, hard_deadline: float) -> None:
    parts: list[str] = []
    try:
        for line in response.iter_lines():
            if time.perf_counter() > hard_deadline:
                seen.timed_out = True
                return
            if line.startswith("event:"):
                seen.event_names.append(line[6:].strip())
                continue
            data = _data_payload(line)
            if data is None:
                continue
            seen.events.append(data)
            if data.strip() == "[DONE]":
                seen.done = True
                continue
            try:
                event = json.loads(data)
            except ValueError:
                seen.unparseable_events += 1
                continue
            if not isinstance(event, dict):
                seen.unparseable_events += 1
                continue
            if "error" in event or (seen.event_names and seen.event_names[-1] == "error"):
                error = event.get("error", event)
                seen.error_event = error if isinstance(error, dict) else {"message": str(error)}
                continue
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    seen.last_content_s = time.perf_counter() - started
                    if seen.first_content_s is None:
                        seen.first_content_s = seen.last_content_s
                parts.append(piece)
    except httpx.TimeoutException:
        seen.timed_out = True
    except httpx.HTTPError as exc:
        seen.transport_error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        seen.text = "".join(parts)
