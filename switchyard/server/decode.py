"""Reading and decoding request bodies: size limit first, then JSON, then the schema."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec
from starlette.requests import Request

from switchyard.errors import InvalidRequestError, PayloadTooLargeError

T = TypeVar("T")

_AT = re.compile(r" - at `\$\.?([^`]*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


async def read_body(request: Request, limit: int) -> bytes:
    # Straight from the ASGI messages: Starlette's headers object and stream generator cost more than the read.
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            # Leading zeros stripped first: the HTTP parser accepts thousands of them, int() refuses > 4300 digits
            # (and more than 18 digits is over an exabyte: too large for any limit, without parsing it).
            value = value.lstrip(b"0")
            if value.isdigit() and (len(value) > 18 or int(value) > limit):
                raise _too_large(limit)
            break
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: nobody is left to answer
            raise InvalidRequestError("The client disconnected before the request body was complete.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def decode(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    if not body:
        raise InvalidRequestError("The request body is empty. Send a JSON object with Content-Type: application/json.")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _AT.search(text)
        param = match.group(1) if match else None
        message = _AT.sub("", text)
        missing = _MISSING.search(message)
        if missing:
            param = f"{param}.{missing.group(1)}" if param else missing.group(1)
        param = param or None
        raise InvalidRequestError(
            f"Invalid request: {message}" + (f" (at '{param}')" if param else ""), param=param
        ) from None
    except msgspec.DecodeError:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. Send a valid JSON object."
        ) from None


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body exceeds the limit of {limit} bytes.")
