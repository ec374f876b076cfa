"""Turning image inputs into bytes, for providers that need images inline rather than by URL."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from switchyard.errors import InvalidRequestError
from switchyard.transport.guarded import GuardedFetcher

SUPPORTED = ("image/png", "image/jpeg", "image/gif", "image/webp")


@dataclass(frozen=True, slots=True)
class InlineImage:
    media_type: str
    data: bytes

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode()


def parse_data_url(url: str, max_bytes: int) -> InlineImage | None:
    """A ``data:`` URL's bytes; None for any other URL. Malformed data URLs are the caller's 400."""
    if not url.startswith("data:"):
        return None
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise InvalidRequestError("malformed data URL: no comma before the data", param="messages")
    media_type, *params = header.split(";")
    try:
        data = base64.b64decode(payload, validate=True) if "base64" in params else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("malformed data URL: the data is not valid base64", param="messages") from None
    if len(data) > max_bytes:
        raise InvalidRequestError(f"image is larger than the {max_bytes}-byte limit", param="messages")
    return InlineImage(_checked(media_type or "text/plain"), data)


async def load_image(url: str, fetcher: GuardedFetcher, max_bytes: int) -> InlineImage:
    """Bytes for an image given as a data URL or an http(s) URL (fetched with the SSRF guard)."""
    inline = parse_data_url(url, max_bytes)
    if inline is not None:
        return inline
    content_type, data = await fetcher.get(url)
    return InlineImage(_checked(content_type or _sniff(data)), data)


def _checked(media_type: str) -> str:
    media_type = media_type.lower()
    if media_type not in SUPPORTED:
        raise InvalidRequestError(
            f"unsupported image type {media_type!r}; use one of {', '.join(SUPPORTED)}", param="messages"
        )
    return media_type


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
