"""Random tokens and their hashes: what Revflow hands out is never stored as such."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` of entropy."""
    return secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 (hex) of a high-entropy token: enough for lookups, nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, expected_digest: str) -> bool:
    """``token`` hashes to ``expected_digest`` (compared in constant time)."""
    return hmac.compare_digest(digest(token), expected_digest)
