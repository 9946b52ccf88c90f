"""Signed, expiring links that acknowledge an alert without logging in.

    token = sign(key, alert_id=7, expires=1767225600)      # "7.1767225600.<hmac>"
    alert_id = verify(key, token, now=time.time())         # LinkError if bad or expired

The token is ``<alert id>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`` over the
first two parts, keyed by ``REVFLOW_ALERTS__LINK_SECRET``.  It only acknowledges (stops
escalation); resolving needs the API or the console.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

ACK_PATH = "/api/alerts/ack"


class LinkError(Exception):
    """A link that is malformed, forged or expired (the message says which)."""


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, alert_id: int, expires: int) -> str:
    body = f"{alert_id}.{expires}"
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, token: str, now: float) -> int:
    """The alert id the token acknowledges."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise LinkError("malformed acknowledge link")
    if not hmac.compare_digest(_mac(key, f"{parts[0]}.{parts[1]}"), parts[2]):
        raise LinkError("acknowledge link signature does not match")
    if int(parts[1]) < now:
        raise LinkError("acknowledge link has expired")
    return int(parts[0])


def ack_url(public_url: str, key: bytes, alert_id: int, expires: int) -> str:
    return f"{public_url}{ACK_PATH}?token={quote(sign(key, alert_id, expires))}"
