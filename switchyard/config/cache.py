"""The response-cache section of the configuration (kept apart so schema.py stays readable)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LOCAL_EMBEDDER = "all-MiniLM-L6-v2"


class SemanticCacheSettings(_Strict):
    """The semantic cache: answers for questions close in meaning (see docs/caching.md)."""

    enabled: bool = False
    threshold: float | None = Field(None, gt=0, le=1, description="similarity needed; default: the tuned one")
    verifier: bool = Field(True, description="second-stage check of a candidate pair before it counts as a hit")
    max_entries: int = Field(100_000, gt=0, description="per instance, across namespaces")
    model: str | None = Field(
        None, description="a model group with embeddings deployments; default: the packaged all-MiniLM-L6-v2"
    )
    dimensions: int | None = Field(None, gt=0, le=16384, description="vector length of the model group's embeddings")
    threads: int = Field(1, ge=1, le=8, description="CPU threads one embedding may use (2: faster on long questions)")
    must_match: list[Literal["system", "history"]] = Field(
        ["system", "history"],
        description="besides tools and parameters, what must be identical for a hit: the system prompt, the earlier "
        "turns; only the last user message is compared by meaning",
    )

    @property
    def group(self) -> str | None:
        """The model group that embeds, or None for the packaged model."""
        return None if self.model in (None, LOCAL_EMBEDDER) else self.model

    @model_validator(mode="after")
    def _group_model_needs_a_threshold(self) -> SemanticCacheSettings:
        if self.group is None:
            return self
        # The verifier and the tuned thresholds were learned on the packaged model's vectors.
        if self.verifier:
            raise ValueError("cache.semantic.verifier works only with the packaged model; set it to false")
        if self.threshold is None or self.dimensions is None:
            raise ValueError("cache.semantic.model (a model group) needs a threshold and the dimensions it returns")
        return self


class GroupCacheSettings(_Strict):
    """Per-model-group overrides of the cache settings; unset fields keep the global value."""

    enabled: bool | None = None
    ttl_s: int | None = Field(None, gt=0)
    only_deterministic: bool | None = None
    cache_tool_calls: bool | None = None


class CacheSettings(_Strict):
    """The response cache. Off by default: an operator decides which answers may be reused."""

    enabled: bool = False
    backend: Literal["memory", "redis"] = "memory"
    redis_url: SecretStr | None = Field(None, description="redis://host:port/db; required for backend redis")
    redis_timeout_s: float = Field(0.25, gt=0, description="a Redis call slower than this counts as a miss")
    ttl_s: int = Field(3600, gt=0)
    max_ttl_s: int = Field(30 * 86400, gt=0, description="ceiling for the x-switchyard-cache-ttl header")
    max_entries: int = Field(10_000, gt=0, description="memory backend")
    max_bytes: int = Field(256 * 1024 * 1024, gt=0, description="memory backend")
    max_entry_bytes: int = Field(4 * 1024 * 1024, gt=0, description="larger answers are not stored")
    scope: Literal["key", "team", "global"] = Field("key", description="who may share an entry")
    only_deterministic: bool = Field(True, description="store only temperature 0, or n=1 with a seed")
    cache_tool_calls: bool = Field(False, description="store answers that call tools")
    semantic: SemanticCacheSettings = Field(default_factory=SemanticCacheSettings)

    @model_validator(mode="after")
    def _redis_needs_url(self) -> CacheSettings:
        if self.enabled and self.backend == "redis" and self.redis_url is None:
            raise ValueError("cache.backend redis needs cache.redis_url")
        return self
