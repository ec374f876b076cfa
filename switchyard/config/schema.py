"""The configuration schema: one strict pydantic tree.

Unknown keys are rejected so that a typo fails at start-up instead of being silently ignored. Secrets are
``SecretStr`` so they never show in a repr, a log line or an error message. Which provider names exist is
checked against the provider registry by the composition root, since config sits below providers.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from switchyard.config.cache import CacheSettings, GroupCacheSettings
from switchyard.config.limits import BudgetSettings, LimitsSettings, RateLimits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(_Strict):
    """USD per million tokens, and per request."""

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)
    cached_input_per_mtok: float | None = Field(None, ge=0, description="cache reads; default: the input price")
    cache_write_per_mtok: float | None = Field(None, ge=0, description="cache writes; default: the input price")
    reasoning_per_mtok: float | None = Field(None, ge=0, description="reasoning tokens; default: the output price")
    per_request: float = Field(0.0, ge=0)


class Simulation(_Strict):
    """How the built-in demo provider behaves: latency and reply length, so it can stand in for a model."""

    latency_ms: float = Field(0.0, ge=0, description="delay before the first byte")
    inter_chunk_ms: float = Field(0.0, ge=0, description="delay between streamed chunks")
    reply_words: int = Field(24, ge=1, le=4096, description="length of the reply in words")
    embedding_dimensions: int = Field(256, ge=1, le=8192)


class Capabilities(_Strict):
    """What a deployment can serve; requests that need more are routed elsewhere."""

    tools: bool = True
    vision: bool = True
    json_schema: bool = True


class Deployment(_Strict):
    """One upstream model at one provider: the unit the router chooses between."""

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1, description="the model name the upstream expects")
    id: str | None = Field(None, description="stable name in headers and logs; defaults to GROUP/INDEX")
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    # Azure: a Microsoft Entra ID bearer token instead of an api-key.
    azure_ad_token: SecretStr | None = None
    # AWS (Bedrock): region and credentials, written as os.environ/AWS_... references (or an api_key bearer).
    aws_region: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    weight: float = Field(1.0, gt=0)
    priority: int = 0
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    max_concurrency: int | None = Field(None, gt=0, description="hard cap on this deployment's requests in flight")
    timeout_s: float | None = Field(None, gt=0)
    connect_timeout_s: float | None = Field(None, gt=0)
    max_connections: int = Field(256, gt=0)
    context_window: int | None = Field(None, gt=0)
    max_output_tokens: int | None = Field(None, gt=0, description="default max tokens where a provider needs one")
    prices: Prices | None = None
    capabilities: Capabilities = Field(default_factory=Capabilities)
    simulate: Simulation | None = None

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("api_base must be an http(s) URL such as https://api.openai.com/v1")
        if parts.username is not None or parts.password is not None:
            # a secret in the URL would reach logs and error messages that quote the upstream address
            raise ValueError("api_base must not carry credentials (user:password@); put them in api_key or headers")
        return value.rstrip("/")


Strategy = Literal[
    "weighted", "ordered", "round_robin", "least_in_flight", "lowest_latency", "lowest_cost", "usage_based"
]


class Fallbacks(_Strict):
    """Groups to try, in order, once a group's own deployments failed; per error class, else ``default``."""

    default: list[str] = Field(default_factory=list)
    rate_limit: list[str] | None = None
    server_error: list[str] | None = None
    timeout: list[str] | None = None
    context_window: list[str] | None = None
    content_policy: list[str] | None = None

    def all_groups(self) -> set[str]:
        names = set(self.default)
        for chain in (self.rate_limit, self.server_error, self.timeout, self.context_window, self.content_policy):
            names |= set(chain or ())
        return names


class BreakerSettings(_Strict):
    enabled: bool = True
    consecutive_failures: int = Field(5, ge=1)
    error_rate: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(20, ge=1, description="attempts in the window before the error rate counts")
    window_s: int = Field(30, ge=1)
    cooldown_s: float = Field(30.0, gt=0, description="how long an open breaker waits before a probe")
    max_cooldown_s: float = Field(300.0, gt=0, description="cooldown doubles after each failed probe, up to this")


class RetryBudget(_Strict):
    """Retries of a deployment may be at most ``ratio`` of its recent attempts (plus a small floor)."""

    ratio: float = Field(0.2, ge=0, le=1)
    min_per_window: int = Field(10, ge=0)


class HedgeSettings(_Strict):
    enabled: bool = False
    quantile: float = Field(0.95, gt=0, lt=1, description="hedge once the wait passes this quantile of first bytes")
    min_samples: int = Field(20, ge=1, description="observations needed before the quantile is trusted")
    delay_s: float | None = Field(None, gt=0, description="a fixed hedge delay instead of the quantile")


class HealthChecks(_Strict):
    """Active checks: while a breaker is open, probe the deployment's cheap health endpoint."""

    enabled: bool = False
    interval_s: float = Field(15.0, gt=0)


