"""Microsoft Teams incoming webhooks (Workflows, or a legacy connector): an Adaptive Card.

The envelope is the documented one, the same for both kinds of URL: a ``message``
with one ``application/vnd.microsoft.card.adaptive`` attachment.  The card holds the
title, the summary, a FactSet (order, account, step, why, severity, rule) and
``Action.OpenUrl`` buttons for the plan and the acknowledge link.  Any 2xx is
accepted (Workflows answers 202 and runs the flow later); a legacy connector may
report throttling in a 200 body ("...HTTP error 429"), which is retried.
"""

from __future__ import annotations

from typing import Any

import httpx

from revflow.alerts.channels.base import Recipient
from revflow.alerts.channels.http import post_json
from revflow.alerts.channels.webhook_urls import webhook_url
from revflow.alerts.errors import RetryableDeliveryError
from revflow.alerts.message import AlertMessage
from revflow.alerts.settings import TeamsChannelSettings

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
_COLORS = {"info": "Accent", "warning": "Warning", "error": "Attention", "critical": "Attention"}


def teams_payload(message: AlertMessage, recipient: Recipient) -> dict[str, Any]:
    """The webhook body: a ``message`` whose one attachment is the alert's Adaptive Card."""
    facts = []
    if message.order_label:
        order = message.order_label
        if message.order_id and message.order_number:
            order += f" ({message.order_id})"
        facts.append(("Order", order))
    for label, value in (
        ("Account", message.account),
        ("Step", message.step),
        ("Why", message.why()),
    ):
        if value:
            facts.append((label, value))
    facts += list(message.facts)
    if message.occurrences > 1:
        facts.append(("Seen", f"{message.occurrences} times"))
    facts += [("Severity", message.severity.value), ("Rule", message.rule), ("For", recipient.name)]
    actions = []
    if message.plan_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open the plan", "url": message.plan_url}
        )
    if message.ack_url:
        actions.append({"type": "Action.OpenUrl", "title": "Acknowledge", "url": message.ack_url})
    card: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": message.title,
                "size": "Large",
                "weight": "Bolder",
                "color": _COLORS.get(message.severity.value, "Default"),
                "wrap": True,
            },
            {"type": "TextBlock", "text": message.summary, "wrap": True},
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
        ],
        "actions": actions,
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


class TeamsChannel:
    """Posts alerts to a Microsoft Teams webhook as Adaptive Cards."""

    name = "teams"

    def __init__(self, settings: TeamsChannelSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, recipient: Recipient) -> None:
        url = webhook_url(self.name, self.settings.webhook_url, self.settings.webhooks, recipient)
        response = await post_json(
            self.http,
            url,
            teams_payload(message, recipient),
            channel=self.name,
            timeout_s=self.settings.timeout_s,
        )
        if "429" in response.text[:300]:  # a legacy connector's throttling, inside a 200
            raise RetryableDeliveryError(f"teams throttled the post: {response.text[:200]}")
