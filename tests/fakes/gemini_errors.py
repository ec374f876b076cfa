"""The fake Gemini API's errors: Google's ``{"error": {"code", "message", "status", "details"?}}`` bodies, the
exception its checks raise, and the faults a test injects (with canned ones for the common failures)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]
FaultKind = Literal["status", "cut", "malformed", "stream_error", "no_finish", "drop_connection"]


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str, details: list[JSON] | None = None) -> None:
        super().__init__(message)
        self.code, self.body = code, error_body(code, status, message, details)


def error_body(code: int, status: str, message: str, details: list[JSON] | None = None) -> JSON:
    error: JSON = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def unknown(name: str, where: str) -> ApiError:
    at = f" at '{where}'" if where else ""
    return bad(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')


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
