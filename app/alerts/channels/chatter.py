"""Alerts and comments as Chatter posts on the Order (Connect REST ``chatter/feed-elements``).

The body is message segments: the text, an @-mention of the recipient's User when
it has one (Salesforce adds no spaces around mentions, so the text segments carry
them), and a link to the plan.  Posts are capped at 10,000 characters and 25
mentions.  ``post_to_record`` is also what mirrors a comment to its Order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from revflow.alerts.channels.base import Recipient
from revflow.alerts.channels.salesforce import clip, delivery_error
from revflow.alerts.errors import PermanentDeliveryError
from revflow.alerts.message import AlertMessage
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError

FEED_ELEMENTS = "chatter/feed-elements"
POST_MAX = 10_000


def feed_item(
    subject_id: str, text: str, mention_ids: Sequence[str] = (), link: str | None = None
) -> dict[str, Any]:
    """A ``FeedItemInput``: mentions first, then the text, then the link."""
    segments: list[dict[str, Any]] = []
    for user_id in list(mention_ids)[:25]:
        segments += [{"type": "Mention", "id": user_id}, {"type": "Text", "text": " "}]
    reserve = len(link or "") + 2 + 19 * len(segments)
    segments.append({"type": "Text", "text": clip(text, POST_MAX - reserve)})
    if link:
        segments += [{"type": "Text", "text": "\n"}, {"type": "Link", "url": link}]
    return {
        "body": {"messageSegments": segments},
        "feedElementType": "FeedItem",
        "subjectId": subject_id,
    }


async def post_to_record(
    client: SalesforceClient,
    subject_id: str,
    text: str,
    mention_ids: list[str] | None = None,
    link: str | None = None,
) -> str:
    """Post on a record's feed; the new feed item's id (raises SalesforceError)."""
    body = feed_item(subject_id, text, mention_ids or [], link)
    created = await client.request("POST", FEED_ELEMENTS, json=body)
    return str(created["id"])


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
