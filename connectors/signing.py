"""Standard Webhooks signatures (https://www.standardwebhooks.com/), HMAC-SHA256 ``v1``.

The signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; the
``webhook-signature`` header holds one ``v1,<base64>`` entry per secret,
space-separated, so a secret can be rotated by signing with old and new for a while.
Secrets are ``whsec_<base64 key>``; as in the reference library, the prefix is
optional and the rest is always base64-decoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SECRET_PREFIX",
    "SignatureError",
    "decode_secret",
    "generate_secret",
    "sign",
    "verify",
]

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300
Secret = str | bytes


class SignatureError(Exception):
    """A delivery whose headers are missing, stale or match no secret."""


def generate_secret(num_bytes: int = 32) -> str:
    """A fresh random secret in ``whsec_<base64>`` form."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(num_bytes)).decode()


def decode_secret(secret: Secret) -> bytes:
    """The HMAC key of a ``whsec_`` string (or a raw key given as bytes)."""
    if isinstance(secret, bytes):
        key = secret
    else:
        text = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except binascii.Error as exc:
            raise ValueError("webhook secret is not whsec_<base64>") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, content, hashlib.sha256).digest()


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[Secret]) -> str:
    """The ``webhook-signature`` header value: one ``v1,<b64>`` entry per secret."""
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    return " ".join(
        "v1," + base64.b64encode(_signature(decode_secret(s), msg_id, timestamp, body)).decode()
        for s in secrets
    )


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[Secret],
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check a delivery's signature and return its ``webhook-id``.

    Raises ``SignatureError`` if a header is missing, the timestamp is more than
    ``tolerance_s`` away from ``now`` (default: the clock), or no ``v1`` entry
    matches any of ``secrets`` (compared in constant time).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    ts_text = lower.get("webhook-timestamp")
    sig_header = lower.get("webhook-signature")
    if not (msg_id and ts_text and sig_header):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(ts_text)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise SignatureError("webhook-timestamp is too old")
    if timestamp > current + tolerance_s:
        raise SignatureError("webhook-timestamp is too new")

    offered: list[bytes] = []
    for entry in sig_header.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            offered.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    for secret in secrets:
        expected = _signature(decode_secret(secret), msg_id, timestamp, body)
        # Compare against every entry so timing does not reveal which one matched.
        matched = [hmac.compare_digest(expected, sig) for sig in offered]
        if any(matched):
            return msg_id
    raise SignatureError("no matching v1 signature")
