"""The sandbox org's shape switches over loopback: a single-currency org and fields an
org lacks answer describe, SOQL, reads and writes as a real org does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from revflow.sandbox.org import DEMO_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.server import start_org

V = "/services/data/v62.0"
NO_CURRENCY = (
    "No such column 'CurrencyIsoCode' on entity 'Order'. If you are attempting to use a "
    "custom field, be sure to append the '__c' after the custom field name. Please "
    "reference your WSDL or the describe call for the appropriate names."
)


async def _client(org: SandboxOrg) -> httpx.AsyncClient:
    org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s"))
    client = httpx.AsyncClient(base_url=org.instance_url)
    token = await client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "ck", "client_secret": "s"},
    )
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


@pytest.fixture(params=[None, "EUR"], ids=["multicurrency", "one-currency"])
async def shaped(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[SandboxOrg, httpx.AsyncClient]]:
    org = SandboxOrg(single_currency=request.param)
    server = await start_org(org)
    client = await _client(org)
    yield org, client
    await client.aclose()
    await server.close()


async def _order(org: SandboxOrg) -> str:
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"}, user_id=DEMO_USER_ID)
    return store.create(
        "Order",
        {"AccountId": account, "Status": "Draft", "EffectiveDate": "2026-01-01"},
        user_id=DEMO_USER_ID,
    )


async def test_currency_field_exists_only_in_a_multicurrency_org(shaped) -> None:
    org, client = shaped
    order_id = await _order(org)
    for sobject in ("Order", "OrderItem", "Account", "Product2"):
        names = {
            f["name"]
            for f in (await client.get(f"{V}/sobjects/{sobject}/describe")).json()["fields"]
        }
        assert ("CurrencyIsoCode" in names) is (org.single_currency is None), sobject
    query = await client.get(f"{V}/query", params={"q": "SELECT Id, CurrencyIsoCode FROM Order"})
    record = await client.get(f"{V}/sobjects/Order/{order_id}")
    if org.single_currency is None:
        assert query.status_code == 200 and query.json()["records"][0]["CurrencyIsoCode"] == "USD"
        assert record.json()["CurrencyIsoCode"] == "USD"
        return
    assert query.status_code == 400
    [error] = query.json()
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].endswith("ERROR at Row:1:Column:12\n" + NO_CURRENCY)
    assert "CurrencyIsoCode" not in record.json()
    created = await client.post(
        f"{V}/sobjects/Order",
        json={"AccountId": org.records["Order"][order_id]["AccountId"],
              "EffectiveDate": "2026-01-01", "CurrencyIsoCode": "EUR"},
    )  # fmt: skip
    assert created.status_code == 400
    assert created.json()[0] == {
        "message": "No such column 'CurrencyIsoCode' on sobject of type Order",
        "errorCode": "INVALID_FIELD",
        "fields": [],
    }


async def test_currency_type_is_unknown_in_a_single_currency_org(org: SandboxOrg) -> None:
    """CurrencyType exists only in multicurrency orgs; elsewhere SOQL on it is INVALID_TYPE.
    (The sandbox does not model CurrencyType for multicurrency orgs either.)"""
    org.single_currency = "EUR"
    client = await _client(org)
    answer = await client.get(
        f"{V}/query", params={"q": "SELECT IsoCode, IsCorporate FROM CurrencyType"}
    )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'CurrencyType' is not supported" in answer.json()[0]["message"]
    await client.aclose()


async def test_a_missing_field_is_gone_from_describe_soql_and_writes(org: SandboxOrg) -> None:
    client = await _client(org)
    org.missing_fields = {"Order.PoNumber", "Account.AccountNumber"}
    fields = (await client.get(f"{V}/sobjects/Order/describe")).json()["fields"]
    assert "PoNumber" not in {f["name"] for f in fields}
    for soql, column in (
        ("SELECT Id, PoNumber FROM Order", "'PoNumber' on entity 'Order'"),
        ("SELECT Id, Account.AccountNumber FROM Order", "'AccountNumber' on entity 'Account'"),
    ):
        answer = await client.get(f"{V}/query", params={"q": soql})
        assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALID_FIELD"
        assert f"No such column {column}" in answer.json()[0]["message"]
    org.missing_fields.clear()  # an admin creates the field (or grants access to it)
    answer = await client.get(f"{V}/query", params={"q": "SELECT Id, PoNumber FROM Order"})
    assert answer.status_code == 200
    await client.aclose()


async def test_change_events_carry_no_field_the_org_lacks() -> None:
    org = SandboxOrg(single_currency="EUR", missing_fields={"Order.PoNumber"})
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"}, user_id=DEMO_USER_ID)
    order_id = store.create(
        "Order",
        {"AccountId": account, "EffectiveDate": "2026-01-01", "Description": "a"},
        user_id=DEMO_USER_ID,
    )
    [created] = org.events.all_events(["/data/OrderChangeEvent"])
    assert created.payload["AccountId"] == account and created.payload["Description"] == "a"
    assert "CurrencyIsoCode" not in created.payload and "PoNumber" not in created.payload
    assert created.record is not None and "CurrencyIsoCode" not in created.record
    store.update("Order", order_id, {"Description": "x"}, user_id=DEMO_USER_ID)
    updated = org.events.all_events(["/data/OrderChangeEvent"])[-1]
    assert updated.payload["ChangeEventHeader"]["changedFields"] == [
        "Description",
        "LastModifiedDate",
    ]
