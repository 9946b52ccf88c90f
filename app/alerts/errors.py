"""Errors of alert delivery and alert rules.

A channel raises ``RetryableDeliveryError`` when trying again later may work (a 4xx
SMTP reply, an HTTP 429 or 5xx, a network error) and ``PermanentDeliveryError`` when
it will not (a 5xx SMTP reply, an HTTP 404/410, a channel that is not configured).
"""

from __future__ import annotations


class AlertDeliveryError(Exception):
    """A message could not be delivered; the message says why (never a secret)."""


class RetryableDeliveryError(AlertDeliveryError):
    """Delivery failed for now; ``retry_after_s`` is the server's hint, if it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(AlertDeliveryError):
    """Delivery will not succeed by retrying (bad address, revoked webhook, no settings)."""


class AlertRuleError(Exception):
    """A problem in an alert rules file; the message names file:line:col and key."""
