"""sObject Collections over loopback: create, update, delete, get; allOrNone and limits."""

from __future__ import annotations

from tests.sandbox.restkit import (
    Env,
    V,
    rest_env,  # noqa: F401  (the env fixture)
)


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
