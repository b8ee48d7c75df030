"""Stream keys: secret, URL-safe, compared in constant time."""

from __future__ import annotations

import hmac
import secrets

KEY_BYTES = 32  # 43 URL-safe characters


def new_stream_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def keys_match(given: str, stored: str) -> bool:
    return hmac.compare_digest(given.encode(), stored.encode())