class CascadeSettings(_Strict):
    """Cascade routers: call members cheapest first; accept an answer whose learned score reaches the threshold."""

    scorer_path: str | None = Field(None, description="answer scorer file (.npz); required for kind cascade")
    thresholds: list[float] = Field(default_factory=list, description="one per member but the last")
    stream: Literal["buffer", "bypass"] = Field("buffer", description="streams: buffer the cheap answer, or skip")
    escalate_share: float | None = Field(
        None, ge=0, le=1, description="live: each member but the last passes on this share of its answers"
    )


class RouterSpec(_Strict):
    """A router model group: picks one of its member groups per request (see docs/routing.md)."""

    kind: Literal["learned", "cascade", "length", "random"]
    members: list[str] = Field(min_length=2, description="member model groups, cheapest first")
    model_path: str | None = Field(None, description="learned router file (.npz); default: the shipped router")
    strong_share: float | None = Field(None, ge=0, le=1, description="two members: target share of strong calls")
    calibration: Literal["live", "file"] = Field(
        "live", description="two members: take the share's threshold from recent traffic, or from the file's prompts"
    )
    # Each decision inserts into a sorted list of this size: 100k keeps that under ~20 microseconds.
    calibration_window: int = Field(2000, ge=10, le=100_000, description="live: recent scores the threshold uses")
    calibration_warmup: int = Field(200, ge=1, description="live: scores seen before the file's threshold is replaced")
    calibration_scope: Literal["group", "team", "key"] = Field(
        "group", description="live: one window for the group, or one per caller's team or key (the share per caller)"
    )
    cost_weight: float | None = Field(None, ge=0, description="many members: maximise quality - weight x cost")
    member_models: dict[str, str] = Field(default_factory=dict, description="member -> model column in the file")
    shadow: bool = Field(False, description="serve `serve` (default: the last member), log the learned choice")
    serve: str | None = None
    seed: int | None = None
    cascade: CascadeSettings = Field(default_factory=CascadeSettings)

    @model_validator(mode="after")
    def _scope_needs_a_live_share(self) -> RouterSpec:
        if self.calibration_scope != "group" and (
            self.calibration == "file" or self.kind in ("random", "cascade") or self.cost_weight is not None
        ):
            raise ValueError(
                "calibration_scope applies to live calibration of strong_share in learned and length groups "
                "(not with calibration: file, cost_weight, random or cascade)"
            )
        return self

    @model_validator(mode="after")
    def _warmup_fits_window(self) -> RouterSpec:
        if self.calibration_warmup > self.calibration_window:
            raise ValueError(
                f"calibration_warmup ({self.calibration_warmup}) cannot exceed calibration_window "
                f"({self.calibration_window})"
            )
        return self


class ModelGroup(_Strict):
    """A name clients ask for, served by one or more interchangeable deployments (or, with ``router``, by
    the member groups a router chooses between)."""

    router: RouterSpec | None = None  # before deployments, so that their validator can see it
    deployments: list[Deployment] = Field(default_factory=list, validate_default=True)
    strategy: Strategy | None = None
    num_retries: int | None = Field(None, ge=0, le=10)
    timeout_s: float | None = Field(None, gt=0)
    total_timeout_s: float | None = Field(None, gt=0)
    ttft_timeout_s: float | None = Field(None, gt=0)
    stall_timeout_s: float | None = Field(None, gt=0)
    fallbacks: Fallbacks = Field(default_factory=Fallbacks)
    hedge: HedgeSettings | None = None
    description: str | None = None

    @field_validator("deployments")
    @classmethod
    def _deployments_or_router(cls, value: list[Deployment], info: ValidationInfo) -> list[Deployment]:
        routed = info.data.get("router") is not None
        if not value and not routed:
            raise ValueError("a model group needs at least 1 deployment (or a router over member groups)")
        if value and routed:
            raise ValueError("a router group has members instead of deployments: remove one of the two")
        return value
    cache: GroupCacheSettings | None = None
    limits: RateLimits | None = Field(None, description="for all callers of this group together")


class RouterSettings(_Strict):
    strategy: Strategy = "weighted"
    num_retries: int = Field(1, ge=0, le=10, description="extra attempts after the first, across deployments")
    timeout_s: float = Field(600.0, gt=0, description="per attempt: the whole answer, or a stream's first token")
    connect_timeout_s: float = Field(10.0, gt=0)
    total_timeout_s: float = Field(900.0, gt=0, description="the whole request, across attempts and fallbacks")
    ttft_timeout_s: float | None = Field(None, gt=0, description="streams: first token, else fail over")
    stall_timeout_s: float | None = Field(120.0, gt=0, description="streams: longest silence between chunks")
    retry_backoff_s: float = Field(0.05, ge=0)
    max_retry_after_s: float = Field(10.0, ge=0, description="longest Retry-After the gateway will wait out")
    retry_budget: RetryBudget = Field(default_factory=RetryBudget)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    hedge: HedgeSettings = Field(default_factory=HedgeSettings)
    health_checks: HealthChecks = Field(default_factory=HealthChecks)
    # Breaker, cooldown and latency state: per process, or mirrored through Redis for every instance.
    state: Literal["memory", "redis"] = "memory"
    state_redis_url: SecretStr | None = Field(None, description="redis://host:port/db; required for state redis")
    state_sync_s: float = Field(0.2, gt=0, description="how often the Redis mirror syncs (its staleness)")

    @model_validator(mode="after")
    def _state_needs_url(self) -> RouterSettings:
        if self.state == "redis" and self.state_redis_url is None:
            raise ValueError("router.state redis needs router.state_redis_url")
        return self


