"""The documented error tree.

Every failure the gateway can report is one of these classes. Each carries a stable ``code``, the HTTP
status it is served with, the OpenAI error ``type``, and two flags the executor reads to decide what to do
next: ``retryable`` (the same deployment may succeed on another try) and ``allow_fallback`` (another
deployment may succeed). Fallback is decided by these flags, never by matching error text.

Transport and provider errors are translated into this tree once, where they happen; the server turns
them into the OpenAI error envelope once, at the edge.
"""

from __future__ import annotations


class SwitchyardError(Exception):
    """Base of every error the gateway reports to a client."""

    status: int = 500
    code: str = "internal_error"
    type: str = "api_error"
    retryable: bool = False
    allow_fallback: bool = False
    # Which fallback chain of a model group applies (see config Fallbacks); None: only the default chain.
    fallback_class: str | None = None
    # Whether this failure says something about the deployment's health (the caller's mistakes do not).
    counts_against_health: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        # Seconds the caller (or our executor) should wait before trying again, from Retry-After.
        self.retry_after = retry_after
        # Extra response headers that belong to this error (e.g. rate-limit state).
        self.headers = headers or {}


# --- the caller's fault (4xx): never retried, never failed over -------------------------------------------


class InvalidRequestError(SwitchyardError):
    status = 400
    code = "invalid_request"
    type = "invalid_request_error"


class AuthenticationError(SwitchyardError):
    status = 401
    code = "invalid_api_key"
    type = "authentication_error"


class PermissionDeniedError(SwitchyardError):
    status = 403
    code = "permission_denied"
    type = "permission_error"


class ModelNotAllowedError(PermissionDeniedError):
    """The caller's key (or its team) may not use this model group."""

    code = "model_not_allowed"


class ConflictError(SwitchyardError):
    """The admin API refused a duplicate: a key alias, team name or user email already in use."""

    status = 409
    code = "conflict"
    type = "invalid_request_error"


class NotFoundError(SwitchyardError):
    status = 404
    code = "not_found"
    type = "invalid_request_error"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class MethodNotAllowedError(SwitchyardError):
    status = 405
    code = "method_not_allowed"
    type = "invalid_request_error"


class PayloadTooLargeError(SwitchyardError):
    status = 413
    code = "request_too_large"
    type = "invalid_request_error"


class UnsupportedMediaTypeError(SwitchyardError):
    status = 415
    code = "unsupported_media_type"
    type = "invalid_request_error"


class RateLimitError(SwitchyardError):
    """The gateway's own limits refused the request (the upstream's 429 is UpstreamRateLimitError)."""

    status = 429
    code = "rate_limit_exceeded"
    type = "rate_limit_error"


class BudgetExceededError(SwitchyardError):
    """A key's or team's budget for the period is spent; served as OpenAI serves an exhausted quota."""

    status = 429
    code = "budget_exceeded"
    type = "insufficient_quota"


class LimitsUnavailableError(SwitchyardError):
    """The shared rate-limit store is down and ``limits.redis_failure`` is ``closed``."""

    status = 503
    code = "limits_unavailable"
    type = "api_error"


class StoreUnavailableError(SwitchyardError):
    """A database the admin API reads (request logs, spend) did not answer; requests are still served."""

    status = 503
    code = "store_unavailable"
    type = "api_error"


# --- an upstream's fault: the executor may retry or fail over ------------------------------------------------


class UpstreamError(SwitchyardError):
    """An upstream answered with a failure or something we could not understand."""

    status = 502
    code = "upstream_error"
    type = "api_error"
    retryable = True
    allow_fallback = True
    fallback_class: str | None = "server_error"
    counts_against_health = True


class UpstreamBadRequestError(UpstreamError):
    """The upstream rejected the request as invalid: the same body fails everywhere, so no retry."""

    status = 400
    code = "upstream_bad_request"
    type = "invalid_request_error"
    retryable = False
    allow_fallback = False
    fallback_class = None
    counts_against_health = False


class UpstreamAuthError(UpstreamError):
    """The gateway's credentials for a deployment were refused: an operator problem, another one may work."""

    status = 502
    code = "upstream_auth_error"
    retryable = False
    allow_fallback = True


class UpstreamNotFoundError(UpstreamError):
    """The deployment names a model or resource this upstream does not have: another may, a retry will not."""

    code = "upstream_not_found"
    retryable = False


class UpstreamRateLimitError(UpstreamError):
    status = 429
    code = "upstream_rate_limited"
    type = "rate_limit_error"
    fallback_class = "rate_limit"
    # A 429 is the deployment pacing us, not failing: it cools down for Retry-After instead.
    counts_against_health = False


class ContextWindowExceededError(UpstreamError):
    status = 400
    code = "context_length_exceeded"
    type = "invalid_request_error"
    retryable = False
    # A larger-context deployment may still serve it.
    allow_fallback = True
    fallback_class = "context_window"
    counts_against_health = False


class ContentPolicyError(UpstreamError):
    status = 400
    code = "content_policy_violation"
    type = "invalid_request_error"
    retryable = False
    allow_fallback = True
    fallback_class = "content_policy"
    counts_against_health = False


class UpstreamUnavailableError(UpstreamError):
    """Connection refused, reset, or the upstream said it is overloaded."""

    status = 503
    code = "upstream_unavailable"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    code = "upstream_timeout"
    fallback_class = "timeout"


class NoHealthyDeploymentError(UpstreamError):
    """Every deployment of the group is cooling down or behind an open breaker."""

    status = 503
    code = "no_healthy_deployment"
    retryable = False
    counts_against_health = False


class NoCapableDeploymentError(SwitchyardError):
    """No deployment of the group can serve this request (tools, images, JSON schema)."""

    status = 400
    code = "unsupported_by_model_group"
    type = "invalid_request_error"
    allow_fallback = True


class StreamInterruptedError(UpstreamError):
    """The upstream stream broke after bytes had reached the client; reported in-band, never retried."""

    status = 502
    code = "stream_interrupted"
    retryable = False
    allow_fallback = False
    fallback_class = None


class ConfigError(Exception):
    """The configuration is invalid. ``path`` names the offending key (e.g. ``model_groups.gpt.deployments[0]``)."""

    def __init__(self, path: str, message: str, fix: str | None = None) -> None:
        self.path = path
        self.message = message
        self.fix = fix
        text = f"{path}: {message}" if path else message
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)
