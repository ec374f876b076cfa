"""The gateway in front of a fake Amazon Bedrock (Converse / ConverseStream), driven by the official OpenAI SDK."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest

from switchyard.config.schema import Deployment, RouterSettings
from switchyard.errors import ConfigError
from switchyard.providers.base import ProviderContext
from switchyard.providers.bedrock import BedrockProvider
from switchyard.transport import HttpTransport
from switchyard.transport.guarded import GuardedFetcher
from tests.fakes.bedrock_upstream import ACCESS_KEY, SECRET_KEY, FakeBedrock, Fault, Script
from tests.gateway_process import GatewayProcess

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789"
API_KEY = "bedrock-api-key-ABCDEFGHIJKLMNOP"
SECRETS = (SECRET_KEY, TOKEN, API_KEY)
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} something",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
    for name in ("search", "lookup")
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PIXEL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock(session_token=TOKEN, api_key=API_KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeBedrock) -> None:
    fake.reset()


def deployment(fake: FakeBedrock, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "bedrock",
        "model": CLAUDE,
        "api_base": fake.base_url,
        "aws_region": "us-east-1",
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "aws_session_token": TOKEN,
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(fake: FakeBedrock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    bearer = deployment(fake, model=LLAMA, api_key=API_KEY, max_output_tokens=512)
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        del bearer[name]
    config = {
        "server": {"images": {"allow_private_networks": True}},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "claude": {"deployments": [deployment(fake)]},
            "llama": {"deployments": [bearer]},
            "spare": {"deployments": [deployment(fake)]},
            # A 429 makes a deployment cool down: each test that causes one gets its own.
            **{f"cool-{n}": {"deployments": [deployment(fake)]} for n in range(4)},
            "wrong-secret": {"deployments": [deployment(fake, aws_secret_access_key="not-the-secret-0123")]},
            "unknown-model": {"deployments": [deployment(fake, model="anthropic.claude-v9:0")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def chat(gateway: GatewayProcess, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "claude")
    kwargs.setdefault("messages", MESSAGES)
    return sdk(gateway).chat.completions.create(**kwargs)


def stream(gateway: GatewayProcess, **kwargs: Any) -> list[Any]:
    return list(chat(gateway, stream=True, **kwargs))


def joined(chunks: list[Any], field: str = "content") -> str:
    return "".join(getattr(c.choices[0].delta, field, None) or "" for c in chunks if c.choices)


def streamed_calls(chunks: list[Any]) -> dict[int, dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    return calls


# --- plain, stream, wire ------------------------------------------------------------------------------------


def test_plain_chat_and_the_exact_wire_request(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    reply = chat(gateway, temperature=0.3, top_p=0.9, max_tokens=50, stop=["zzz"], seed=7, user="u1")
    assert reply.choices[0].message.content == "You said: Hello there"
    assert reply.choices[0].finish_reason == "stop" and reply.model == CLAUDE
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    sent = fake.last_request
    assert sent.raw_path == "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
    assert sent.auth == "sigv4" and sent.headers["x-amz-security-token"] == TOKEN
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.json == {
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.3, "topP": 0.9, "stopSequences": ["zzz"]},
    }
    assert reply.id.startswith("chatcmpl-")


def test_stream_matches_plain_and_reports_usage(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    plain = chat(gateway)
    chunks = stream(gateway, stream_options={"include_usage": True})
    assert fake.last_request.raw_path.endswith("/converse-stream") and fake.last_request.auth == "sigv4"
    assert fake.last_request.headers["accept"] == "application/vnd.amazon.eventstream"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert joined(chunks) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == plain.usage.total_tokens
    # Without include_usage the usage chunk is the gateway's alone.
    assert all(c.choices for c in stream(gateway))


def test_bearer_api_key_and_default_max_tokens(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    reply = chat(gateway, model="llama")
    assert reply.model == LLAMA and fake.last_request.auth == "bearer"
    assert fake.last_request.headers["authorization"] == f"Bearer {API_KEY}"
    assert fake.last_request.json["inferenceConfig"] == {"maxTokens": 512}
    assert joined(stream(gateway, model="llama")) == reply.choices[0].message.content


# --- tools --------------------------------------------------------------------------------------------------


def test_parallel_tool_calls_plain_and_streamed(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "Please search and lookup cats"}]
    reply = chat(gateway, messages=ask, tools=TOOLS, tool_choice="auto")
    calls = reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "tool_calls" and [c.function.name for c in calls] == ["search", "lookup"]
    assert all(json.loads(c.function.arguments) == {"q": "example"} and c.id.startswith("tooluse_") for c in calls)
    assert fake.last_request.json["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": t["function"]["name"],
                    "description": t["function"]["description"],
                    "inputSchema": {"json": t["function"]["parameters"]},
                }
            }
            for t in TOOLS
        ],
        "toolChoice": {"auto": {}},
    }
    chunks = stream(gateway, messages=ask, tools=TOOLS)
    assembled = streamed_calls(chunks)
    assert [assembled[i]["name"] for i in (0, 1)] == ["search", "lookup"]
    assert all(json.loads(call["arguments"]) == {"q": "example"} for call in assembled.values())
    heads = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or [] if d.id]
    assert all(h.type == "function" and h.function.arguments == "" for h in heads)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "lookup"}}, {"tool": {"name": "lookup"}}),
        ("none", None),
    ],
)
def test_tool_choice(fake: FakeBedrock, gateway: GatewayProcess, choice: Any, wire: Any) -> None:
    reply = chat(gateway, tools=TOOLS, tool_choice=choice)
    sent = fake.last_request.json
    if wire is None:
        assert "toolConfig" not in sent and reply.choices[0].message.tool_calls is None
    else:
        assert sent["toolConfig"]["toolChoice"] == wire
        assert reply.choices[0].message.tool_calls[0].function.name == ("lookup" if "tool" in wire else "search")


def test_tool_results_round_trip_grouped_into_one_user_turn(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    history = [
        {"role": "user", "content": "search and lookup"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "tooluse_a", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}},
                {"id": "tooluse_b", "type": "function", "function": {"name": "lookup", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "tooluse_a", "content": "found 3"},
        {"role": "tool", "tool_call_id": "tooluse_b", "content": [{"type": "text", "text": "none"}]},
        {"role": "user", "content": "summarise"},
    ]
    reply = chat(gateway, messages=history, tools=TOOLS)
    assert reply.choices[0].message.content == "You said: summarise Tool results: found 3 | none."
    assert fake.last_request.json["messages"] == [
        {"role": "user", "content": [{"text": "search and lookup"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "tooluse_a", "name": "search", "input": {"q": "x"}}},
                {"toolUse": {"toolUseId": "tooluse_b", "name": "lookup", "input": {}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_a", "content": [{"text": "found 3"}]}},
                {"toolResult": {"toolUseId": "tooluse_b", "content": [{"text": "none"}]}},
                {"text": "summarise"},
            ],
        },
    ]
    # tool_choice "none" cannot be honoured once tool blocks are in the conversation (Converse needs toolConfig).
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gateway, messages=history, tools=TOOLS, tool_choice="none")
    assert caught.value.body["param"] == "tool_choice"  # type: ignore[index]


# --- vision and JSON mode -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pixel.png"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("source", ["data", "http"])
def test_vision_sends_image_bytes(fake: FakeBedrock, gateway: GatewayProcess, image_server: str, source: str) -> None:
    url = PIXEL if source == "data" else image_server
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    reply = chat(gateway, messages=[{"role": "user", "content": content}])
    assert reply.choices[0].message.content == f"You said: What is this? I see 1 image(s): png {len(PNG)} bytes."
    image = fake.last_request.json["messages"][0]["content"][1]["image"]
    assert image["format"] == "png" and base64.b64decode(image["source"]["bytes"]) == PNG


def test_json_mode_uses_a_forced_tool(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": {**schema, "required": ["city", "n"]}}}
    reply = chat(gateway, response_format=fmt)
    assert json.loads(reply.choices[0].message.content) == {"city": "example", "n": 1}
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.tool_calls is None
    tool_config = fake.last_request.json["toolConfig"]
    assert tool_config["toolChoice"] == {"tool": {"name": "json_response"}}
    assert tool_config["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"] == ["city", "n"]
    chunks = stream(gateway, response_format=fmt)
    assert json.loads(joined(chunks)) == {"city": "example", "n": 1}
    assert not streamed_calls(chunks) and chunks[-1].choices[0].finish_reason == "stop"
    assert json.loads(chat(gateway, response_format={"type": "json_object"}).choices[0].message.content) == {}
    with pytest.raises(openai.BadRequestError):
        chat(gateway, response_format={"type": "json_object"}, tools=TOOLS)


# --- usage, reasoning, finish reasons -----------------------------------------------------------------------


def test_cache_usage_and_reasoning(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.script = Script(text="Answer.", reasoning="Let me think.", cache_read=100, cache_write=20)
    reply = chat(gateway)
    message, usage = reply.choices[0].message, reply.usage
    assert message.content == "Answer." and message.reasoning_content == "Let me think."  # type: ignore[attr-defined]
    # Bedrock's inputTokens counts only the uncached part; OpenAI's prompt_tokens counts all of it.
    assert usage.prompt_tokens > 120 and usage.prompt_tokens_details.cached_tokens == 100
    assert usage.prompt_tokens_details.model_extra["cache_creation_tokens"] == 20
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    chunks = stream(gateway, stream_options={"include_usage": True})
    assert joined(chunks, "reasoning_content") == "Let me think." and joined(chunks) == "Answer."
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 100


@pytest.mark.parametrize(
    ("kwargs", "script", "finish"),
    [
        ({"max_tokens": 2}, None, "length"),
        ({"stop": "there"}, None, "stop"),
        ({}, Script(text="Blocked.", stop_reason="guardrail_intervened"), "content_filter"),
        ({}, Script(text="Filtered.", stop_reason="content_filtered"), "content_filter"),
        ({}, Script(text="Long.", stop_reason="model_context_window_exceeded"), "length"),
    ],
)
def test_finish_reasons(
    fake: FakeBedrock, gateway: GatewayProcess, kwargs: dict[str, Any], script: Script | None, finish: str
) -> None:
    fake.script = script
    assert chat(gateway, **kwargs).choices[0].finish_reason == finish
    assert stream(gateway, **kwargs)[-1].choices[0].finish_reason == finish


# --- errors -------------------------------------------------------------------------------------------------


def post(gateway: GatewayProcess, model: str = "claude", stream: bool = False, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": MESSAGES, "stream": stream, **extra}
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30)


def assert_no_secret(text: str) -> None:
    assert not any(secret in text for secret in SECRETS)


@pytest.mark.parametrize(
    ("exception", "message", "status", "code"),
    [
        ("ValidationException", "Input is too long for requested model.", 400, "context_length_exceeded"),
        ("ValidationException", "The model returned the following errors: bad field", 400, "upstream_bad_request"),
        ("AccessDeniedException", None, 502, "upstream_auth_error"),
        ("ModelTimeoutException", None, 504, "upstream_timeout"),
        ("ServiceUnavailableException", None, 503, "upstream_unavailable"),
        ("ModelNotReadyException", None, 503, "upstream_unavailable"),
        ("InternalServerException", None, 502, "upstream_error"),
        ("ModelErrorException", None, 502, "upstream_error"),
        ("ResourceNotFoundException", None, 502, "upstream_error"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_upstream_errors_map_to_the_error_tree(
    fake: FakeBedrock,
    gateway: GatewayProcess,
    exception: str,
    message: str | None,
    status: int,
    code: str,
    streamed: bool,
) -> None:
    fake.push_fault(Fault("error", exception=exception, message=message))
    response = post(gateway, stream=streamed)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert_no_secret(response.text)


def test_throttling_is_a_429_with_retry_after(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault("error", exception="ThrottlingException", headers={"Retry-After": "2"}))
    response = post(gateway, model="cool-0")
    assert response.status_code == 429 and response.json()["error"]["code"] == "upstream_rate_limited"
    assert response.headers["retry-after"] == "2"
    with pytest.raises(openai.RateLimitError):
        chat(gateway, model="cool-0")  # the deployment is cooling down now


def test_bad_credentials_and_unknown_models(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    response = post(gateway, model="wrong-secret")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_auth_error"
    assert fake.last_request.auth == "InvalidSignatureException"
    assert "not-the-secret" not in response.text and "not-the-secret" not in gateway.output()
    missing = post(gateway, model="unknown-model")
    assert missing.status_code == 400 and "model identifier is invalid" in missing.json()["error"]["message"]
    assert_no_secret(gateway.output())


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault("exception_event", exception="throttlingException"), 429, "upstream_rate_limited"),
        (
            Fault("exception_event", exception="validationException", message="Input is too long for requested model."),
            400,
            "context_length_exceeded",
        ),
        (Fault("exception_event", exception="modelStreamErrorException"), 502, "upstream_error"),
        (Fault("corrupt"), 502, "upstream_error"),
        (Fault("cut", after_frames=1), 502, "upstream_error"),
        (Fault("wrong_content_type"), 502, "upstream_error"),
    ],
)
def test_stream_broken_before_content_is_an_error_status(
    fake: FakeBedrock, gateway: GatewayProcess, fault: Fault, status: int, code: str
) -> None:
    fake.push_fault(fault)
    response = post(gateway, model="cool-1" if status == 429 else "spare", stream=True)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "fault",
    [
        Fault("exception_event", exception="modelStreamErrorException", after_frames=3),
        Fault("exception_event", exception="throttlingException", after_frames=3),
        Fault("exception_event", exception="validationException", message="Bad input", after_frames=3),
        Fault("corrupt", after_frames=3),
        Fault("cut", after_frames=3),
        Fault("end_early", after_frames=3),
        Fault("drop", after_frames=3),
    ],
)
def test_stream_broken_after_content_ends_with_an_error_event(
    fake: FakeBedrock, gateway: GatewayProcess, fault: Fault
) -> None:
    fake.push_fault(fault)
    # An in-band 429 still cools the deployment down: those cases get a deployment of their own.
    group = "cool-2" if fault.exception == "throttlingException" else "spare"
    body = {"model": group, "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events and "error" in json.loads(events[-1])
    assert len(events) >= 2  # the good chunks before the break reached the client
    fake.push_fault(fault)
    with pytest.raises(openai.APIError):
        stream(gateway, model="cool-3" if group == "cool-2" else group)


# --- what is refused before any upstream call ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"temperature": 1.5}, "temperature"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
    ],
)
def test_unsupported_parameters_are_a_400(fake: FakeBedrock, gateway: GatewayProcess, extra: Any, param: str) -> None:
    response = post(gateway, **extra)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert fake.requests == []


def test_embeddings_are_a_400(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError):
        sdk(gateway).embeddings.create(model="claude", input="hi")
    assert fake.requests == []


# --- configuration ------------------------------------------------------------------------------------------


def context() -> ProviderContext:
    fetcher = GuardedFetcher(max_bytes=1000, timeout_s=1)
    return ProviderContext(HttpTransport(), RouterSettings(), fetcher, 1000)


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"aws_region": None}, "aws_region"),
        ({"aws_access_key_id": None}, "aws_access_key_id"),
        ({"aws_secret_access_key": None}, "aws_secret_access_key"),
    ],
)
def test_missing_settings_fail_at_start_up(extra: dict[str, Any], path: str) -> None:
    settings = {
        "provider": "bedrock",
        "model": CLAUDE,
        "aws_region": "us-east-1",
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        **extra,
    }
    with pytest.raises(ConfigError) as caught:
        BedrockProvider(Deployment.model_validate(settings), context())
    assert caught.value.path == path
    assert "os.environ/AWS_" in (caught.value.fix or "") or path == "aws_region"


def test_default_endpoint_and_lazy_botocore() -> None:
    arn = "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.meta.llama3:0"
    deployment = Deployment(provider="bedrock", model=arn, aws_region="eu-west-3", api_key="k" * 8)
    provider = BedrockProvider(deployment, context())
    assert provider._url == (
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/"
        "arn:aws:bedrock:eu-west-3:123456789012:inference-profile%2Feu.meta.llama3:0/converse"
    )
    code = "import sys, switchyard.providers.registry; print('botocore' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


# --- the fake itself: it refuses what Bedrock refuses -------------------------------------------------------


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


def test_a_dropped_connection_is_unavailable(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault("drop"))
    response = post(gateway, model="spare")
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable"
