"""The signed webhook channel: Standard Webhooks headers checked by the reference library."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from revflow.alerts.channels.base import Recipient, RecipientKind
from revflow.alerts.channels.webhook import WebhookChannel
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError
from revflow.alerts.settings import WebhookChannelSettings
from revflow.connectors.signing import generate_secret
from tests.channelkit import OWNER, catcher, sample_message

SECRET = generate_secret()


def _channel(url: str, http: httpx.AsyncClient) -> WebhookChannel:
    return WebhookChannel(WebhookChannelSettings(url=url, secret=SecretStr(SECRET)), http)


async def test_events_are_signed_and_verify_with_the_standard_webhooks_library() -> None:
    async with catcher() as hook, httpx.AsyncClient() as http:
        await _channel(hook.url, http).send(sample_message(), OWNER)
    (caught,) = hook.requests
    headers = {k.lower(): v for k, v in caught.headers.items()}
    event = Webhook(SECRET).verify(caught.raw, headers)  # raises on a bad signature
    assert event["type"] == "alert.step_fallout"
    assert event["timestamp"] == "2026-12-03T12:00:00+00:00"
    data = event["data"]
    assert (data["alert_id"], data["order_id"], data["plan_url"]) == (
        42,
        "8015e00000Q7mNpAAJ",
        "http://revflow.test/console/plans/7",
    )
    assert data["error_message"] == "customer VAT number missing"
    assert data["recipient"]["email"] == "ada@example.test"
    assert data["facts"] == {"Connector": "tryton"}
    with pytest.raises(Exception):  # noqa: B017 - any verification failure will do
        Webhook(generate_secret()).verify(caught.raw, headers)


async def test_a_retry_keeps_its_webhook_id_another_recipient_gets_another() -> None:
    async with catcher() as hook, httpx.AsyncClient() as http:
        hook.script = [(502, "bad gateway", {})]
        channel = _channel(hook.url, http)
        with pytest.raises(RetryableDeliveryError):
            await channel.send(sample_message(), OWNER)
        await channel.send(sample_message(), OWNER)
        await channel.send(sample_message(), Recipient(RecipientKind.ON_CALL, "pager"))
    ids = [r.headers["webhook-id"] for r in hook.requests]
    assert ids[0] == ids[1] != ids[2]


async def test_an_unconfigured_webhook_is_a_permanent_failure() -> None:
    async with httpx.AsyncClient() as http:
        channel = WebhookChannel(WebhookChannelSettings(url="http://127.0.0.1:9/x"), http)
        with pytest.raises(PermanentDeliveryError, match="no URL or secret"):
            await channel.send(sample_message(), OWNER)
