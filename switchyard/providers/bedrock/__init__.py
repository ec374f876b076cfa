"""Amazon Bedrock through the Converse and ConverseStream APIs (one request shape for every Bedrock model).

Configuration (per deployment):

- ``model``: the model id or inference-profile id/ARN, e.g. ``anthropic.claude-3-5-sonnet-20240620-v1:0``
  or ``us.anthropic.claude-3-5-sonnet-20240620-v1:0``; it is URL-encoded into the path (``/`` → ``%2F``);
  for embeddings, a Titan Text Embeddings or Cohere Embed id (``amazon.titan-embed-text-v2:0``,
  ``cohere.embed-english-v3``): the id names the body family, so an ARN must keep the model's name in it;
- ``aws_region`` (required): the region to call and to sign for;
- credentials, one of:
  - ``aws_access_key_id`` + ``aws_secret_access_key`` (+ ``aws_session_token`` for temporary credentials),
    signed with AWS Signature Version 4 by botocore (``pip install 'switchyard[bedrock]'``). Write them as
    ``os.environ/AWS_ACCESS_KEY_ID`` etc.: the config loader is the only reader of the environment, so
    the adapter never falls back to AWS's own credential chain, and a deployment without keys fails at
    start-up with a ConfigError instead of at its first request;
  - ``api_key``: a Bedrock API key, sent as ``Authorization: Bearer`` (no signing, no botocore);
- ``api_base`` (optional): instead of ``https://bedrock-runtime.{aws_region}.amazonaws.com`` (a VPC
  endpoint, a proxy, a test double);
- ``max_output_tokens`` (optional): the default ``maxTokens`` when the client sets none; without it the
  model's own default applies.

Requests: see ``_request`` for what maps and what is refused. Answers: see ``_response`` (plain) and
``_stream`` (streamed). Embeddings go through InvokeModel with the model vendor's own body (Titan Text
Embeddings, Cohere Embed; see ``_embed``); ``embed`` on any other model is a clear 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import msgspec
from pydantic import SecretStr

from switchyard import errors
from switchyard.config.schema import Deployment
from switchyard.providers.base import ChatCall, EmbedCall, ProviderContext, Reply, timeouts_for
from switchyard.providers.bedrock._embed import BedrockEmbedder, embed_family, raise_for_status
from switchyard.providers.bedrock._request import build_body
from switchyard.providers.bedrock._response import PROVIDER, http_error, to_completion
from switchyard.providers.bedrock._sigv4 import SigV4Signer
from switchyard.providers.bedrock._stream import BedrockStream
from switchyard.transport import UpstreamResponse

EVENTSTREAM = "application/vnd.amazon.eventstream"
_CREDENTIALS_FIX = (
    "aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID and aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY "
    "(plus aws_session_token: os.environ/AWS_SESSION_TOKEN for temporary credentials), "
    "or api_key: os.environ/AWS_BEARER_TOKEN_BEDROCK"
)
_encoder = msgspec.json.Encoder()


class BedrockProvider:
    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        region = deployment.aws_region
        if not region:
            raise errors.ConfigError(
                "aws_region", f"provider {PROVIDER!r} needs an aws_region", "aws_region: us-east-1"
            )
        base = deployment.api_base or f"https://bedrock-runtime.{region}.amazonaws.com"
        # Colons stay literal (they are legal in a path segment) and a slash in an ARN becomes %2F: the HTTP
        # client normalises %3A back to ":" before sending, and the signature must cover the path as sent.
        model_path = quote(deployment.model, safe=":")
        self._url = f"{base}/model/{model_path}/converse"
        self._stream_url = f"{base}/model/{model_path}/converse-stream"
        self._invoke_url = f"{base}/model/{model_path}/invoke"
        self._model = deployment.model
        self._context = context
        self._transport = context.transport
        self._timeouts = timeouts_for(deployment, context.router)
        self._max_connections = deployment.max_connections
        self._max_tokens = deployment.max_output_tokens
        api_key = _secret(deployment.api_key)
        access_key = _secret(deployment.aws_access_key_id)
        secret_key = _secret(deployment.aws_secret_access_key)
        token = _secret(deployment.aws_session_token)
        self._secrets = (api_key, access_key, secret_key, token)
        base_headers = {"Content-Type": "application/json", "Accept": "application/json", **deployment.headers}
        self._signer: SigV4Signer | None = None
        if api_key:
            base_headers["Authorization"] = f"Bearer {api_key}"
        elif access_key and secret_key:
            self._signer = SigV4Signer(region, access_key, secret_key, token)
        else:
            missing = "aws_secret_access_key" if access_key else "aws_access_key_id"
            raise errors.ConfigError(missing, f"provider {PROVIDER!r} needs AWS credentials", _CREDENTIALS_FIX)
        self._headers = base_headers
        self._stream_headers = {**base_headers, "Accept": EVENTSTREAM}
        self._embedder = BedrockEmbedder(embed_family(deployment.model), deployment.model, self._invoke)

    def _signed(self, url: str, body: bytes, headers: Mapping[str, str]) -> Mapping[str, str]:
        return headers if self._signer is None else self._signer.sign(url, body, headers)

    async def chat(self, call: ChatCall) -> Reply:
        body, json_tool = await build_body(call.request, self._context, self._max_tokens)
        payload = _encoder.encode(body)
        response = await self._transport.post(
            self._url, payload, self._signed(self._url, payload, self._headers), self._timeouts, self._max_connections
        )
        if response.status >= 400:
            raise http_error(response.status, response.headers, response.body, self._secrets)
        request_id = response.headers.get("x-amzn-RequestId")
        return Reply(to_completion(response.body, self._model, request_id, json_tool), request_id)

    async def _invoke(self, payload: bytes) -> UpstreamResponse:
        url = self._invoke_url
        response = await self._transport.post(
            url, payload, self._signed(url, payload, self._headers), self._timeouts, self._max_connections
        )
        return raise_for_status(response, self._secrets)

    async def embed(self, call: EmbedCall) -> Reply:
        return await self._embedder.embed(call)

    async def chat_stream(self, call: ChatCall) -> BedrockStream:
        body, json_tool = await build_body(call.request, self._context, self._max_tokens)
        payload = _encoder.encode(body)
        url = self._stream_url
        stream = await self._transport.open_stream(
            url, payload, self._signed(url, payload, self._stream_headers), self._timeouts, self._max_connections
        )
        if stream.status >= 400:
            try:
                raise http_error(stream.status, stream.headers, await stream.read(), self._secrets)
            finally:
                await stream.aclose()
        content_type = stream.headers.get("content-type", "")
        if not content_type.startswith(EVENTSTREAM):
            await stream.aclose()
            raise errors.UpstreamError(
                f"upstream {PROVIDER} answered a stream request with {content_type or 'no content type'}"
            )
        return BedrockStream(stream, self._model, json_tool, self._secrets)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
