"""POSTing an alert over HTTP: one attempt, and what its answer means for retrying.

Shared by the Slack, Teams and webhook channels.  A network error, HTTP 408, 429 or
5xx is retryable (``Retry-After`` is passed on as the hint); any other 4xx is
permanent: the URL is revoked, the channel archived, or the payload refused.
URLs are secrets (a Slack or Teams webhook URL carries its token), so messages name
the channel, never the URL.
"""

from __future__ import annotations

from typing import Any

import httpx

from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError

RETRYABLE_STATUSES = frozenset({408, 425, 429})


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    channel: str,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST ``payload`` (or the ready ``content``) as JSON; raise a delivery error unless 2xx."""
    try:
        response = await client.post(
            url,
            json=payload if content is None else None,
            content=content,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise RetryableDeliveryError(f"{channel}: {type(exc).__name__} {exc}".rstrip()) from exc
    raise_for_answer(response, channel)
    return response


def raise_for_answer(response: httpx.Response, channel: str) -> None:
    """Nothing for a 2xx; else the delivery error its status means."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = f"{channel} answered HTTP {status}: {response.text.strip()[:200]}".rstrip(": ")
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableDeliveryError(detail, retry_after_s=retry_after(response))
    raise PermanentDeliveryError(detail)


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (HTTP dates are ignored), if any."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
