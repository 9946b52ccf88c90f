"""Alerts as Chatter posts on the Order (``revflow.salesforce.chatter``): an
``@``-mention of the recipient's User when it has one, the title, summary and cause,
and a link to the plan."""

from __future__ import annotations

from revflow.alerts.channels.base import Recipient
from revflow.alerts.channels.salesforce import delivery_error
from revflow.alerts.errors import PermanentDeliveryError
from revflow.alerts.message import AlertMessage
from revflow.salesforce.chatter import post_to_record
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError


class ChatterChannel:
    """Posts alerts on the Order's Chatter feed, mentioning the recipient."""

    name = "chatter"

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    async def send(self, message: AlertMessage, recipient: Recipient) -> None:
        if not message.order_id:
            raise PermanentDeliveryError("chatter: the alert names no Order to post on")
        text = f"{message.title}\n{message.summary}"
        if message.why():
            text += f"\nWhy: {message.why()}"
        mentions = [recipient.salesforce_user_id] if recipient.salesforce_user_id else []
        try:
            await post_to_record(self.client, message.order_id, text, mentions, message.plan_url)
        except SalesforceError as exc:
            raise delivery_error(exc, "Chatter post") from exc
