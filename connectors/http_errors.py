"""One classification of HTTP outcomes onto ``revflow.connectors.errors``, for every HTTP
connector (webhook, generic REST, NetSuite, SAP S/4HANA, QuickBooks, Xero) and the
OAuth token client.

    2xx                                  None (success)
    410                                  EndpointGoneError
    a status in ``ambiguous_statuses``   AmbiguousError (e.g. 504 after a create)
    429, 503                             RateLimitedError (Retry-After: seconds or HTTP date)
    408, other 5xx                       RetryableError
    other statuses                       FatalError

Transport failures: nothing sent (connect refused or timed out, pool timeout, proxy)
is ``RetryableError``; a malformed request or URL is ``FatalError``; anything after
the request went out is ``AmbiguousError``, or ``RetryableError`` for a request that
changes nothing (``safe=True``: a ``GET`` or a token request).

Connector-specific rules stay with the connector: 401 handling (drop the token and
retry), the target's own error text (``message=``).
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from revflow.connectors.errors import (
    AmbiguousError,
    ConnectorError,
    EndpointGoneError,
    FatalError,
    RateLimitedError,
    RetryableError,
)

__all__ = [
    "MAX_BODY_CHARS",
    "classify_response",
    "classify_transport",
    "parse_retry_after",
    "target_label",
]

MAX_BODY_CHARS = 2000


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def target_label(response: httpx.Response) -> str:
    """``HTTP <METHOD> <path>``: how messages with the target's own text name the call."""
    return f"HTTP {response.request.method} {response.request.url.path}"


def classify_response(
    response: httpx.Response,
    *,
    message: str | None = None,
    ambiguous_statuses: tuple[int, ...] = (),
    prefix: str = "",
) -> ConnectorError | None:
    """The error for a non-2xx ``response`` (see the table above); ``None`` for 2xx.

    ``message`` is the target's own error text: the error then reads
    ``HTTP <METHOD> <path> <status>: <message>``, else
    ``HTTP <status> from <url>: <body or reason>``.  ``prefix`` is put in front
    (e.g. ``"OAuth token request failed: "``).  ``details`` hold the raw body and,
    when it parses, its JSON.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    text = response.text[:MAX_BODY_CHARS]
    details: dict[str, Any] = {"body": text}
    with contextlib.suppress(ValueError):
        details["json"] = response.json()
    if message:
        what = f"{prefix}{target_label(response)} {status}: {message}"
    else:
        said = text or response.reason_phrase
        what = f"{prefix}HTTP {status} from {response.request.url}: {said}"
    if status == 410:
        return EndpointGoneError(what, status_code=status, details=details)
    if status in ambiguous_statuses:
        return AmbiguousError(what, status_code=status, details=details)
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimitedError(what, retry_after=retry_after, status_code=status, details=details)
    if status == 408 or status >= 500:
        return RetryableError(what, status_code=status, details=details)
    return FatalError(what, status_code=status, details=details)


def classify_transport(
    exc: httpx.TransportError, *, safe: bool = False, prefix: str = ""
) -> ConnectorError:
    """The error for a transport failure, by whether the request may have gone out.

    ``safe``: the request changes nothing (a read, a token request), so a failure
    after sending is retryable rather than ambiguous.
    """
    details = {"exception": type(exc).__name__}
    what = prefix + (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return RetryableError(what, details=details)  # nothing was sent
    if isinstance(exc, httpx.ProxyError):
        return RetryableError(what, details=details)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return FatalError(what, details=details)  # our request or URL is wrong
    # ReadTimeout, WriteTimeout, ReadError, WriteError, RemoteProtocolError, ...
    if safe:
        return RetryableError(what, details=details)
    return AmbiguousError(what, details=details)
