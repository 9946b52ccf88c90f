"""The demo's Slack/Teams-style webhooks and SMTP sink, with Revflow's channels sending."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from revflow.alerts.channels.email import EmailChannel
from revflow.alerts.channels.slack import SlackChannel
from revflow.alerts.channels.teams import TeamsChannel
from revflow.alerts.errors import PermanentDeliveryError
from revflow.alerts.settings import (
    EmailChannelSettings,
    SlackChannelSettings,
    TeamsChannelSettings,
)
from revflow.sandbox.inbox import ChatInbox, MailSink
from revflow.sandbox.server import start_inbox
from tests.channelkit import OWNER, sample_message


async def test_slack_and_teams_posts_are_kept_and_bad_ones_refused_as_slack_would() -> None:
    inbox = ChatInbox()
    server = await start_inbox(inbox)
    base = server.base_url
    try:
        async with httpx.AsyncClient() as http:
            slack = SlackChannel(
                SlackChannelSettings(webhook_url=SecretStr(f"{base}/slack/ops")), http
            )
            teams = TeamsChannel(
                TeamsChannelSettings(webhook_url=SecretStr(f"{base}/teams/ops")), http
            )
            await slack.send(sample_message(), OWNER)
            await teams.send(sample_message(), OWNER)
            empty = await http.post(f"{base}/slack/ops", json={"username": "x"})
            junk = await http.post(
                f"{base}/slack/ops", content=b"{", headers={"Content-Type": "application/json"}
            )
            legacy = await http.post(f"{base}/teams/ops", json={"text": "a MessageCard"})
            listed = await http.get(f"{base}/_inbox/messages")
            bad = SlackChannel(SlackChannelSettings(webhook_url=SecretStr(f"{base}/nowhere")), http)
            with pytest.raises(PermanentDeliveryError, match="404"):
                await bad.send(sample_message(), OWNER)
    finally:
        await server.close()
    assert (empty.status_code, empty.text) == (400, "no_text")
    assert (junk.status_code, junk.text) == (400, "invalid_payload")
    assert legacy.status_code == 400
    assert [(p.service, p.hook) for p in inbox.posts] == [("slack", "ops"), ("teams", "ops")]
    assert inbox.of("slack", "ops")[0].body["blocks"][0]["type"] == "header"
    assert [m["service"] for m in listed.json()] == ["slack", "teams"]


async def test_the_mail_sink_keeps_what_the_email_channel_sends() -> None:
    sink = MailSink()
    await asyncio.to_thread(sink.start)
    try:
        settings = EmailChannelSettings(host="127.0.0.1", port=sink.port, sender="rf@demo.test")
        await EmailChannel(settings).send(sample_message(), OWNER)
    finally:
        await asyncio.to_thread(sink.stop)
    (mail,) = sink.mails
    assert mail.recipients == ["ada@example.test"]
    assert "Step erp.create failed" in str(mail.message["Subject"])
