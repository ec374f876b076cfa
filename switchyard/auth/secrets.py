"""Virtual-key secrets: how they look, how they are hashed, how they are shown after creation."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sk-sy-"
# Characters after ``sk-sy-`` that identify a key in lists; 8 url-safe characters reveal 48 of its 256 bits.
SHOWN_CHARS = 8


def new_secret() -> str:
    """``sk-sy-`` and 32 random bytes, url-safe base64 (43 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 of the whole key, hex. A plain hash suffices: a key has 256 random bits, so there is nothing to
    guess, and every gateway instance can compute it without sharing another secret."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """What lists show of a key: ``sk-sy-`` and its first characters."""
    return key[: len(KEY_PREFIX) + SHOWN_CHARS]


def is_virtual(key: str) -> bool:
    return key.startswith(KEY_PREFIX)
