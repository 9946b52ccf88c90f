"""Composite requests over loopback: references, allOrNone roll-back, broken references."""

from __future__ import annotations

from tests.sandbox.restkit import (
    Env,
    V,
    rest_env,  # noqa: F401  (the env fixture)
)


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
