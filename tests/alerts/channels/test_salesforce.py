"""The Salesforce notification and Chatter channels against the sandbox org."""

from __future__ import annotations

import pytest

from revflow.alerts.channels.base import Recipient, RecipientKind
from revflow.alerts.channels.chatter import ChatterChannel
from revflow.alerts.channels.salesforce import NotificationTypes, SalesforceNotificationChannel
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError
from revflow.alerts.settings import SalesforceChannelSettings
from revflow.sandbox.org import DEMO_USER_ID, SandboxOrg
from revflow.sandbox.server import start_org
from tests.channelkit import OWNER, sample_message
from tests.orgkit import Shop, settings_for, sf_client

SETTINGS = SalesforceChannelSettings(enabled=True)


async def test_the_owner_gets_one_bell_notification_on_the_order(org: SandboxOrg) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    channel = SalesforceNotificationChannel(SETTINGS, client)
    try:
        await channel.send(sample_message(order_id=order), OWNER)
        await channel.send(sample_message(order_id=order, alert_id=43), OWNER)
    finally:
        await client.aclose()
    first, second = org.notifications
    assert first["recipientIds"] == [DEMO_USER_ID]
    assert first["targetId"] == order
    assert first["title"] == "Step erp.create failed on order 00000123"
    assert "The ERP refused the sales order" in first["body"]
    assert "Why: ValidationError: customer VAT number missing" in first["body"]
    assert first["body"].endswith("Plan: http://revflow.test/console/plans/7")
    queries = [k for k in client.usage.by_kind if k.startswith("GET")]
    assert queries == ["GET query"] and client.usage.by_kind["GET query"] == 1  # type id cached
    assert second["customNotifTypeId"] == first["customNotifTypeId"]


async def test_a_long_summary_is_clipped_to_750_with_the_plan_link_whole(org: SandboxOrg) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        message = sample_message(order_id=order, summary="s" * 2000, title="t" * 300)
        await SalesforceNotificationChannel(SETTINGS, client).send(message, OWNER)
    finally:
        await client.aclose()
    (sent,) = org.notifications
    assert len(sent["title"]) == 250 and len(sent["body"]) == 750
    assert sent["body"].endswith("\nPlan: http://revflow.test/console/plans/7")


async def test_a_missing_notification_type_or_user_id_fails_permanently_and_clearly() -> None:
    org = SandboxOrg(set_up=False)
    org.missing_fields.clear()
    server = await start_org(org)
    client = sf_client(settings_for(org, "sqlite://"))
    channel = SalesforceNotificationChannel(SETTINGS, client)
    try:
        with pytest.raises(
            PermanentDeliveryError, match="no CustomNotificationType 'Revflow_Alert'"
        ):
            await channel.send(sample_message(), OWNER)
        team = Recipient(RecipientKind.TEAM, "finance-ops", email="fin@example.test")
        with pytest.raises(PermanentDeliveryError, match="finance-ops has no Salesforce user id"):
            await channel.send(sample_message(), team)
    finally:
        await client.aclose()
        await server.close()
    assert org.notifications == []


async def test_a_refused_notification_is_permanent_a_limit_is_retryable(org: SandboxOrg) -> None:
    client = sf_client(settings_for(org, "sqlite://"))
    channel = SalesforceNotificationChannel(SETTINGS, client, NotificationTypes(client))
    try:
        gone = sample_message(order_id="8015e00000Q7mNpAAJ")  # no such order in the org
        with pytest.raises(PermanentDeliveryError, match="INVALID_ID_FIELD.*does not exist"):
            await channel.send(gone, OWNER)
        org.faults.request_limit_exceeded = True
        with pytest.raises(RetryableDeliveryError, match="REQUEST_LIMIT_EXCEEDED"):
            await channel.send(sample_message(order_id=None), OWNER)
    finally:
        await client.aclose()
    assert org.notifications == []


async def test_without_an_order_the_documented_dummy_target_is_used(org: SandboxOrg) -> None:
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        await SalesforceNotificationChannel(SETTINGS, client).send(
            sample_message(order_id=None, plan_url=None), OWNER
        )
    finally:
        await client.aclose()
    assert org.notifications[0]["targetId"] == "000000000000000AAA"


async def test_a_chatter_post_on_the_order_mentions_the_owner(org: SandboxOrg) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        await ChatterChannel(client).send(sample_message(order_id=order), OWNER)
        with pytest.raises(PermanentDeliveryError, match="no Order"):
            await ChatterChannel(client).send(sample_message(order_id=None), OWNER)
    finally:
        await client.aclose()
    (post,) = org.feed_elements
    assert post["parent"] == {"id": order}
    segments = post["body"]["messageSegments"]
    assert segments[0] == {"type": "Mention", "id": DEMO_USER_ID}
    assert segments[-1] == {"type": "Link", "url": "http://revflow.test/console/plans/7"}
    assert "Step erp.create failed on order 00000123" in post["body"]["text"]
    assert "Why: ValidationError" in post["body"]["text"]


class _ToolingOnly:
    """A client whose data API does not know CustomNotificationType (as some
    integration users see it) while the Tooling API does."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def query(self, soql: str) -> list[dict[str, object]]:
        from revflow.salesforce.errors import SalesforceError

        self.calls.append("query")
        raise SalesforceError(
            400, "INVALID_TYPE", "sObject type 'CustomNotificationType' is not supported"
        )

    async def request(self, method: str, path: str, **kwargs: object) -> dict[str, object]:
        self.calls.append(f"{method} {path}")
        return {"records": [{"Id": "0ML5e0000000001AAA", "DeveloperName": "Revflow_Alert"}]}


async def test_the_type_id_falls_back_to_the_tooling_api_and_is_cached() -> None:
    client = _ToolingOnly()
    types = NotificationTypes(client)  # type: ignore[arg-type]
    assert await types.id_of("Revflow_Alert") == "0ML5e0000000001AAA"
    assert await types.id_of("Revflow_Alert") == "0ML5e0000000001AAA"
    assert client.calls == ["query", "GET tooling/query"]
