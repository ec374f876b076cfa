"""The fake Bedrock's wire format: event-stream frames, SigV4 verification, request validation, errors.

Written from the AWS references (the event-stream framing, Signature Version 4, the ``bedrock-runtime``
service model), independently of the gateway's own code: it imports nothing from ``switchyard``. The
SigV4 check is a from-scratch implementation (hashlib/hmac), not botocore's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

JSON = dict[str, Any]

# Exception name → HTTP status, from the service model's error shapes (plus the auth errors every AWS
# service answers with), and the messages Bedrock sends with them.
STATUS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 403,
    "MissingAuthenticationTokenException": 403,
    "ExpiredTokenException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
MESSAGES = {
    "ValidationException": "Input is too long for requested model.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "ResourceNotFoundException": "This model version has reached the end of its life. Please refer to the "
    "AWS documentation for more details.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ModelErrorException": "The model returned the following errors: unexpected error",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ModelNotReadyException": "Model is not ready to serve inference requests. The AWS SDK will automatically "
    "retry the operation.",
    "InternalServerException": "The server encountered an internal error while processing the request.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "modelStreamErrorException": "The model encountered an error while streaming the response.",
}
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


class ApiError(Exception):
    def __init__(self, exception: str, message: str) -> None:
        super().__init__(message)
        self.exception, self.message = exception, message


# ------------------------------------------------------------------------------- event-stream frames


def encode_header(name: str, kind: int, value: Any = None) -> bytes:
    raw = name.encode()
    out = struct.pack("!B", len(raw)) + raw + struct.pack("!B", kind)
    fixed = {2: "!b", 3: "!h", 4: "!i", 5: "!q", 8: "!q"}
    if kind in (0, 1):
        return out
    if kind in fixed:
        return out + struct.pack(fixed[kind], value)
    if kind in (6, 7):
        data = value.encode() if kind == 7 else bytes(value)
        return out + struct.pack("!H", len(data)) + data
    if kind == 9:
        return out + bytes(value)
    raise ValueError(f"unknown header type {kind}")


def encode_frame(headers: bytes, payload: bytes) -> bytes:
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event_frame(event_type: str, body: JSON, padding: int = 7) -> bytes:
    # Bedrock pads every event with a "p" member of varying length, so sizes do not reveal tokens.
    payload = json.dumps({**body, "p": "abcdefghijklmnopqrstuvwxyz"[: padding % 26]}).encode()
    headers = encode_header(":event-type", 7, event_type) + encode_header(":content-type", 7, "application/json")
    return encode_frame(headers + encode_header(":message-type", 7, "event"), payload)


def exception_frame(exception: str, message: str) -> bytes:
    headers = encode_header(":exception-type", 7, exception) + encode_header(":content-type", 7, "application/json")
    headers += encode_header(":message-type", 7, "exception")
    return encode_frame(headers, json.dumps({"message": message}).encode())


# ----------------------------------------------------------------------------------------- SigV4


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify_sigv4(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    secrets: dict[str, str],
    region: str,
    token: str | None,
    now: float,
) -> None:
    """Raise ApiError unless the request carries a valid SigV4 signature for service "bedrock"."""
    authorization = headers.get("authorization", "")
    if not authorization:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = authorization.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    if algorithm != "AWS4-HMAC-SHA256" or not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise ApiError(
            "IncompleteSignatureException",
            f"Authorization header requires 'Credential', "
            f"'SignedHeaders' and 'Signature' parameters. Authorization={authorization[:40]}",
        )
    access_key, date, scope_region, service, terminal = (fields["Credential"].split("/") + [""] * 5)[:5]
    amz_date = headers.get("x-amz-date", "")
    if access_key not in secrets:
        raise ApiError("UnrecognizedClientException", MESSAGES["UnrecognizedClientException"])
    if scope_region != region:
        raise ApiError("InvalidSignatureException", "Credential should be scoped to a valid region.")
    if service != "bedrock" or terminal != "aws4_request":
        raise ApiError("InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'.")
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed or date != amz_date[:8]:
        raise ApiError("IncompleteSignatureException", "Signature must cover host and x-amz-date, dated as the scope")
    try:
        moment = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise ApiError("IncompleteSignatureException", f"Invalid X-Amz-Date {amz_date!r}") from None
    if abs(now - moment) > 300:
        raise ApiError("InvalidSignatureException", f"Signature expired: {amz_date} is now earlier than allowed.")
    if token is not None and (headers.get("x-amz-security-token") != token or "x-amz-security-token" not in signed):
        raise ApiError("UnrecognizedClientException", MESSAGES["UnrecognizedClientException"])
    # Non-S3 services sign each path segment URI-encoded twice: once in the URL, once here.
    canonical_uri = "/".join(quote(segment, safe="-_.~") for segment in raw_path.split("/")) or "/"
    pairs = sorted(tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method, canonical_uri, canonical_query, canonical_headers, ";".join(signed), payload_hash])
    scope = f"{date}/{region}/bedrock/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + secrets[access_key]).encode()
    for part in (date, region, "bedrock", "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise ApiError("InvalidSignatureException", BAD_SIGNATURE)


# ------------------------------------------------------------------------------------ validation

_BLOCKS = {
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
}
_TOP = {
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "promptVariables",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
    "serviceTier",
    "outputConfig",
}


def _one_member(value: Any, where: str, allowed: set[str]) -> str:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in allowed:
        raise ApiError("ValidationException", f"The {where} must have exactly one member of {sorted(allowed)}.")
    return str(next(iter(value)))


def validate(body: Any) -> JSON:
    if not isinstance(body, dict):
        raise ApiError("ValidationException", "Malformed input request, please reformat your input and try again.")
    unknown = set(body) - _TOP
    if unknown:  # stricter than AWS, which ignores unknown members: catches a translator's typos
        raise ApiError("ValidationException", f"Unknown request members: {sorted(unknown)}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError("ValidationException", "A conversation must start with a user message. Try again.")
    previous_uses: set[str] = set()
    has_tool_blocks = False
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant") or not isinstance(content, list) or not content:
            raise ApiError("ValidationException", f"messages.{i}: role must be user or assistant, content non-empty")
        if i == 0 and role != "user":
            raise ApiError("ValidationException", "A conversation must start with a user message. Try again.")
        if i and messages[i - 1].get("role") == role:
            raise ApiError(
                "ValidationException",
                "A conversation must alternate between user and assistant roles. "
                "Make sure the conversation alternates between user and assistant roles and try again.",
            )
        uses, results = set(), set()
        for j, block in enumerate(content):
            kind = _one_member(block, f"ContentBlock object at messages.{i}.content.{j}", _BLOCKS)
            value, where = block[kind], f"messages.{i}.content.{j}"
            if kind == "text" and (not isinstance(value, str) or not value.strip()):
                raise ApiError(
                    "ValidationException",
                    f"The text field in the ContentBlock object at {where} is "
                    "blank. Add text to the text field, and try again.",
                )
            if kind == "image":
                _image(value, where)
            if kind == "toolUse":
                if role != "assistant" or not isinstance(value.get("input"), dict) or not value.get("name"):
                    raise ApiError("ValidationException", f"{where}: toolUse needs name and an object input")
                uses.add(value["toolUseId"])
            if kind == "toolResult":
                if role != "user" or not isinstance(value.get("content"), list):
                    raise ApiError("ValidationException", f"{where}: toolResult needs a content list")
                for k, item in enumerate(value["content"]):
                    _one_member(item, f"{where}.toolResult.content.{k}", {"text", "json", "image", "document"})
                results.add(value["toolUseId"])
            has_tool_blocks |= kind in ("toolUse", "toolResult")
        if role == "user" and previous_uses != results and (previous_uses or results):
            missing = ", ".join(sorted(previous_uses - results)) or ", ".join(sorted(results - previous_uses))
            raise ApiError(
                "ValidationException",
                f"Expected toolResult blocks at messages.{i}.content for the following Ids: {missing}",
            )
        previous_uses = uses if role == "assistant" else set()
    for k, item in enumerate(body.get("system") or []):
        if _one_member(item, f"system.{k}", {"text", "guardContent", "cachePoint"}) == "text" and not item["text"]:
            raise ApiError("ValidationException", f"system.{k}.text must not be empty")
    _inference(body.get("inferenceConfig") or {})
    tools = tools_of(body.get("toolConfig"))
    if has_tool_blocks and not tools:
        raise ApiError(
            "ValidationException",
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        )
    return body


def _image(value: Any, where: str) -> None:
    if value.get("format") not in ("png", "jpeg", "gif", "webp"):
        raise ApiError("ValidationException", f"{where}.image.format must be one of png, jpeg, gif, webp")
    source = value.get("source")
    _one_member(source, f"{where}.image.source", {"bytes", "s3Location"})
    try:
        base64.b64decode(source.get("bytes", ""), validate=True)
    except binascii.Error:
        raise ApiError("ValidationException", f"{where}.image.source.bytes is not valid base64") from None


def _inference(config: JSON) -> None:
    unknown = set(config) - {"maxTokens", "temperature", "topP", "stopSequences"}
    if unknown:
        raise ApiError("ValidationException", f"Unknown inferenceConfig members: {sorted(unknown)}")
    for name, low, high in (("temperature", 0, 1), ("topP", 0, 1), ("maxTokens", 1, 1 << 31)):
        value = config.get(name)
        if value is not None and not (isinstance(value, int | float) and low <= value <= high):
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value '{value}' at "
                f"'inferenceConfig.{name}' failed to satisfy constraint: Member must be in [{low}, {high}]",
            )
    stops = config.get("stopSequences", [])
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise ApiError("ValidationException", "inferenceConfig.stopSequences must be non-empty strings")


def tools_of(config: Any) -> list[JSON]:
    if config is None:
        return []
    tools = config.get("tools") if isinstance(config, dict) else None
    if not isinstance(tools, list) or not tools:
        raise ApiError("ValidationException", "toolConfig.tools must have at least one tool")
    specs = []
    for k, tool in enumerate(tools):
        spec = tool.get(_one_member(tool, f"toolConfig.tools.{k}", {"toolSpec"}))
        schema = (spec.get("inputSchema") or {}).get("json")
        if not spec.get("name") or not isinstance(schema, dict) or spec.get("description") == "":
            raise ApiError("ValidationException", f"toolConfig.tools.{k}.toolSpec needs name and inputSchema.json")
        specs.append(spec)
    if "toolChoice" in config:
        kind = _one_member(config["toolChoice"], "toolChoice", {"auto", "any", "tool"})
        if kind == "tool" and config["toolChoice"]["tool"].get("name") not in {s["name"] for s in specs}:
            raise ApiError("ValidationException", "toolChoice.tool.name must be one of the tools")
    return specs
