"""LookupCache against the sandbox org over loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from revflow.config import AuthFlow, SalesforceSettings
from revflow.db.models import Step
from revflow.mapping import compile_mapping
from revflow.mapping.record_lookups import LookupRequest
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.lookups import KEYS_PER_QUERY, LookupCache, soql_string
from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore
from tests.orgkit import Shop, make_intake, settings_for, sf_client

MAPPING = """
name: lookups
source: Order
target: x
record_lookups:
  parent_account: { sobject: Account, match: Id, key: Account.ParentId, fields: [Name] }
  product: { sobject: Product2, match: Id, key: Product2Id, fields: [Family] }
fields:
  parent: { lookup_record: parent_account, field: Name, default: none }
  lines:
    each: OrderItems
    fields:
      family: { lookup_record: product, field: Family, required: true }
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sf(org):
    org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    settings = SalesforceSettings(
        instance_url=org.instance_url,
        auth=AuthFlow.CLIENT_CREDENTIALS,
        client_id="ck",
        client_secret=SecretStr("s3cret"),
    )
    client = SalesforceClient(TokenProvider(settings), "62.0", "revflow")
    yield client
    await client.aclose()


def account(org: SandboxOrg, name: str, **values: object) -> str:
    return RecordStore(org).create("Account", {"Name": name, **values}, user_id=INTEGRATION_USER_ID)


def row(found: dict[Any, dict[str, Any] | None], *key: str) -> dict[str, Any]:
    got = found[key]
    assert got is not None
    return got


def requests(*ids: str) -> list[LookupRequest]:
    return [LookupRequest("Account", "Id", i, ("Name",)) for i in ids]


async def test_many_records_are_fetched_in_one_query_and_cached(org, sf):
    ids = [account(org, f"Parent {n}") for n in range(5)]
    cache = LookupCache(sf)
    found = await cache.resolve(requests(*ids, *ids))
    assert cache.queries == 1
    assert [row(found, "Account", "Id", i)["Name"] for i in ids] == [
        f"Parent {n}" for n in range(5)
    ]
    assert "attributes" not in row(found, "Account", "Id", ids[0])
    again = await cache.resolve(requests(*ids))
    assert cache.queries == 1 and again == {k: v for k, v in found.items()}


async def test_misses_are_cached_and_ttl_expiry_refetches(org, sf):
    known = account(org, "Known")
    clock = Clock()
    cache = LookupCache(sf, ttl_s=60, clock=clock)
    missing = "001000000000000AAA"
    found = await cache.resolve(requests(known, missing))
    assert found[("Account", "Id", missing)] is None and cache.queries == 1
    await cache.resolve(requests(missing))
    assert cache.queries == 1
    clock.now += 61
    RecordStore(org).update("Account", known, {"Name": "Renamed"}, user_id=INTEGRATION_USER_ID)
    found = await cache.resolve(requests(known))
    assert cache.queries == 2 and row(found, "Account", "Id", known)["Name"] == "Renamed"


async def test_keys_are_chunked_and_values_escaped(org, sf):
    odd = account(org, "Odd", AccountNumber="O'Brien \\ Co")
    cache = LookupCache(sf)
    keys = [f"N-{n}" for n in range(KEYS_PER_QUERY)] + ["O'Brien \\ Co"]
    found = await cache.resolve(
        LookupRequest("Account", "AccountNumber", k, ("Name",)) for k in keys
    )
    assert cache.queries == 2
    assert row(found, "Account", "AccountNumber", "O'Brien \\ Co")["Id"] == odd
    assert found[("Account", "AccountNumber", "N-3")] is None
    assert soql_string("a'b\\c\n") == "'a\\'b\\\\c\\n'"


async def test_max_entries_evicts_oldest(org, sf):
    a, b = account(org, "A"), account(org, "B")
    cache = LookupCache(sf, max_entries=1)
    await cache.resolve(requests(a))
    await cache.resolve(requests(b))
    await cache.resolve(requests(b))
    assert cache.queries == 2
    await cache.resolve(requests(a))
    assert cache.queries == 3


async def test_attach_fills_lookups_for_apply(org, sf):
    parent = account(org, "Acme Holding")
    store = RecordStore(org)
    p1 = store.create("Product2", {"Name": "W", "Family": "Hardware"}, user_id=INTEGRATION_USER_ID)
    p2 = store.create("Product2", {"Name": "S", "Family": "Services"}, user_id=INTEGRATION_USER_ID)
    orders: list[dict[str, Any]] = [
        {"Id": "801A", "Account": {"ParentId": parent}, "OrderItems": [{"Product2Id": p1}]},
        {"Id": "801B", "Account": {"ParentId": None}, "OrderItems": [{"Product2Id": p2}]},
        {"Id": "801C", "Account": None, "OrderItems": []},
    ]
    mapping = compile_mapping(MAPPING, "lookups.yaml")
    cache = LookupCache(sf)
    await cache.attach(orders, [mapping])
    assert cache.queries == 2  # one per sobject, for all orders
    assert "__lookups__" not in orders[2]
    assert mapping.apply(orders[0]) == {"parent": "Acme Holding", "lines": [{"family": "Hardware"}]}
    assert mapping.apply(orders[1]) == {"parent": "none", "lines": [{"family": "Services"}]}
    await cache.attach(orders, [mapping])
    assert cache.queries == 2


async def test_intake_attaches_lookups_before_decomposing(org, db, database_url):
    shop = Shop(org)
    parent = account(org, "Acme Holding")
    shop.store.update("Account", shop.account, {"ParentId": parent}, user_id=DEMO_USER_ID)
    oid = shop.order()
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    outcomes = await intake.create_plans_for_orders([oid], "activation")
    await client.aclose()
    assert outcomes[oid].created and intake.lookups.queries == 1
    async with db.read() as s:
        inputs = (await s.scalars(select(Step.input))).all()
    assert "Acme Holding" in json.dumps(inputs)
