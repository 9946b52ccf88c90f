"""The Teams channel against a loopback server answering like a Teams Workflows webhook."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from revflow.alerts.channels.teams import TeamsChannel
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError
from revflow.alerts.settings import TeamsChannelSettings
from tests.channelkit import OWNER, catcher, sample_message


def _channel(url: str, http: httpx.AsyncClient) -> TeamsChannel:
    return TeamsChannel(TeamsChannelSettings(webhook_url=SecretStr(url)), http)


async def test_the_adaptive_card_envelope_is_the_documented_one() -> None:
    async with catcher("teams") as teams, httpx.AsyncClient() as http:
        await _channel(teams.url, http).send(sample_message(), OWNER)
    body = teams.requests[0].json
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, summary, facts = card["body"]
    assert title["type"] == "TextBlock" and title["wrap"] is True
    assert title["text"] == "Step erp.create failed on order 00000123"
    assert summary["type"] == "TextBlock" and "ERP refused" in summary["text"]
    assert facts["type"] == "FactSet"
    pairs = {f["title"]: f["value"] for f in facts["facts"]}
    assert pairs["Order"] == "00000123 (8015e00000Q7mNpAAJ)"
    assert pairs["Why"] == "ValidationError: customer VAT number missing"
    assert pairs["For"] == "Ada Lovelace"
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open the plan",
            "url": "http://revflow.test/console/plans/7",
        },
        {
            "type": "Action.OpenUrl",
            "title": "Acknowledge",
            "url": "http://revflow.test/alerts/ack?token=abc",
        },
    ]


async def test_a_legacy_connector_throttling_inside_a_200_is_retried() -> None:
    async with catcher("teams") as teams, httpx.AsyncClient() as http:
        teams.script = [
            (200, "1", {}),
            (200, "Microsoft Teams endpoint returned HTTP error 429", {}),
            (403, "Forbidden", {}),
            (503, "busy", {"Retry-After": "30"}),
        ]
        channel = _channel(teams.url, http)
        await channel.send(sample_message(), OWNER)  # legacy success: body "1"
        with pytest.raises(RetryableDeliveryError, match="throttled"):
            await channel.send(sample_message(), OWNER)
        with pytest.raises(PermanentDeliveryError, match="403"):
            await channel.send(sample_message(), OWNER)
        with pytest.raises(RetryableDeliveryError) as busy:
            await channel.send(sample_message(), OWNER)
        assert busy.value.retry_after_s == 30.0
