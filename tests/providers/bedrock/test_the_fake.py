"""Checks on the fake Bedrock itself: it verifies SigV4 signatures and refuses conversations as Bedrock does."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakes.bedrock_upstream import ACCESS_KEY, SECRET_KEY, FakeBedrock
from tests.providers.bedrock.support import CLAUDE, TOKEN


def signed(url: str, body: bytes, secret: str = SECRET_KEY) -> dict[str, str]:
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(ACCESS_KEY, secret, TOKEN), "bedrock", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_the_fake_checks_signatures_like_aws(fake: FakeBedrock) -> None:
    # httpx keeps %3A as sent, so this also checks the fake's double encoding of path segments.
    url = f"{fake.base_url}/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    assert httpx.post(url, content=body, headers=signed(url, body)).status_code == 200
    tampered = httpx.post(url, content=body.replace(b"hi", b"yo"), headers=signed(url, body))
    assert tampered.status_code == 403 and tampered.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    wrong = httpx.post(url, content=body, headers=signed(url, body, secret="wrong-secret"))
    assert wrong.status_code == 403 and "signature we calculated" in wrong.json()["message"]
    unsigned = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")


@pytest.mark.parametrize(
    ("messages", "complaint"),
    [
        ([{"role": "assistant", "content": [{"text": "hi"}]}], "start with a user message"),
        ([{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}], "alternate"),
        ([{"role": "user", "content": [{"text": "  "}]}], "is blank"),
        ([{"role": "user", "content": [{"text": "a", "image": {}}]}], "exactly one member"),
        (
            [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "search", "input": {}}}]},
                {"role": "user", "content": [{"text": "b"}]},
            ],
            "Expected toolResult blocks",
        ),
    ],
)
def test_the_fake_validates_conversations(fake: FakeBedrock, messages: list[Any], complaint: str) -> None:
    url = f"{fake.base_url}/model/{CLAUDE}/converse"
    body = json.dumps({"messages": messages}).encode()
    response = httpx.post(url, content=body, headers=signed(url, body))
    assert response.status_code == 400 and complaint in response.json()["message"]
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException")
