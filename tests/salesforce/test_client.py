"""Revflow's Salesforce client against the sandbox org over loopback."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from revflow.config import AuthFlow, SalesforceSettings
from revflow.salesforce.auth import Token, TokenProvider
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import RequestLimitExceeded, SessionExpired
from revflow.salesforce.orders import fetch_orders
from revflow.salesforce.user_info import SOAP_KIND, user_info
from revflow.sandbox.org import INTEGRATION_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore


def cc_settings(org: SandboxOrg, secret: str = "s3cret") -> SalesforceSettings:
    org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    return SalesforceSettings(
        instance_url=org.instance_url,
        auth=AuthFlow.CLIENT_CREDENTIALS,
        client_id="ck",
        client_secret=SecretStr(secret),
    )


def client(settings: SalesforceSettings) -> SalesforceClient:
    return SalesforceClient(TokenProvider(settings), "62.0", "revflow")


async def test_client_credentials_flow_and_limit_info(org):
    sf = client(cc_settings(org))
    assert await sf.query("SELECT Id FROM Account") == []
    assert sf.usage.used == 1 and sf.usage.limit == org.usage.daily_limit
    await sf.aclose()


async def test_expired_session_reauthenticates_once(org):
    sf = client(cc_settings(org))
    await sf.query("SELECT Id FROM Account")
    org.revoke_all()
    await sf.query("SELECT Id FROM Account")
    assert sf.tokens.fetches == 2
    await sf.aclose()


async def test_request_limit_is_raised_as_such(org):
    sf = client(cc_settings(org))
    org.faults.request_limit_exceeded = True
    with pytest.raises(RequestLimitExceeded):
        await sf.query("SELECT Id FROM Account")
    await sf.aclose()


async def test_fetch_orders_reads_items_products_and_account(org):
    store = RecordStore(org)
    acc = store.create(
        "Account", {"Name": "Acme", "BillingCountry": "DE"}, user_id=INTEGRATION_USER_ID
    )
    prod = store.create(
        "Product2", {"Name": "W", "ProductCode": "W-1"}, user_id=INTEGRATION_USER_ID
    )
    order = store.create(
        "Order",
        {"AccountId": acc, "Status": "Draft", "EffectiveDate": "2026-01-01"},
        user_id=INTEGRATION_USER_ID,
    )
    store.create(
        "OrderItem",
        {"OrderId": order, "Product2Id": prod, "Quantity": 2.0, "UnitPrice": 5.0},
        user_id=INTEGRATION_USER_ID,
    )
    sf = client(cc_settings(org))
    found = await fetch_orders(sf, [order, order])
    rec = found[order]
    assert rec["Account"]["Name"] == "Acme"
    assert rec["OrderItems"][0]["Product2"]["ProductCode"] == "W-1"
    assert "attributes" not in rec and sf.usage.calls_made == 1
    await sf.aclose()


async def test_a_session_that_expires_again_after_reauthenticating_is_raised(org):
    """Re-authentication is tried once per call, not in a loop: the org refuses every
    token here (each is revoked as soon as it is issued)."""
    settings = cc_settings(org)

    class Revoked(TokenProvider):
        async def token(self, refresh: bool = False, stale: Token | None = None) -> Token:
            token = await super().token(refresh=refresh, stale=stale)
            org.revoke_all()
            return token

    sf = SalesforceClient(Revoked(settings), "62.0", "revflow")
    with pytest.raises(SessionExpired):
        await sf.query("SELECT Id FROM Account")
    assert sf.tokens.fetches == 2 and sf.usage.calls_made == 2
    await sf.aclose()


async def test_get_user_info_reauthenticates_once(org):
    sf = client(cc_settings(org))
    await sf.query("SELECT Id FROM Account")
    org.revoke_all()
    assert (await user_info(sf)).multi_currency in (True, False)
    assert sf.tokens.fetches == 2 and sf.usage.by_kind[SOAP_KIND] == 2
    await sf.aclose()
