"""The rate-limit and budget sections of the configuration (kept apart so schema.py stays readable)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimits(_Strict):
    """Per-minute request and token ceilings and a concurrency ceiling; unset is unlimited."""

    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    max_concurrency: int | None = Field(None, gt=0)


class LimitsSettings(_Strict):
    """Where rate-limit counters live (see docs/governance.md, "Rate limits and budgets")."""

    backend: Literal["memory", "redis"] = Field("memory", description="redis: shared by every instance")
    redis_url: SecretStr | None = Field(None, description="redis://host:port/db; required for backend redis")
    redis_failure: Literal["open", "closed"] = Field("open", description="Redis down: admit (open) or 503 (closed)")
    default_max_output_tokens: int = Field(
        1024, gt=0, description="output tokens reserved when a request sets no max_tokens and no deployment caps it"
    )

    @model_validator(mode="after")
    def _redis_needs_url(self) -> LimitsSettings:
        if self.backend == "redis" and self.redis_url is None:
            raise ValueError("limits.backend redis needs limits.redis_url")
        return self


class BudgetSettings(_Strict):
    """Budget alerts: a webhook POSTed once per threshold per period."""

    webhook_url: SecretStr | None = Field(
        None, description="receives {scope, id, threshold, spend_usd, max_usd, period}"
    )
    soft_thresholds: list[float] = Field(
        default_factory=lambda: [0.5, 0.8, 1.0], description="fractions of a budget that trigger an alert"
    )
