"""Chatter posts on a record's feed (Connect REST ``chatter/feed-elements``).

The body is message segments: ``@``-mentions first (Salesforce adds no spaces around
them, so a text segment carries one), then the text, then a link.  Posts are capped
at 10,000 characters and 25 mentions.  Used by the ``chatter`` alert channel and by
the comments' Chatter mirror.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from revflow.salesforce.client import SalesforceClient

FEED_ELEMENTS = "chatter/feed-elements"
POST_MAX = 10_000
MENTIONS_MAX = 25


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def feed_item(
    subject_id: str, text: str, mention_ids: Sequence[str] = (), link: str | None = None
) -> dict[str, Any]:
    """A ``FeedItemInput`` on ``subject_id``: mentions, the text (clipped), the link."""
    segments: list[dict[str, Any]] = []
    for user_id in list(mention_ids)[:MENTIONS_MAX]:
        segments += [{"type": "Mention", "id": user_id}, {"type": "Text", "text": " "}]
    reserve = len(link or "") + 2 + 19 * len(segments)
    segments.append({"type": "Text", "text": _clip(text, POST_MAX - reserve)})
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
    mention_ids: Sequence[str] = (),
    link: str | None = None,
) -> str:
    """Post on a record's feed; the new feed item's id (raises SalesforceError)."""
    created = await client.request(
        "POST", FEED_ELEMENTS, json=feed_item(subject_id, text, mention_ids, link)
    )
    return str(created["id"])
