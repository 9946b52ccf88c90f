"""Which channels the service builds from REVFLOW_ALERTS__*: configured ones only."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from revflow.alerts.channels.registry import build_channels
from revflow.alerts.settings import (
    AlertSettings,
    SalesforceChannelSettings,
    SlackChannelSettings,
    TeamsChannelSettings,
    WebhookChannelSettings,
)
from revflow.config import SalesforceSettings
from revflow.connectors.signing import generate_secret
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.client import SalesforceClient


async def test_only_configured_channels_are_built() -> None:
    sf = SalesforceClient(TokenProvider(SalesforceSettings()), "62.0", "revflow")
    url = SecretStr("http://127.0.0.1:9/hook")
    everything = AlertSettings(
        slack=SlackChannelSettings(webhook_url=url),
        teams=TeamsChannelSettings(webhooks={"ops": url}),
        webhook=WebhookChannelSettings(
            url=url.get_secret_value(), secret=SecretStr(generate_secret())
        ),
        salesforce=SalesforceChannelSettings(enabled=True),
    )
    async with httpx.AsyncClient() as http:
        assert build_channels(AlertSettings(), http=http, salesforce=sf) == {}
        built = build_channels(everything, http=http, salesforce=sf)
        assert sorted(built) == ["chatter", "salesforce", "slack", "teams", "webhook"]
        assert all(channel.name == name for name, channel in built.items())
        no_org = build_channels(everything, http=http)
        assert sorted(no_org) == ["slack", "teams", "webhook"]
    await sf.aclose()
