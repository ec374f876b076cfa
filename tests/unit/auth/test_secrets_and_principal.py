"""Key secrets, hashing and the Principal built from stored key and team records."""

from __future__ import annotations

import hashlib

from switchyard.auth.principal import allowed_models, build_principal, refusal
from switchyard.auth.secrets import KEY_PREFIX, display_prefix, hash_key, is_virtual, new_secret
from switchyard.storage.keys_protocol import KeyRecord, TeamRecord
from switchyard.types.identity import Budget, Limits


def key(**fields: object) -> KeyRecord:
    return KeyRecord(id="key_1", key_hash="h", prefix="sk-sy-abcdefgh", created_at=0, updated_at=0, **fields)  # type: ignore[arg-type]


def team(**fields: object) -> TeamRecord:
    return TeamRecord(id="team_1", name="t", created_at=0, updated_at=0, **fields)  # type: ignore[arg-type]


def test_secrets_are_long_random_and_prefixed() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith(KEY_PREFIX) and is_virtual(secret)
        assert len(secret) == len(KEY_PREFIX) + 43  # 32 bytes, url-safe base64 without padding
        assert display_prefix(secret) == secret[:14] and len(display_prefix(secret)) == 14


def test_hash_is_sha256_and_never_the_key() -> None:
    secret = new_secret()
    assert hash_key(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in hash_key(secret) and hash_key(secret) != hash_key(secret + "x")


def test_allowed_models_intersect_key_and_team() -> None:
    assert allowed_models(key(), None) is None
    assert allowed_models(key(), team()) is None
    assert allowed_models(key(models=["a", "b"]), None) == frozenset({"a", "b"})
    assert allowed_models(key(), team(models=["b", "c"])) == frozenset({"b", "c"})
    assert allowed_models(key(models=["a", "b"]), team(models=["b", "c"])) == frozenset({"b"})
    assert allowed_models(key(models=["a"]), team(models=["c"])) == frozenset()


def test_principal_carries_limits_budgets_and_identity() -> None:
    principal = build_principal(
        key(alias="ci", team_id="team_1", user_id="user_1", role="team_admin", rpm=10, tpm=1000, budget_usd=5.0,
            budget_period="daily", tags=["x"], metadata={"a": "b"}),
        team(rpm=100, max_concurrency=4, budget_usd=50.0),
    )
    assert principal.role == "team_admin" and principal.key_id == "key_1" and principal.key_alias == "ci"
    assert principal.team_id == "team_1" and principal.user_id == "user_1"
    assert principal.key_limits == Limits(rpm=10, tpm=1000) and principal.team_limits == Limits(100, None, 4)
    assert principal.key_budget == Budget(max_usd=5.0, period="daily")
    assert principal.team_budget == Budget(max_usd=50.0, period="monthly")
    assert principal.tags == ("x",) and principal.metadata == {"a": "b"}


def test_refusals() -> None:
    assert refusal(key(), None, 100.0) is None
    assert refusal(key(revoked_at=5.0), None, 100.0) == "This API key has been revoked."
    assert refusal(key(expires_at=100.0), None, 100.0) == "This API key has expired."
    assert refusal(key(expires_at=101.0), None, 100.0) is None
    assert refusal(key(team_id="team_1"), None, 100.0) is not None
    assert refusal(key(team_id="team_1"), team(deleted_at=1.0), 100.0) is not None
    assert refusal(key(team_id="team_1"), team(), 100.0) is None
