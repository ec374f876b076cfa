"""OpenAI error bodies: ``{"error": {"message", "type", "param", "code"}}``, as the API returns them.

Messages, types and codes follow the API's error-codes guide and bodies quoted in public issue threads
(e.g. 429 ``type: "requests"`` + ``code: "rate_limit_exceeded"``; 503 "The server is overloaded or not
ready yet."; 400 ``context_length_exceeded`` with ``param: "messages"``; ``invalid_prompt``).
"""

from __future__ import annotations

from typing import Any, Literal

JSON = dict[str, Any]
ORGANIZATION = "org-fakeupstream"


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def mask_key(key: str) -> str:
    """Mask an API key the way the API echoes it: first 8 and last 4 characters kept."""
    if len(key) > 12:
        return key[:8] + "*" * (len(key) - 12) + key[-4:]
    if len(key) > 5:
        return key[:3] + "*" * (len(key) - 5) + key[-2:]
    return "*" * len(key)


def invalid_api_key(key: str) -> JSON:
    return error_body(
        f"Incorrect API key provided: {mask_key(key)}. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        code="invalid_api_key",
    )


def missing_api_key() -> JSON:
    # The API answers a missing key with this message and a null code (not "invalid_api_key").
    return error_body(
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
        "username) if you're accessing the API from your browser and are prompted for a username and "
        "password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
    )


def model_not_found(model: str) -> JSON:
    return error_body(
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
    )


def model_not_found_retrieve(model: str) -> JSON:
    """GET /v1/models/{id} for an unknown id."""
    return error_body(f"The model '{model}' does not exist", "invalid_request_error", "model", "model_not_found")


def invalid_url(method: str, path: str) -> JSON:
    return error_body(f"Invalid URL ({method} {path})", "invalid_request_error")


def invalid_json() -> JSON:
    return error_body(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
        "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
        "JSON. If you have trouble figuring out how to fix this, please contact us through our help "
        "center at help.openai.com.)",
        "invalid_request_error",
    )


def context_length_exceeded(limit: int, prompt: int, completion: int | None) -> JSON:
    if completion:
        detail = (
            f"However, you requested {prompt + completion} tokens ({prompt} in the messages, {completion} "
            "in the completion). Please reduce the length of the messages or completion."
        )
    else:
        detail = f"However, your messages resulted in {prompt} tokens. Please reduce the length of the messages."
    return error_body(
        f"This model's maximum context length is {limit} tokens. {detail}",
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
    )


def rate_limit_exceeded(model: str, limit: Literal["requests", "tokens"], retry_after: float) -> JSON:
    # Note the odd but real shape: ``type`` names the exhausted limit ("requests" or "tokens").
    if limit == "requests":
        per_min = "requests per min (RPM): Limit 3, Used 3, Requested 1"
    else:
        per_min = "tokens per min (TPM): Limit 30000, Used 29937, Requested 385"
    return error_body(
        f"Rate limit reached for {model} in organization {ORGANIZATION} on {per_min}. Please try again in "
        f"{format_duration(retry_after)}. Visit https://platform.openai.com/account/rate-limits to learn more.",
        limit,
        code="rate_limit_exceeded",
    )


def insufficient_quota() -> JSON:
    return error_body(
        "You exceeded your current quota, please check your plan and billing details. For more information "
        "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        code="insufficient_quota",
    )


def server_error() -> JSON:
    return error_body("The server had an error while processing your request. Sorry about that!", "server_error")


def overloaded() -> JSON:
    return error_body("The server is overloaded or not ready yet.", "server_error")


def content_policy_violation() -> JSON:
    return error_body(
        "Your request was rejected as a result of our safety system. Your prompt may contain text that is "
        "not allowed by our safety system.",
        "invalid_request_error",
        code="content_policy_violation",
    )


def invalid_prompt() -> JSON:
    return error_body(
        "Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please try "
        "again with a different prompt: https://platform.openai.com/docs/guides/reasoning#advice-on-prompting",
        "invalid_request_error",
        code="invalid_prompt",
    )


CannedError = Literal[
    "rate_limit_requests",
    "rate_limit_tokens",
    "insufficient_quota",
    "server_error",
    "overloaded",
    "context_length_exceeded",
    "content_policy_violation",
    "invalid_prompt",
    "invalid_api_key",
    "model_not_found",
]

DEFAULT_ERROR_FOR_STATUS: dict[int, CannedError] = {
    400: "content_policy_violation",
    401: "invalid_api_key",
    404: "model_not_found",
    429: "rate_limit_requests",
    500: "server_error",
    502: "server_error",
    503: "overloaded",
}


def canned_error(name: CannedError, *, model: str, retry_after: float) -> JSON:
    """Error body by name, for fault injection."""
    if name == "rate_limit_requests":
        return rate_limit_exceeded(model, "requests", retry_after)
    if name == "rate_limit_tokens":
        return rate_limit_exceeded(model, "tokens", retry_after)
    if name == "context_length_exceeded":
        return context_length_exceeded(128000, 130000, None)
    if name == "invalid_api_key":
        return invalid_api_key("sk-revoked-0000000000000000")
    if name == "model_not_found":
        return model_not_found(model)
    builders = {
        "insufficient_quota": insufficient_quota,
        "server_error": server_error,
        "overloaded": overloaded,
        "content_policy_violation": content_policy_violation,
        "invalid_prompt": invalid_prompt,
    }
    return builders[name]()


def format_duration(seconds: float) -> str:
    """Go-style duration as in ``x-ratelimit-reset-*`` headers: "12ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"
