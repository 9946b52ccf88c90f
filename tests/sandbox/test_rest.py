"""REST API over loopback: CRUD, collections, composite, query, limits, faults, control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from revflow.sandbox.oauth import add_oauth_routes
from revflow.sandbox.org import ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.rest import add_rest_routes

V = "/services/data/v62.0"
APP = ConnectedApp(name="revflow", consumer_key="ck-revflow", consumer_secret="cs")


@dataclass
class Env:
    org: SandboxOrg
    client: httpx.AsyncClient
    account: str
    product: str

    @property
    def store(self) -> RecordStore:
        return RecordStore(self.org)

    async def login(self) -> None:
        response = await self.client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": APP.consumer_key,
                "client_secret": "cs",
            },
        )
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def order_body(self, **extra: Any) -> dict[str, Any]:
        return {"AccountId": self.account, "EffectiveDate": "2026-01-01", **extra}

    def events(self, channel: str = "/data/OrderChangeEvent") -> list[dict[str, Any]]:
        return [e.payload for e in self.org.events.all_events([channel])]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    org = SandboxOrg()
    org.add_app(APP)
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"})
    product = store.create("Product2", {"Name": "Widget", "ProductCode": "W-1"})
    app = web.Application()
    add_oauth_routes(app, org)
    add_rest_routes(app, org)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    org.instance_url = f"http://localhost:{server.port}"
    async with httpx.AsyncClient(base_url=org.instance_url) as client:
        environment = Env(org, client, account, product)
        await environment.login()
        yield environment
    await server.close()


# ---- protocol basics ---------------------------------------------------------------
async def test_unknown_version_and_path(env: Env) -> None:
    response = await env.client.get("/services/data/v12.0/sobjects/Order")
    assert response.status_code == 404
    assert response.json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist", "fields": []}
    ]
    assert (await env.client.get(f"{V}/nothing/here")).status_code == 404


async def test_missing_or_unknown_token(env: Env) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}):
        response = await env.client.get(f"{V}/limits", headers=headers)
        assert response.status_code == 401
        assert response.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
        assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert env.org.usage.used == 0


async def test_limit_info_counts_calls_per_app(env: Env) -> None:
    await env.client.get(f"{V}/limits")
    response = await env.client.get(f"{V}/limits")
    assert response.headers["Sforce-Limit-Info"] == (
        "api-usage=2/100000; per-app-api-usage=2/100000(appName=revflow)"
    )
    assert response.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99998}


# ---- single records ----------------------------------------------------------------
async def test_crud_roundtrip(env: Env) -> None:
    created = await env.client.post(f"{V}/sobjects/Order", json=env.order_body(PoNumber="PO-7"))
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == [] and body["id"].startswith("801")
    order_id = body["id"]
    assert created.headers["Location"] == f"{V}/sobjects/Order/{order_id}"

    got = (
        await env.client.get(
            f"{V}/sobjects/Order/{order_id[:15]}", params={"fields": "PoNumber,Status"}
        )
    ).json()
    assert got == {
        "attributes": {"type": "Order", "url": f"{V}/sobjects/Order/{order_id}"},
        "PoNumber": "PO-7",
        "Status": "Draft",
    }

    patched = await env.client.patch(
        f"{V}/sobjects/Order/{order_id}", json={"Fulfillment_Status__c": "SYNCED", "PoNumber": None}
    )
    assert patched.status_code == 204 and patched.content == b""
    full = (await env.client.get(f"{V}/sobjects/Order/{order_id}")).json()
    assert full["Fulfillment_Status__c"] == "SYNCED" and full["PoNumber"] is None

    assert (await env.client.delete(f"{V}/sobjects/Order/{order_id}")).status_code == 204
    gone = await env.client.get(f"{V}/sobjects/Order/{order_id}")
    assert gone.status_code == 404
    assert gone.json() == [
        {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
    ]
    patch_deleted = await env.client.patch(f"{V}/sobjects/Order/{order_id}", json={"PoNumber": "x"})
    assert patch_deleted.status_code == 404
    assert patch_deleted.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


async def test_write_errors(env: Env) -> None:
    response = await env.client.post(f"{V}/sobjects/Order", json=env.order_body(Foo__c="x"))
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "No such column 'Foo__c' on sobject of type Order",
            "errorCode": "INVALID_FIELD",
            "fields": [],
        }
    ]
    response = await env.client.post(f"{V}/sobjects/Order", json={"TotalAmount": 5})
    assert response.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert response.json()[0]["fields"] == ["TotalAmount"]
    response = await env.client.post(f"{V}/sobjects/Order", json={"EffectiveDate": "2026-01-01"})
    assert response.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    response = await env.client.patch(f"{V}/sobjects/Order/banana", json={"PoNumber": "x"})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "MALFORMED_ID"
    response = await env.client.get(f"{V}/sobjects/Order/8015e00000Q7mNpAAJ")
    assert response.status_code == 404 and response.json()[0]["errorCode"] == "NOT_FOUND"
    response = await env.client.get(f"{V}/sobjects/Nope/8015e00000Q7mNpAAJ")
    assert response.status_code == 404
    response = await env.client.post(f"{V}/sobjects/Order", content=b"{oops")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


async def test_change_events_from_rest_carry_origin_and_user(env: Env) -> None:
    order_id = (await env.client.post(f"{V}/sobjects/Order", json=env.order_body())).json()["id"]
    session = next(iter(env.org.sessions.values()))
    await env.client.patch(
        f"{V}/sobjects/Order/{order_id}",
        json={"Fulfillment_Status__c": "X"},
        headers={"Sforce-Call-Options": "client=revflow-writeback"},
    )
    await env.client.patch(f"{V}/sobjects/Order/{order_id}", json={"Fulfillment_Status__c": "X"})
    create, update = env.events()
    assert create["ChangeEventHeader"]["changeOrigin"] == "com/salesforce/api/rest/62.0"
    header = update["ChangeEventHeader"]
    assert header["changeOrigin"] == "com/salesforce/api/rest/62.0;client=revflow-writeback"
    assert header["commitUser"] == session.user_id
    assert header["changedFields"] == ["Fulfillment_Status__c", "LastModifiedDate"]
    assert create["ChangeEventHeader"]["transactionKey"] != header["transactionKey"]


async def test_publish_platform_event(env: Env) -> None:
    response = await env.client.post(
        f"{V}/sobjects/Order_Status__e",
        json={"Order_Id__c": "8015e00000Q7mNpAAJ", "Status__c": "FAILED"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["id"].startswith("e00")
    [error] = body["errors"]
    assert error["statusCode"] == "OPERATION_ENQUEUED" and error["fields"] == []
    [event] = env.org.events.all_events(["/event/Order_Status__e"])
    assert event.event_uuid == error["message"]
    assert event.payload["Status__c"] == "FAILED" and "CreatedDate" in event.payload


# ---- sObject Collections -----------------------------------------------------------
async def test_collection_create_partial_failure_keeps_order(env: Env) -> None:
    records = [
        {"attributes": {"type": "Order"}, **env.order_body(PoNumber="A")},
        {"attributes": {"type": "Order"}, **env.order_body(Bogus__c=1)},
        {"attributes": {"type": "OrderItem"}, "Quantity": 1},
        {"AccountId": env.account},
        {"attributes": {"type": "Order"}, **env.order_body(PoNumber="B")},
    ]
    response = await env.client.post(
        f"{V}/composite/sobjects", json={"allOrNone": False, "records": records}
    )
    assert response.status_code == 200
    results = response.json()
    assert [r["success"] for r in results] == [True, False, False, False, True]
    assert results[1]["errors"][0] == {
        "statusCode": "INVALID_FIELD",
        "fields": [],
        "message": "No such column 'Bogus__c' on sobject of type Order",
    }
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[3]["errors"][0]["statusCode"] == "INVALID_TYPE"
    assert len(env.store.live("Order")) == 2
    keys = {e["ChangeEventHeader"]["transactionKey"] for e in env.events()}
    assert len(keys) == 1
    assert [e["ChangeEventHeader"]["sequenceNumber"] for e in env.events()] == [1, 2]


async def test_collection_update_all_or_none_rolls_back(env: Env) -> None:
    a = env.store.create("Order", env.order_body(PoNumber="a"))
    b = env.store.create("Order", env.order_body(PoNumber="b"))
    before = len(env.events())
    records = [
        {"attributes": {"type": "Order"}, "id": a, "PoNumber": "a2"},
        {"attributes": {"type": "Order"}, "id": b, "Status": "Shipped"},
        {"attributes": {"type": "Order"}, "PoNumber": "no id"},
    ]
    response = await env.client.patch(
        f"{V}/composite/sobjects", json={"allOrNone": True, "records": records}
    )
    results = response.json()
    assert results[0] == {
        "id": a,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "fields": [],
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
            }
        ],
    }
    assert results[1]["id"] == b
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert env.store.find("Order", a)["PoNumber"] == "a"
    assert len(env.events()) == before


async def test_collection_update_without_all_or_none(env: Env) -> None:
    a = env.store.create("Order", env.order_body())
    deleted = env.store.create("Order", env.order_body())
    env.store.delete("Order", deleted)
    records = [
        {"attributes": {"type": "Order"}, "id": deleted, "PoNumber": "x"},
        {"attributes": {"type": "Order"}, "id": a, "PoNumber": "x"},
    ]
    results = (await env.client.patch(f"{V}/composite/sobjects", json={"records": records})).json()
    assert results[0]["id"] == deleted and results[0]["success"] is False
    assert results[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert results[1] == {"id": a, "success": True, "errors": []}


async def test_collection_limits_delete_and_get(env: Env) -> None:
    too_many = [{"attributes": {"type": "Order"}, **env.order_body()}] * 201
    response = await env.client.post(f"{V}/composite/sobjects", json={"records": too_many})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    a = env.store.create("Order", env.order_body(PoNumber="keep"))
    b = env.store.create("Order", env.order_body())
    got = await env.client.get(
        f"{V}/composite/sobjects/Order",
        params={"ids": f"{a},8015e00000Q7mNpAAJ", "fields": "PoNumber"},
    )
    assert [r and r["PoNumber"] for r in got.json()] == ["keep", None]
    deleted = await env.client.delete(
        f"{V}/composite/sobjects", params={"ids": f"{b},bogus", "allOrNone": "false"}
    )
    results = deleted.json()
    assert results[0] == {"id": b, "success": True, "errors": []}
    assert results[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert env.events()[-1]["ChangeEventHeader"]["changeType"] == "DELETE"


# ---- Composite ---------------------------------------------------------------------
async def test_composite_with_references(env: Env) -> None:
    request = {
        "allOrNone": False,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Order",
                "referenceId": "newOrder",
                "body": env.order_body(),
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/OrderItem",
                "referenceId": "line",
                "body": {
                    "OrderId": "@{newOrder.id}",
                    "Product2Id": env.product,
                    "Quantity": 2,
                    "UnitPrice": 5,
                },
            },
            {
                "method": "GET",
                "url": f"{V}/sobjects/Order/@{{newOrder.id}}?fields=TotalAmount",
                "referenceId": "read",
            },
            {
                "method": "GET",
                "referenceId": "q",
                "url": f"{V}/query?q=SELECT+Id+FROM+OrderItem+WHERE+OrderId='@{{newOrder.id}}'",
            },
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Order/@{{q.records[0].Id}}",
                "referenceId": "bad",
                "body": {},
            },
        ],
    }
    before = env.org.usage.used
    response = await env.client.post(f"{V}/composite", json=request)
    assert response.status_code == 200
    assert env.org.usage.used == before + 1
    out = response.json()["compositeResponse"]
    assert [o["referenceId"] for o in out] == ["newOrder", "line", "read", "q", "bad"]
    assert [o["httpStatusCode"] for o in out] == [201, 201, 200, 200, 400]
    assert out[0]["httpHeaders"]["Location"].endswith(out[0]["body"]["id"])
    assert out[2]["body"]["TotalAmount"] == 10.0
    assert out[4]["body"][0]["errorCode"] == "MALFORMED_ID"  # an OrderItem id on Order


async def test_composite_all_or_none_halts_and_rolls_back(env: Env) -> None:
    request = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Order",
                "referenceId": "o1",
                "body": env.order_body(),
            },
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Order/@{{o1.id}}",
                "referenceId": "o2",
                "body": {"Nope__c": 1},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Order",
                "referenceId": "o3",
                "body": env.order_body(),
            },
        ],
    }
    out = (await env.client.post(f"{V}/composite", json=request)).json()["compositeResponse"]
    assert [o["httpStatusCode"] for o in out] == [400, 400, 400]
    assert out[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert out[1]["body"][0]["errorCode"] == "INVALID_FIELD"
    assert out[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert env.store.live("Order") == [] and env.events() == []


async def test_composite_without_all_or_none_skips_broken_references(env: Env) -> None:
    request = {
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Order",
                "referenceId": "bad",
                "body": {"Nope__c": 1},
            },
            {"method": "GET", "url": f"{V}/sobjects/Order/@{{bad.id}}", "referenceId": "dependent"},
            {
                "method": "POST",
                "url": f"{V}/sobjects/Order",
                "referenceId": "ok",
                "body": env.order_body(),
            },
        ]
    }
    out = (await env.client.post(f"{V}/composite", json=request)).json()["compositeResponse"]
    assert [o["httpStatusCode"] for o in out] == [400, 400, 201]
    assert out[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert len(env.store.live("Order")) == 1
    too_many = {"compositeRequest": [request["compositeRequest"][2]] * 26}
    assert (await env.client.post(f"{V}/composite", json=too_many)).status_code == 400


# ---- Query -------------------------------------------------------------------------
async def test_query_and_errors(env: Env) -> None:
    env.store.create("Order", env.order_body(PoNumber="Q"))
    response = await env.client.get(
        f"{V}/query",
        params={"q": "SELECT Id, PoNumber, Account.Name FROM Order WHERE PoNumber = 'Q'"},
    )
    body = response.json()
    assert body["totalSize"] == 1 and body["done"] is True
    assert body["records"][0]["Account"]["Name"] == "Acme"
    bad = await env.client.get(f"{V}/query", params={"q": "SELECT Nope FROM Order"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    bad = await env.client.get(f"{V}/query", params={"q": "SELEC Id FROM Order"})
    assert bad.json()[0]["errorCode"] == "MALFORMED_QUERY"


async def test_query_pagination(env: Env) -> None:
    with env.store.transaction() as txn:
        for i in range(2101):
            env.store.create("Product2", {"Name": f"P{i}"}, txn=txn)
    first = (await env.client.get(f"{V}/query", params={"q": "SELECT Id FROM Product2"})).json()
    assert first["totalSize"] == 2102 and first["done"] is False
    assert len(first["records"]) == 2000
    next_url = first["nextRecordsUrl"]
    assert next_url.startswith(f"{V}/query/01g") and next_url.endswith("-2000")
    second = (await env.client.get(next_url)).json()
    assert second["done"] is True and len(second["records"]) == 102
    assert "nextRecordsUrl" not in second
    ids = {r["Id"] for r in first["records"]} | {r["Id"] for r in second["records"]}
    assert len(ids) == 2102
    assert (await env.client.get(next_url)).json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# ---- Faults and control API -------------------------------------------------------
async def test_request_limit_fault(env: Env) -> None:
    env.org.faults.request_limit_exceeded = True
    response = await env.client.get(f"{V}/limits")
    assert response.status_code == 403
    assert response.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert env.org.faults_injected == {"request_limit_exceeded": 1}


async def test_unable_to_lock_row_fault(env: Env) -> None:
    order = env.store.create("Order", env.order_body())
    response = await env.client.post("/_sandbox/faults", json={"unable_to_lock_row": 1})
    assert response.json()["unable_to_lock_row"] == 1.0
    single = await env.client.patch(f"{V}/sobjects/Order/{order}", json={"PoNumber": "x"})
    assert single.status_code == 400
    assert single.json()[0] == {
        "errorCode": "UNABLE_TO_LOCK_ROW",
        "fields": [],
        "message": f"unable to obtain exclusive access to this record or 1 records: {order}",
    }
    batch = await env.client.patch(
        f"{V}/composite/sobjects",
        json={"records": [{"attributes": {"type": "Order"}, "id": order, "PoNumber": "y"}]},
    )
    assert batch.json()[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert env.org.faults_injected["unable_to_lock_row"] == 2
    assert env.store.find("Order", order)["PoNumber"] is None


async def test_expire_sessions_fault_until_new_token(env: Env) -> None:
    env.org.faults.expire_sessions = True
    first = await env.client.get(f"{V}/limits")
    assert first.status_code == 401
    assert first.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert (await env.client.get(f"{V}/limits")).status_code == 401
    await env.login()
    assert (await env.client.get(f"{V}/limits")).status_code == 200
    assert env.org.faults_injected["expire_sessions"] == 1
    revoked = await env.client.post("/_sandbox/expire-sessions")
    assert revoked.json() == {"revoked": 1}
    assert (await env.client.get(f"{V}/limits")).status_code == 401


async def test_sandbox_stats_and_fault_validation(env: Env) -> None:
    await env.client.post(f"{V}/sobjects/Order", json=env.order_body())
    stats = (await env.client.get("/_sandbox/stats")).json()
    assert stats["api_usage"]["by_app"] == {"revflow": 1}
    assert stats["records"]["Order"] == 1 and stats["records"]["Account"] == 1
    assert stats["events"]["/data/OrderChangeEvent"] == 1
    bad = await env.client.post("/_sandbox/faults", json={"no_such_fault": True})
    assert bad.status_code == 400
    bad = await env.client.post("/_sandbox/faults", json={"request_limit_exceeded": 1})
    assert bad.status_code == 400
    ok = await env.client.post("/_sandbox/faults", json={"request_limit_exceeded": True})
    assert ok.json()["request_limit_exceeded"] is True
    assert (await env.client.get("/_sandbox/stats")).json()["api_usage"]["used"] == 1
