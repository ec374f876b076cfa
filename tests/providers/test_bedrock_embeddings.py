"""Bedrock embeddings (InvokeModel: Titan Text Embeddings and Cohere Embed) through the gateway, with the official
OpenAI SDK as the client and the fake Bedrock (``tests/fakes/bedrock_invoke.py``) as the upstream."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.bedrock_invoke import COHERE_V3, COHERE_V4, TITAN_V1, TITAN_V2, tokens_of, vector
from tests.fakes.bedrock_upstream import ACCESS_KEY, SECRET_KEY, FakeBedrock, Fault
from tests.gateway_process import GatewayProcess

TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"
API_KEY = "bedrock-api-key-ABCDEFGHIJKLMNOP"
SECRETS = (SECRET_KEY, TOKEN, API_KEY)
TEXTS = ["The first text.", "A second, longer text about gateways.", "Third"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock(session_token=TOKEN, api_key=API_KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeBedrock) -> None:
    fake.reset()


def deployment(fake: FakeBedrock, model: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "bedrock", "model": model, "api_base": fake.base_url, "aws_region": "us-east-1",
            "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY, "aws_session_token": TOKEN,
            **extra}  # fmt: skip


@pytest.fixture(scope="module")
def gateway(fake: FakeBedrock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    bearer = {"provider": "bedrock", "model": TITAN_V2, "api_base": fake.base_url, "aws_region": "us-east-1",
              "api_key": API_KEY}  # fmt: skip
    models = {"titan": TITAN_V2, "titan-v1": TITAN_V1, "cohere": COHERE_V3, "cohere-v4": COHERE_V4}
    groups = {name: {"deployments": [deployment(fake, model)]} for name, model in models.items()}
    # A 429 makes a deployment cool down: each test that causes one gets its own.
    groups |= {f"cool-{model}": {"deployments": [deployment(fake, model)]} for model in (TITAN_V2, COHERE_V3)}
    groups["titan-bearer"] = {"deployments": [bearer]}
    config = {"router": {"num_retries": 0, "breaker": {"enabled": False}}, "model_groups": groups}
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def post(gateway: GatewayProcess, **body: Any) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/v1/embeddings", json=body, timeout=30)


def floats(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def as_float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


# --- Titan --------------------------------------------------------------------------------------------------


def test_titan_one_call_per_text_concurrently_in_order(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.invoke_delay = 0.2  # keeps each call open long enough for the next to start while it waits
    texts = [*TEXTS, "fourth text"]
    answer = sdk(gateway).embeddings.create(model="titan", input=texts)
    assert [item.index for item in answer.data] == [0, 1, 2, 3]
    assert [item.embedding for item in answer.data] == [as_float32(vector(TITAN_V2, t, 1024)) for t in texts]
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == sum(tokens_of(text) for text in texts)
    assert answer.model == TITAN_V2
    calls = fake.requests
    assert [call.raw_path for call in calls] == [f"/model/{TITAN_V2}/invoke"] * 4
    assert sorted(call.json["inputText"] for call in calls) == sorted(texts)
    assert all(call.json == {"inputText": call.json["inputText"], "normalize": True} for call in calls)
    assert {call.auth for call in calls} == {"sigv4"}
    assert fake.max_in_flight > 1, "the calls for one request ran one after another"


def test_titan_dimensions_and_base64(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    answer = sdk(gateway).embeddings.create(model="titan", input="short", dimensions=256, encoding_format="base64")
    assert fake.last_request.json == {"inputText": "short", "normalize": True, "dimensions": 256}
    encoded = answer.data[0].embedding
    assert isinstance(encoded, str) and floats(encoded) == as_float32(vector(TITAN_V2, "short", 256))
    # The SDK's default (no encoding_format) asks for base64 and decodes it itself.
    plain = sdk(gateway).embeddings.create(model="titan", input="short")
    assert plain.data[0].embedding == as_float32(vector(TITAN_V2, "short", 1024))
    vectors = post(gateway, model="titan", input="short", encoding_format="float").json()["data"]
    assert vectors[0]["embedding"] == vector(TITAN_V2, "short", 1024)
    assert math.isclose(sum(v * v for v in vectors[0]["embedding"]), 1.0, rel_tol=1e-4)


def test_titan_v1_takes_input_text_alone(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    answer = post(gateway, model="titan-v1", input=TEXTS[:2], encoding_format="float").json()
    assert [item["embedding"] for item in answer["data"]] == [vector(TITAN_V1, t, 1536) for t in TEXTS[:2]]
    assert sorted(json.dumps(call.json) for call in fake.requests) == sorted(
        json.dumps({"inputText": t}) for t in TEXTS[:2]
    )


def test_bedrock_api_key_for_embeddings(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    answer = sdk(gateway).embeddings.create(model="titan-bearer", input="hi", encoding_format="float")
    assert answer.data[0].embedding == vector(TITAN_V2, "hi", 1024)
    assert fake.last_request.auth == "bearer"


# --- Cohere -------------------------------------------------------------------------------------------------


def test_cohere_batches_in_order_with_the_header_token_count(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    texts = [f"text number {n}" for n in range(100)]
    answer = sdk(gateway).embeddings.create(model="cohere", input=texts, encoding_format="float")
    assert [item.embedding for item in answer.data] == [vector(COHERE_V3, text, 1024) for text in texts]
    assert answer.usage.prompt_tokens == sum(tokens_of(text) for text in texts)  # from the response headers
    bodies = sorted((call.json for call in fake.requests), key=lambda body: -len(body["texts"]))
    assert [len(body["texts"]) for body in bodies] == [96, 4]
    assert bodies[0] == {"texts": texts[:96], "input_type": "search_document", "embedding_types": ["float"]}
    assert {call.raw_path for call in fake.requests} == {f"/model/{COHERE_V3}/invoke"}


def test_cohere_without_the_token_header_estimates_high(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.token_header = False
    answer = sdk(gateway).embeddings.create(model="cohere", input=TEXTS, encoding_format="float")
    assert answer.usage.prompt_tokens == sum(math.ceil(len(text) / 3) + 1 for text in TEXTS)
    assert answer.usage.prompt_tokens >= sum(tokens_of(text) for text in TEXTS)


def test_cohere_v4_dimensions_and_base64(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    answer = sdk(gateway).embeddings.create(model="cohere-v4", input=TEXTS, dimensions=512, encoding_format="base64")
    assert fake.last_request.json["output_dimension"] == 512
    decoded = [floats(item.embedding) for item in answer.data]  # type: ignore[arg-type]
    assert decoded == [as_float32(vector(COHERE_V4, text, 512)) for text in TEXTS]


# --- refused before any call --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("titan", {"dimensions": 300}, "dimensions"),
        ("titan-v1", {"dimensions": 256}, "dimensions"),
        ("cohere", {"dimensions": 512}, "dimensions"),
        ("cohere-v4", {"dimensions": 100}, "dimensions"),
        ("titan", {"input": [[1, 2, 3]]}, "input"),
        ("cohere", {"input": [5, 6]}, "input"),
    ],
)
def test_what_the_model_cannot_do_is_a_400(
    fake: FakeBedrock, gateway: GatewayProcess, model: str, extra: dict[str, Any], param: str
) -> None:
    response = post(gateway, **{"model": model, "input": "hello", **extra})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert fake.requests == []


# --- upstream errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["titan", "cohere"])
@pytest.mark.parametrize(
    ("exception", "message", "status", "code"),
    [
        ("AccessDeniedException", None, 502, "upstream_auth_error"),
        ("ValidationException", "Malformed input request: #: bad, please reformat", 400, "upstream_bad_request"),
        ("ModelNotReadyException", None, 503, "upstream_unavailable"),
        ("InternalServerException", None, 502, "upstream_error"),
    ],
)
def test_upstream_errors_map_like_converse(
    fake: FakeBedrock, gateway: GatewayProcess, model: str, exception: str, message: str | None, status: int, code: str
) -> None:
    fake.push_fault(Fault("error", exception=exception, message=message))
    response = post(gateway, model=model, input="hello")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert not any(secret in response.text for secret in SECRETS)


@pytest.mark.parametrize("model", [TITAN_V2, COHERE_V3])
def test_throttling_is_a_429_with_retry_after(fake: FakeBedrock, gateway: GatewayProcess, model: str) -> None:
    fake.push_fault(Fault("error", exception="ThrottlingException", headers={"Retry-After": "3"}))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(gateway).embeddings.create(model=f"cool-{model}", input="hello")
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "upstream_rate_limited"
    assert not any(secret in gateway.output() for secret in SECRETS)


# --- the fake refuses what Bedrock refuses ------------------------------------------------------------------


def signed(url: str, body: bytes) -> dict[str, str]:
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, TOKEN), "bedrock", "us-east-1").add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("model", "body", "complaint"),
    [
        (TITAN_V2, {"inputText": "a", "encoding_format": "float"}, "extraneous key [encoding_format]"),
        (TITAN_V2, {"inputText": "a", "dimensions": 300}, "300 is not a valid enum value"),
        (TITAN_V1, {"inputText": "a", "dimensions": 256}, "extraneous key [dimensions]"),
        (TITAN_V2, {"texts": ["a"]}, "extraneous key [texts]"),
        (COHERE_V3, {"texts": ["a"]}, "required key [input_type] not found"),
        (COHERE_V3, {"texts": ["a"] * 97, "input_type": "search_query"}, "maximum item count: 96"),
        (COHERE_V3, {"texts": ["a"], "input_type": "search_query", "truncate": "LEFT"}, "LEFT is not a valid enum"),
        (COHERE_V3, {"texts": ["a"], "input_type": "query"}, "query is not a valid enum value"),
    ],
)
def test_the_fake_validates_invoke_bodies(fake: FakeBedrock, model: str, body: dict[str, Any], complaint: str) -> None:
    url = f"{fake.base_url}/model/{model}/invoke"
    raw = json.dumps(body).encode()
    response = httpx.post(url, content=raw, headers=signed(url, raw))
    assert response.status_code == 400 and complaint in response.json()["message"], response.text
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException")


def test_the_fake_answers_invoke_as_the_reference_shows(fake: FakeBedrock) -> None:
    url = f"{fake.base_url}/model/{COHERE_V3}/invoke"
    raw = json.dumps({"texts": ["a b"], "input_type": "search_query"}).encode()
    floats_answer = httpx.post(url, content=raw, headers=signed(url, raw))
    assert floats_answer.json()["response_type"] == "embeddings_floats"
    assert floats_answer.json()["embeddings"] == [vector(COHERE_V3, "a b", 1024)]
    assert floats_answer.headers["X-Amzn-Bedrock-Input-Token-Count"] == "3"
    url = f"{fake.base_url}/model/{TITAN_V2}/invoke"
    raw = json.dumps({"inputText": "a b", "dimensions": 256, "embeddingTypes": ["float", "binary"]}).encode()
    titan = httpx.post(url, content=raw, headers=signed(url, raw)).json()
    assert titan["inputTextTokenCount"] == 3 and len(titan["embedding"]) == 256
    assert set(titan["embeddingsByType"]) == {"float", "binary"}
    unsigned = httpx.post(url, content=raw, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 403
