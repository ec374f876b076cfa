"""The two deployments the governance suite runs in: embedded and scale-out.

Embedded is the default config (SQLite under the data directory, in-process counters). Scale-out points keys,
teams, users and logs at PostgreSQL and limits, budgets, the response cache and router state at Redis. Tests take
the ``governance_mode`` fixture (tests/conftest.py) and pass their config through ``mode.config(...)``; the same
assertions then hold in both.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from tests.services import PostgresServer, RedisServer

MODES = ("embedded", "scaleout")


def merge(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """A deep merge: ``fragment`` wins on leaves, nested mappings combine. Neither input is changed."""
    merged = copy.deepcopy(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass
class GovernanceMode:
    name: str
    redis: RedisServer | None = None
    postgres: PostgresServer | None = None
    databases: list[str] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        return self.name == "embedded"

    def fragment(self) -> dict[str, Any]:
        """The config fragment of this mode. Scale-out: a fresh PostgreSQL database and a flushed Redis each call,
        so every gateway (or set of instances) started from it begins from a clean slate."""
        if self.redis is None or self.postgres is None:
            return {}
        self.redis.start()  # a test before may have stopped it
        self.redis.flush()
        dsn = self.postgres.fresh_database()
        self.databases.append(dsn.rsplit("/", 1)[1])
        url = self.redis.url
        return {
            "server": {"database_url": dsn},
            "limits": {"backend": "redis", "redis_url": url},
            "router": {"state": "redis", "state_redis_url": url},
            # Only used by configs that turn the cache on; the backend choice is harmless otherwise.
            "cache": {"backend": "redis", "redis_url": url},
        }

    def config(self, base: dict[str, Any]) -> dict[str, Any]:
        """``base`` in this mode. Call once per gateway lifetime; reuse the result to restart the same gateway."""
        return merge(base, self.fragment())

    def sql(self, query: str, database: str | None = None) -> str:
        """Scale-out only: run SQL in ``database`` (default: that of the last ``config`` call); psql's output."""
        assert self.postgres is not None and self.databases, "sql() is for scale-out mode after config()"
        return self.postgres.psql(database or self.databases[-1], query)
