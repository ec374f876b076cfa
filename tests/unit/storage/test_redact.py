"""Redaction of logged bodies: secret keys at any depth, key-shaped text anywhere, config additions."""

from __future__ import annotations

import json

from switchyard.pipeline.stages.redact import MAX_BODY_CHARS, REDACTED, Redactor


def test_secret_keys_at_any_depth_and_key_shaped_text_are_redacted() -> None:
    body = {
        "model": "g",
        "api_key": "plain",
        "metadata": {"Authorization": "whatever", "nested": [{"password": "p", "ok": "fine"}]},
        "messages": [{"role": "user", "content": "use sk-ant-api03-abcdefghijklmnopqrstuv and Bearer eyJhbGc.x.y"}],
        "aws": "AKIAABCDEFGHIJKLMNOP",
    }
    out = json.loads(Redactor().body(json.dumps(body).encode()) or "")
    assert out["api_key"] == REDACTED and out["metadata"]["Authorization"] == REDACTED
    assert out["metadata"]["nested"] == [{"password": REDACTED, "ok": "fine"}]
    assert out["messages"][0]["content"] == f"use {REDACTED} and {REDACTED}"
    assert out["aws"] == REDACTED and out["model"] == "g"


def test_config_adds_keys_and_patterns() -> None:
    redactor = Redactor(["customer_id", "/ACME-[0-9]{4}/"])
    out = json.loads(redactor.body(b'{"Customer_ID": 7, "note": "order ACME-1234 shipped"}') or "")
    assert out == {"Customer_ID": REDACTED, "note": f"order {REDACTED} shipped"}


def test_text_bodies_are_scrubbed_and_long_bodies_capped() -> None:
    assert Redactor().body(b"not json sk-sy-abcdefghijklmnopqrstuvwx") == f"not json {REDACTED}"
    assert Redactor().body(None) is None
    long = Redactor().body(json.dumps({"x": "a" * (MAX_BODY_CHARS * 2)}).encode()) or ""
    assert long.endswith("...[truncated]") and len(long) < MAX_BODY_CHARS + 20
