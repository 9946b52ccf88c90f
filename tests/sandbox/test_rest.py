"""REST API over loopback: protocol basics, limits, single records, change events, query."""

from __future__ import annotations

from tests.sandbox.restkit import (
    Env,
    V,
    rest_env,  # noqa: F401  (the env fixture)
)


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