class ImageSettings(_Strict):
    """Image inputs given by URL, fetched for providers that need the bytes inline."""

    max_bytes: int = Field(20 * 1024 * 1024, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    # Only for tests and closed networks: lets image URLs point at private addresses.
    allow_private_networks: bool = False


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(4000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    master_key: SecretStr | None = None
    # Keys, teams and users (and what else shares the database): None keeps them in SQLite under data_dir.
    database_url: SecretStr | None = Field(None, description="postgresql://user@host:port/db for scale-out")
    data_dir: str = ".switchyard"
    max_request_bytes: int = Field(8 * 1024 * 1024, gt=0)
    request_log: bool = True
    log_queue_size: int = Field(100_000, gt=0)
    log_retention_days: float | None = Field(30.0, gt=0, description="request logs older than this are deleted")
    log_bodies: bool = Field(False, description="log request and answer bodies (redacted, see log_redact)")
    log_redact: list[str] = Field(
        default_factory=list, description="more JSON keys (exact, any depth) or /regex/ patterns to redact"
    )

    @field_validator("log_redact")
    @classmethod
    def _patterns_compile(cls, items: list[str]) -> list[str]:
        for item in items:
            if len(item) > 2 and item.startswith("/") and item.endswith("/"):
                try:
                    re.compile(item[1:-1])
                except re.error as exc:
                    raise ValueError(f"{item} is not a valid regular expression: {exc}") from None
        return items
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    log_format: Literal["text", "json"] = Field("text", description="json: one object per line, with request_id")
    access_log: bool = False
    images: ImageSettings = Field(default_factory=ImageSettings)
    upstream_proxy: SecretStr | None = Field(
        None, description="http://[user:password@]host:port: https upstreams are reached through it (CONNECT)"
    )
    no_proxy: list[str] = Field(
        default_factory=list, description="hosts or domains reached directly, not through upstream_proxy; * for all"
    )

    @field_validator("upstream_proxy")
    @classmethod
    def _proxy_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            try:
                parts.port  # noqa: B018 - a port that is not a number raises here, at start-up
            except ValueError:
                raise ValueError("upstream_proxy has an invalid port") from None
            if parts.scheme != "http" or not parts.hostname:
                # The value may hold a password: the message does not repeat it.
                raise ValueError("upstream_proxy must be an http:// URL with a host, such as http://proxy:3128")
        return value


class AuthSettings(_Strict):
    """Virtual-key authentication (see docs/governance.md)."""

    cache_ttl_s: float = Field(5.0, ge=0, description="how long a key lookup is reused; other instances' changes")
    cache_size: int = Field(50_000, ge=1, description="key lookups kept in memory")


class ObservabilitySettings(_Strict):
    """Metrics at GET /metrics, OpenTelemetry traces (the ``otel`` extra), the dashboard at /ui."""

    metrics: bool = True
    metrics_public: bool = Field(False, description="serve /metrics without the master key")
    tracing: bool = Field(False, description="spans per request and attempt; on when otlp_endpoint is set")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces")
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    service_name: str = "switchyard"
    dashboard: bool = Field(True, description="serve the operator dashboard at /ui")


class Config(_Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    model_groups: dict[str, ModelGroup] = Field(default_factory=dict)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)

    @model_validator(mode="after")
    def _fallbacks_exist(self) -> Config:
        for name, group in self.model_groups.items():
            for target in sorted(group.fallbacks.all_groups()):
                if target not in self.model_groups:
                    raise ValueError(f"model group {name!r} falls back to {target!r}, which is not a model group")
                if target == name:
                    raise ValueError(f"model group {name!r} falls back to itself")
        return self

    @model_validator(mode="after")
    def _router_members_exist(self) -> Config:
        for name, group in self.model_groups.items():
            spec = group.router
            if spec is None:
                continue
            for member in [*spec.members, *([spec.serve] if spec.serve else [])]:
                target = self.model_groups.get(member)
                if target is None or target.router is not None or member == name:
                    raise ValueError(f"router group {name!r}: member {member!r} must be a model group with deployments")
        return self

    @model_validator(mode="after")
    def _unique_deployment_ids(self) -> Config:
        seen: set[str] = set()
        for name, group in self.model_groups.items():
            for index, deployment in enumerate(group.deployments):
                deployment_id = deployment.id or f"{name}/{index}"
                if deployment_id in seen:
                    raise ValueError(f"deployment id {deployment_id!r} is used twice")
                seen.add(deployment_id)
        return self


def deployment_id(group: str, index: int, deployment: Deployment) -> str:
    return deployment.id or f"{group}/{index}"


DEMO_CONFIG: dict[str, object] = {
    "model_groups": {
        "demo": {
            "description": "the built-in demo model: deterministic text, no API key needed",
            "deployments": [{"provider": "demo", "model": "demo-1"}],
        }
    }
}
