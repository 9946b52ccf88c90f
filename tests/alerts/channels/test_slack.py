"""The Slack channel against a loopback server answering like a Slack incoming webhook."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from revflow.alerts.channels.base import Recipient, RecipientKind
from revflow.alerts.channels.slack import SlackChannel
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError
from revflow.alerts.settings import SlackChannelSettings
from tests.channelkit import OWNER, catcher, sample_message


def _channel(url: str | None, **named: str) -> tuple[SlackChannel, httpx.AsyncClient]:
    http = httpx.AsyncClient()
    settings = SlackChannelSettings(
        webhook_url=SecretStr(url) if url else None,
        webhooks={k: SecretStr(v) for k, v in named.items()},
    )
    return SlackChannel(settings, http), http


async def test_a_block_kit_message_says_what_which_order_why_and_links_the_plan() -> None:
    async with catcher("slack") as slack:
        channel, http = _channel(slack.url)
        async with http:
            await channel.send(sample_message(), OWNER)
    (caught,) = slack.requests
    assert caught.headers["Content-Type"] == "application/json"
    body = caught.json
    assert body["text"].startswith("Step erp.create failed on order 00000123")
    assert "<http://revflow.test/console/plans/7|Open the plan>" in body["text"]
    header, summary, fields, actions, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Step erp.create failed on order 00000123"},
    }
    assert summary["type"] == "section" and summary["text"]["type"] == "mrkdwn"
    assert "ERP refused the sales order" in summary["text"]["text"]
    texts = [f["text"] for f in fields["fields"]]
    assert all(f["type"] == "mrkdwn" for f in fields["fields"])
    assert "*Order*\n00000123 (8015e00000Q7mNpAAJ)" in texts
    assert "*Why*\nValidationError: customer VAT number missing" in texts
    assert "*Account*\nAcme &lt;GmbH&gt; &amp; Co" in texts  # mrkdwn escaped
    assert "*Connector*\ntryton" in texts
    assert actions["type"] == "actions"
    assert [(b["type"], b["text"]["text"], b["url"]) for b in actions["elements"]] == [
        ("button", "Open the plan", "http://revflow.test/console/plans/7"),
        ("button", "Acknowledge", "http://revflow.test/alerts/ack?token=abc"),
    ]
    assert context["type"] == "context" and "Ada Lovelace" in context["elements"][0]["text"]


async def test_a_message_without_links_has_no_buttons_and_a_long_title_is_clipped() -> None:
    async with catcher("slack") as slack:
        channel, http = _channel(slack.url)
        async with http:
            message = sample_message(title="x" * 400, plan_url=None, ack_url=None)
            await channel.send(message, OWNER)
    blocks = slack.requests[0].json["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    assert len(blocks[0]["text"]["text"]) == 150


async def test_a_named_webhook_is_chosen_by_the_recipients_address() -> None:
    async with catcher("slack") as default, catcher("slack") as finance:
        channel, http = _channel(default.url, finance=finance.url)
        team = Recipient(RecipientKind.TEAM, "finance-ops", address="finance")
        async with http:
            await channel.send(sample_message(), team)
            with pytest.raises(PermanentDeliveryError, match="no webhook named 'sales'"):
                await channel.send(
                    sample_message(), Recipient(RecipientKind.TEAM, "x", address="sales")
                )
    assert len(finance.requests) == 1 and default.requests == []


async def test_rate_limits_and_server_errors_are_retried_revoked_hooks_are_not() -> None:
    async with catcher("slack") as slack:
        slack.script = [
            (429, "rate_limited", {"Retry-After": "7"}),
            (500, "rollup_error", {}),
            (404, "no_service", {}),
            (410, "channel_is_archived", {}),
            (400, "invalid_blocks", {}),
        ]
        channel, http = _channel(slack.url)
        async with http:
            with pytest.raises(RetryableDeliveryError) as limited:
                await channel.send(sample_message(), OWNER)
            assert limited.value.retry_after_s == 7.0
            with pytest.raises(RetryableDeliveryError, match="rollup_error"):
                await channel.send(sample_message(), OWNER)
            for reason in ("no_service", "channel_is_archived", "invalid_blocks"):
                with pytest.raises(PermanentDeliveryError, match=reason) as refused:
                    await channel.send(sample_message(), OWNER)
                assert slack.url not in str(refused.value)  # the URL is a secret


async def test_an_unreachable_server_is_retryable_and_no_url_is_permanent() -> None:
    async with catcher("slack") as slack:
        url = slack.url
    channel, http = _channel(url)  # the server is gone: connection refused
    async with http:
        with pytest.raises(RetryableDeliveryError, match="ConnectError"):
            await channel.send(sample_message(), OWNER)
    channel, http = _channel(None)
    async with http:
        with pytest.raises(PermanentDeliveryError, match="WEBHOOK_URL"):
            await channel.send(sample_message(), OWNER)
