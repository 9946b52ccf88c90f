"""The sandbox org's validation rules (``faults.validation_rules``), over HTTP."""

from __future__ import annotations

import pytest

from revflow.sandbox.validation import CODE, DEFAULT_MESSAGE, parse_rules
from tests.sandbox.restkit import Env, V, rest_env  # noqa: F401  (the env fixture)

STATUS = "Fulfillment_Status__c"


def update(record_id: str, **fields: object) -> dict[str, object]:
    return {"attributes": {"type": "Order"}, "id": record_id, **fields}


async def test_rule_refuses_the_value_on_the_listed_records_only(env: Env) -> None:
    held = env.store.create("Order", env.order_body())
    free = env.store.create("Order", env.order_body())
    rule = {"field": STATUS, "value": "Completed", "records": [held]}
    response = await env.client.post("/_sandbox/faults", json={"validation_rules": [rule]})
    assert response.status_code == 200
    assert response.json()["validation_rules"][0]["records"] == [held]
    batch = await env.client.patch(
        f"{V}/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                update(held, **{STATUS: "Completed", "PoNumber": "x"}),
                update(free, **{STATUS: "Completed"}),
            ],
        },
    )
    refused, done = batch.json()
    # exactly Salesforce's SaveResult for a rule shown at the top of the page
    assert refused == {
        "id": held,
        "success": False,
        "errors": [{"statusCode": CODE, "message": DEFAULT_MESSAGE, "fields": []}],
    }
    assert done == {"id": free, "success": True, "errors": []}
    assert env.store.find("Order", held)[STATUS] is None  # nothing of the record written
    assert env.store.find("Order", held)["PoNumber"] is None
    # other values, and other fields alone, pass
    other = await env.client.patch(
        f"{V}/composite/sobjects",
        json={"records": [update(held, **{STATUS: "In Progress"}), update(held, PoNumber="y")]},
    )
    assert [r["success"] for r in other.json()] == [True, True]
    single = await env.client.patch(f"{V}/sobjects/Order/{held}", json={STATUS: "Completed"})
    assert single.status_code == 400
    assert single.json() == [{"message": DEFAULT_MESSAGE, "errorCode": CODE, "fields": []}]
    assert env.org.faults_injected["writeback_refused"] == 2


async def test_rule_shown_at_the_field_names_it(env: Env) -> None:
    order = env.store.create("Order", env.order_body())
    rule = {"field": STATUS, "message": "Not now", "show_at_field": True}
    await env.client.post("/_sandbox/faults", json={"validation_rules": [rule]})
    batch = await env.client.patch(
        f"{V}/composite/sobjects", json={"records": [update(order, **{STATUS: "Anything"})]}
    )
    (result,) = batch.json()
    assert result["errors"] == [{"statusCode": CODE, "message": "Not now", "fields": [STATUS]}]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"field": STATUS}, "list of rules"),
        ([{"value": "x"}], "validation_rules[0]"),
        ([{"field": STATUS, "colour": "red"}], "colour"),
        ([{"field": STATUS, "records": "801"}], "records"),
    ],
)
async def test_bad_rules_are_refused_with_the_reason(
    env: Env,
    value: object,
    named: str,
) -> None:
    response = await env.client.post("/_sandbox/faults", json={"validation_rules": value})
    assert response.status_code == 400
    assert named in response.text
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_rules(value)
