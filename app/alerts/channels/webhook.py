"""A generic webhook for alerts, signed per Standard Webhooks like the ERP webhooks.

The body is ``{"type": "alert.<kind>", "timestamp", "data": {...}}`` with every
field of the message and the recipient; the headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` are made by ``revflow.connectors.
signing``.  The ``webhook-id`` is the same on every retry of one delivery (alert,
occurrence, recipient), so a receiver can drop duplicates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import httpx

from revflow.alerts.channels.base import Recipient
from revflow.alerts.channels.http import post_json
from revflow.alerts.errors import PermanentDeliveryError
from revflow.alerts.message import AlertMessage
from revflow.alerts.settings import WebhookChannelSettings
from revflow.connectors.signing import sign
from revflow.connectors.webhook import webhook_id_for


def webhook_event(message: AlertMessage, recipient: Recipient) -> dict[str, Any]:
    """The JSON event for one alert to one recipient."""
    data: dict[str, Any] = {
        "alert_id": message.alert_id,
        "rule": message.rule,
        "kind": message.kind.value,
        "severity": message.severity.value,
        "title": message.title,
        "summary": message.summary,
        "occurrences": message.occurrences,
        "order_id": message.order_id,
        "order_number": message.order_number,
        "account": message.account,
        "step": message.step,
        "error_class": message.error_class,
        "error_message": message.error_message,
        "plan_id": message.plan_id,
        "plan_url": message.plan_url,
        "ack_url": message.ack_url,
        "facts": dict(message.facts),
        "recipient": {
            "kind": recipient.kind.value,
            "name": recipient.name,
            "email": recipient.email,
            "salesforce_user_id": recipient.salesforce_user_id,
        },
    }
    return {
        "type": f"alert.{message.kind.value}",
        "timestamp": message.created_at.astimezone(UTC).isoformat(),
        "data": data,
    }


def delivery_key(message: AlertMessage, recipient: Recipient) -> str:
    """What stays the same across retries of one delivery."""
    return f"alert-{message.alert_id}-{message.occurrences}-{recipient.kind.value}-{recipient.name}"


class WebhookChannel:
    """POSTs signed alert events to one configured URL."""

    name = "webhook"

    def __init__(
        self,
        settings: WebhookChannelSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock

    def build(
        self, message: AlertMessage, recipient: Recipient, now: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The signed body and headers of one attempt."""
        if not self.settings.configured or self.settings.secret is None:
            raise PermanentDeliveryError(
                "webhook: no URL or secret configured (REVFLOW_ALERTS__WEBHOOK__URL, __SECRET)"
            )
        timestamp = int(self.clock() if now is None else now)
        body = json.dumps(webhook_event(message, recipient), separators=(",", ":")).encode()
        msg_id = webhook_id_for(delivery_key(message, recipient))
        secret = self.settings.secret.get_secret_value()
        return body, {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(msg_id, timestamp, body, [secret]),
        }

    async def send(self, message: AlertMessage, recipient: Recipient) -> None:
        body, headers = self.build(message, recipient)
        await post_json(
            self.http,
            self.settings.url,
            None,
            channel=self.name,
            timeout_s=self.settings.timeout_s,
            headers=headers,
            content=body,
        )
