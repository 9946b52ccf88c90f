"""The channels Revflow can send alerts on, built from ``REVFLOW_ALERTS__*``.

A channel that is not configured is left out: a delivery on it fails permanently
with "channel ... is not configured", which shows in the alert's history.
"""

from __future__ import annotations

from typing import Any

import httpx

from revflow.alerts.channels.base import Channel
from revflow.alerts.channels.email import EmailChannel
from revflow.alerts.settings import AlertSettings


def build_channels(
    settings: AlertSettings,
    *,
    http: httpx.AsyncClient | None = None,
    salesforce: Any = None,
) -> dict[str, Channel]:
    """Every configured channel by name.  ``http`` is the service's HTTP client (for the
    webhook-based channels), ``salesforce`` its ``SalesforceClient`` (notifications,
    Chatter)."""
    channels: dict[str, Channel] = {}
    if settings.email.configured:
        channels["email"] = EmailChannel(settings.email)
    return channels
