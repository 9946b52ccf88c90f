"""The sandbox org's per-record write errors (``faults.record_errors``) and the
ProcessException sObject, over HTTP."""

from __future__ import annotations

import pytest

from tests.sandbox.restkit import Env, V, rest_env  # noqa: F401  (the env fixture)

CODES = [
    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "INVALID_FIELD",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "STRING_TOO_LONG",
    "REQUIRED_FIELD_MISSING",
    "UNABLE_TO_LOCK_ROW",
    "ENTITY_IS_DELETED",
]


@pytest.mark.parametrize("code", CODES)
async def test_record_error_is_injected_per_record(env: Env, code: str) -> None:
    bad = env.store.create("Order", env.order_body())
    good = env.store.create("Order", env.order_body())
    response = await env.client.post("/_sandbox/faults", json={"record_errors": {bad: code}})
    assert response.json()["record_errors"] == {bad: code}
    batch = await env.client.patch(
        f"{V}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Order"}, "id": bad, "PoNumber": "x"},
                {"attributes": {"type": "Order"}, "id": good, "PoNumber": "y"},
            ],
        },
    )
    first, second = batch.json()
    assert first["success"] is False and first["errors"][0]["statusCode"] == code
    assert first["errors"][0]["message"]
    assert second["success"] is True
    assert env.store.find("Order", bad)["PoNumber"] is None
    single = await env.client.patch(f"{V}/sobjects/Order/{bad}", json={"PoNumber": "z"})
    assert single.status_code in (400, 404) and single.json()[0]["errorCode"] == code
    assert env.org.faults_injected[code.lower()] == 2


async def test_record_error_by_type_hits_creates_and_events(env: Env) -> None:
    order = env.store.create("Order", env.order_body())
    await env.client.post(
        "/_sandbox/faults",
        json={"record_errors": {"ProcessException": "REQUIRED_FIELD_MISSING", order: "X_Y"}},
    )
    batch = await env.client.post(
        f"{V}/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "ProcessException"}, "AttachedToId": order, "Message": "m"},
                {"attributes": {"type": "Order_Status__e"}, "Order_Id__c": order},
                {"attributes": {"type": "Order_Status__e"}, "Status__c": "OK"},
            ]
        },
    )
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in batch.json()]
    assert codes == ["REQUIRED_FIELD_MISSING", "X_Y", "OPERATION_ENQUEUED"]
    assert [r["success"] for r in batch.json()] == [False, False, True]


async def test_bad_record_errors_value_is_refused(env: Env) -> None:
    response = await env.client.post("/_sandbox/faults", json={"record_errors": ["x"]})
    assert response.status_code == 400
    response = await env.client.post("/_sandbox/faults", json={"record_errors": {"x": "lower"}})
    assert response.status_code == 400


async def test_process_exception_create_and_validation(env: Env) -> None:
    order = env.store.create("Order", env.order_body())
    ok = await env.client.post(
        f"{V}/sobjects/ProcessException",
        json={
            "AttachedToId": order,
            "Message": "step failed",
            "Category": "Fulfillment",
            "Severity": "High",
            "Priority": "High",
            "ExternalReference": "plan/1/step/x",
        },
    )
    assert ok.status_code == 201
    record = env.store.find("ProcessException", ok.json()["id"])
    assert record["Status"] == "New" and record["ProcessExceptionNumber"]
    long = await env.client.post(
        f"{V}/sobjects/ProcessException", json={"AttachedToId": order, "Message": "m" * 256}
    )
    assert long.json()[0]["errorCode"] == "STRING_TOO_LONG"
    bad = await env.client.post(
        f"{V}/sobjects/ProcessException",
        json={"AttachedToId": order, "Message": "m", "Category": "Nope"},
    )
    assert bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    missing = await env.client.post(f"{V}/sobjects/ProcessException", json={"Message": "m"})
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
