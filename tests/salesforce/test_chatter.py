"""The Chatter feed item Revflow posts: mentions, text and link within Salesforce's limits."""

from __future__ import annotations

from revflow.salesforce.chatter import feed_item

USER = "0055e000002DeMoAAK"


def test_mentions_come_first_each_followed_by_a_space_then_text_and_link() -> None:
    item = feed_item("8015e00000Q7mNpAAJ", "Order failed", [USER], "https://rf.test/p/1")
    assert item["feedElementType"] == "FeedItem" and item["subjectId"] == "8015e00000Q7mNpAAJ"
    assert item["body"]["messageSegments"] == [
        {"type": "Mention", "id": USER},
        {"type": "Text", "text": " "},
        {"type": "Text", "text": "Order failed"},
        {"type": "Text", "text": "\n"},
        {"type": "Link", "url": "https://rf.test/p/1"},
    ]


def test_a_long_text_and_many_mentions_are_cut_to_the_limits() -> None:
    item = feed_item("8015e00000Q7mNpAAJ", "x" * 20_000, [USER] * 30, "https://rf.test/p/1")
    segments = item["body"]["messageSegments"]
    assert sum(s["type"] == "Mention" for s in segments) == 25
    text = "".join(s.get("text", "") + s.get("url", "") for s in segments)
    assert len(text) + 19 * 25 <= 10_000  # a mention renders as "@Name", ids are 18
