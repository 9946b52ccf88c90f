"""Slack incoming webhooks: the alert as a Block Kit message.

The message has a header (what happened), a section with the summary and the
order, account, step and cause as fields, buttons to open the plan and to
acknowledge, and a context line (severity, rule, recipient).  ``text`` is always
sent too: Slack shows it in notifications and where blocks cannot be rendered.
Success is HTTP 200 with the body ``ok``; 429 carries ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

import httpx

from revflow.alerts.channels.base import Recipient
from revflow.alerts.channels.http import post_json
from revflow.alerts.channels.webhook_urls import webhook_url
from revflow.alerts.message import AlertMessage
from revflow.alerts.settings import SlackChannelSettings

HEADER_MAX = 150  # Block Kit: a header's plain_text
FIELD_MAX = 2000  # a section field's text
SECTION_MAX = 3000  # a section's text
_ICONS = {"info": ":information_source:", "warning": ":warning:", "error": ":x:"}


def escape(text: str) -> str:
    """Slack's mrkdwn control characters as entities (a ``<`` would start a link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(message: AlertMessage, recipient: Recipient) -> dict[str, Any]:
    """The incoming-webhook body for ``message``: ``text`` plus Block Kit ``blocks``."""
    fields = []
    if message.order_label:
        order = message.order_label
        if message.order_id and message.order_number:
            order += f" ({message.order_id})"
        fields.append(("Order", order))
    for label, value in (
        ("Account", message.account),
        ("Step", message.step),
        ("Why", message.why()),
    ):
        if value:
            fields.append((label, value))
    fields += list(message.facts)
    if message.occurrences > 1:
        fields.append(("Seen", f"{message.occurrences} times"))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(message.title, HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(escape(message.summary), SECTION_MAX)},
        },
    ]
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _clip(f"*{label}*\n{escape(value)}", FIELD_MAX)}
                    for label, value in fields[:10]  # Block Kit allows 10 fields
                ],
            }
        )
    buttons = []
    if message.plan_url:
        buttons.append(_button("Open the plan", message.plan_url, "open_plan", primary=True))
    if message.ack_url:
        buttons.append(_button("Acknowledge", message.ack_url, "acknowledge"))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    icon = _ICONS.get(message.severity.value, ":rotating_light:")
    context = f"{icon} {message.severity.value} · rule {escape(message.rule)}"
    context += f" · for {escape(recipient.name)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    text = message.title
    if message.plan_url:
        text += f" <{message.plan_url}|Open the plan>"
    return {"text": text, "blocks": blocks}


def _button(label: str, url: str, action_id: str, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "url": url,
        "action_id": action_id,
    }
    if primary:
        button["style"] = "primary"
    return button


class SlackChannel:
    """Posts alerts to a Slack incoming webhook."""

    name = "slack"

    def __init__(self, settings: SlackChannelSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, recipient: Recipient) -> None:
        url = webhook_url(self.name, self.settings.webhook_url, self.settings.webhooks, recipient)
        await post_json(
            self.http,
            url,
            slack_payload(message, recipient),
            channel=self.name,
            timeout_s=self.settings.timeout_s,
        )
