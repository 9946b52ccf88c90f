"""The channels Revflow can send alerts on, built from ``REVFLOW_ALERTS__*``.

A channel that is not configured is left out: a delivery on it fails permanently
with "channel ... is not configured", which shows in the alert's history.  Slack,
Teams and the webhook share the service's HTTP client; Salesforce notifications
and Chatter posts go through its Salesforce client (and need
``REVFLOW_ALERTS__SALESFORCE__ENABLED=true``).
"""

from __future__ import annotations

import httpx

from revflow.alerts.channels.base import Channel
from revflow.alerts.channels.chatter import ChatterChannel
from revflow.alerts.channels.email import EmailChannel
from revflow.alerts.channels.salesforce import SalesforceNotificationChannel
from revflow.alerts.channels.slack import SlackChannel
from revflow.alerts.channels.teams import TeamsChannel
from revflow.alerts.channels.webhook import WebhookChannel
from revflow.alerts.settings import AlertSettings
from revflow.salesforce.client import SalesforceClient


def build_channels(
    settings: AlertSettings,
    *,
    http: httpx.AsyncClient | None = None,
    salesforce: SalesforceClient | None = None,
) -> dict[str, Channel]:
    """Every configured channel by name.  ``http`` is the service's HTTP client (for the
    webhook-based channels), ``salesforce`` its ``SalesforceClient`` (notifications,
    Chatter)."""
    channels: dict[str, Channel] = {}
    if settings.email.configured:
        channels["email"] = EmailChannel(settings.email)
    if http is not None:
        if settings.slack.configured:
            channels["slack"] = SlackChannel(settings.slack, http)
        if settings.teams.configured:
            channels["teams"] = TeamsChannel(settings.teams, http)
        if settings.webhook.configured:
            channels["webhook"] = WebhookChannel(settings.webhook, http)
    if salesforce is not None and settings.salesforce.enabled:
        channels["salesforce"] = SalesforceNotificationChannel(settings.salesforce, salesforce)
        channels["chatter"] = ChatterChannel(salesforce)
    return channels
