"""Record store: validation errors, system fields, roll-ups, change events."""

from __future__ import annotations

import re
from typing import Any

import pytest

from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import (
    CDC_CHANNELS,
    REVFLOW_FIELDS,
    SOBJECTS,
    SfError,
    schema_id,
)

REST_DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
CDC_DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def org() -> SandboxOrg:
    return SandboxOrg()


@pytest.fixture
def store(org: SandboxOrg) -> RecordStore:
    return RecordStore(org)


def _seed(store: RecordStore) -> tuple[str, str, str]:
    account = store.create("Account", {"Name": "Acme", "BillingCountry": "FR"})
    product = store.create("Product2", {"Name": "Widget", "ProductCode": "W-1", "IsActive": True})
    order = store.create(
        "Order",
        {"AccountId": account, "EffectiveDate": "2026-01-01", "BillingCity": "Paris"},
        user_id=DEMO_USER_ID,
    )
    return account, product, order


def _events(org: SandboxOrg, channel: str = "/data/OrderChangeEvent") -> list[dict[str, Any]]:
    return [dict(e.payload) for e in org.events.all_events([channel])]


def test_channels_are_declared_at_org_creation(org: SandboxOrg) -> None:
    for channel in (*CDC_CHANNELS, "/event/Order_Status__e", "/event/Fulfillment_Callback__e"):
        assert org.events.exists(channel)
    assert "/data/QuoteLineItemChangeEvent" in CDC_CHANNELS


def test_revflow_custom_fields_exist_on_the_schema() -> None:
    for sobj, roles in REVFLOW_FIELDS.items():
        for name in roles.values():
            assert name in SOBJECTS[sobj].fields


def test_create_fills_system_fields_defaults_and_auto_number(store: RecordStore) -> None:
    _, _, order_id = _seed(store)
    order = store.get("Order", order_id)
    assert order["attributes"] == {
        "type": "Order",
        "url": f"/services/data/v62.0/sobjects/Order/{order_id}",
    }
    assert order["Status"] == "Draft" and order["CurrencyIsoCode"] == "USD"
    assert order["OrderNumber"] == "00000100"
    assert order["CreatedById"] == order["LastModifiedById"] == order["OwnerId"] == DEMO_USER_ID
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert REST_DT.match(order[name])
    assert order["BillingAddress"]["city"] == "Paris" and order["ShippingAddress"] is None
    assert order["IsDeleted"] is False


@pytest.mark.parametrize(
    ("values", "code", "message"),
    [
        ({"Bogus__c": 1}, "INVALID_FIELD", "No such column 'Bogus__c' on sobject of type Order"),
        (
            {"OrderNumber": "1"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: OrderNumber",
        ),
        (
            {"EffectiveDate": None},
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [EffectiveDate]",
        ),
        ({"Status": "Shipped"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status: bad value"),
        (
            {"AccountId": "0015e00000ABCDE"},
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
        ),
        (
            {"AccountId": "8015e00000Q7mNp"},
            "MALFORMED_ID",
            "Account ID: id value of incorrect type",
        ),
        (
            {"EffectiveDate": "2026-13-01"},
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of date",
        ),
        ({"PoNumber": "x" * 81}, "STRING_TOO_LONG", "PoNumber: data value too large"),
    ],
)
def test_create_validation_errors(
    store: RecordStore, values: dict[str, Any], code: str, message: str
) -> None:
    account, _, _ = _seed(store)
    body = {"AccountId": account, "EffectiveDate": "2026-01-01", **values}
    with pytest.raises(SfError) as info:
        store.create("Order", body)
    assert info.value.code == code and info.value.message.startswith(message)


def test_missing_required_fields_are_listed(store: RecordStore) -> None:
    with pytest.raises(SfError) as info:
        store.create("Order", {})
    assert info.value.code == "REQUIRED_FIELD_MISSING"
    assert info.value.fields == ["AccountId", "EffectiveDate"]


def test_lookup_errors(store: RecordStore) -> None:
    _, _, order = _seed(store)
    with pytest.raises(SfError) as info:
        store.find("Order", "nope")
    assert info.value.code == "MALFORMED_ID"
    with pytest.raises(SfError) as info:
        store.find("Order", "8015e00000Q7mNpAAJ")
    assert (info.value.code, info.value.status) == ("NOT_FOUND", 404)
    store.delete("Order", order)
    with pytest.raises(SfError) as info:
        store.update("Order", order, {"Description": "x"})
    assert (info.value.code, info.value.status) == ("ENTITY_IS_DELETED", 404)


def test_totals_roll_up_from_items(store: RecordStore) -> None:
    _, product, order = _seed(store)
    item = store.create(
        "OrderItem", {"OrderId": order, "Product2Id": product, "Quantity": 3, "UnitPrice": 12.5}
    )
    store.create(
        "OrderItem", {"OrderId": order, "Product2Id": product, "Quantity": 1, "UnitPrice": 10}
    )
    assert store.find("OrderItem", item)["TotalPrice"] == 37.5
    assert store.find("Order", order)["TotalAmount"] == 47.5
    store.update("OrderItem", item, {"Quantity": 1})
    assert store.find("Order", order)["TotalAmount"] == 22.5
    store.delete("OrderItem", item)
    assert store.find("Order", order)["TotalAmount"] == 10.0


def test_a_quote_lines_discount_lowers_its_total(store: RecordStore) -> None:
    _, product, _ = _seed(store)
    quote = store.create("Quote", {"Name": "Q"})
    line = store.create(
        "QuoteLineItem",
        {"QuoteId": quote, "Product2Id": product, "Quantity": 4, "UnitPrice": 25, "Discount": 10},
    )
    assert store.find("QuoteLineItem", line)["TotalPrice"] == 90.0
    assert store.find("Quote", quote)["TotalPrice"] == 90.0


def test_create_event_carries_non_empty_fields(org: SandboxOrg, store: RecordStore) -> None:
    account, _, order = _seed(store)
    [event] = org.events.all_events(["/data/OrderChangeEvent"])
    header = event.payload["ChangeEventHeader"]
    assert header["entityName"] == "Order" and header["recordIds"] == [order]
    assert header["changeType"] == "CREATE" and header["changedFields"] == []
    assert header["commitUser"] == DEMO_USER_ID and header["changeOrigin"] == ""
    assert header["sequenceNumber"] == 1 and isinstance(header["commitTimestamp"], int)
    body = {k: v for k, v in event.payload.items() if k != "ChangeEventHeader"}
    assert body["AccountId"] == account and body["EffectiveDate"] == "2026-01-01"
    assert body["BillingAddress"] == {"City": "Paris"}
    assert CDC_DT.match(body["CreatedDate"]) and "Id" not in body and "SystemModstamp" not in body
    assert "Description" not in body  # null fields are dropped
    assert event.schema_id == schema_id("OrderChangeEvent") and len(event.schema_id) == 22
    assert event.record is not None and event.record["Description"] is None


def test_update_event_has_only_changed_fields(org: SandboxOrg, store: RecordStore) -> None:
    _, _, order = _seed(store)
    store.update("Order", order, {"Description": "first"}, user_id=DEMO_USER_ID)
    store.update(
        "Order",
        order,
        {"Status": "Activated", "Description": None, "ShippingCity": "Lyon"},
        origin="com/salesforce/api/rest/62.0",
    )
    payload = _events(org)[-1]
    header = payload.pop("ChangeEventHeader")
    assert header["changeType"] == "UPDATE"
    assert header["changedFields"] == [
        "Status",
        "Description",
        "ShippingAddress.City",
        "LastModifiedById",
        "LastModifiedDate",
    ]
    assert payload["Status"] == "Activated" and payload["Description"] is None
    assert payload["ShippingAddress"] == {"City": "Lyon"}
    assert CDC_DT.match(payload["LastModifiedDate"])
    assert payload["LastModifiedById"] == INTEGRATION_USER_ID
    assert "EffectiveDate" not in payload
    store.update("Order", order, {"PoNumber": "PO-1"})
    header = _events(org)[-1]["ChangeEventHeader"]
    assert header["changedFields"] == ["PoNumber", "LastModifiedDate"]  # same user: no ById


def test_noop_update_emits_nothing(org: SandboxOrg, store: RecordStore) -> None:
    _, _, order = _seed(store)
    before = len(_events(org))
    assert store.update("Order", order, {"BillingCity": "Paris"}, user_id=DEMO_USER_ID) is False
    assert len(_events(org)) == before


def test_transaction_groups_events_and_rolls_back(org: SandboxOrg, store: RecordStore) -> None:
    _, product, order = _seed(store)
    with store.transaction(origin="com/salesforce/api/rest/62.0;client=rf") as txn:
        store.create(
            "OrderItem",
            {"OrderId": order, "Product2Id": product, "Quantity": 1, "UnitPrice": 1},
            txn=txn,
        )
        store.update("Order", order, {"Description": "a"}, txn=txn)
        store.update("Order", order, {"Description": "b"}, txn=txn)
    items = _events(org, "/data/OrderItemChangeEvent")
    orders = _events(org)
    assert len(orders) == 2  # CREATE + one merged UPDATE
    assert orders[-1]["Description"] == "b"
    keys = {
        items[0]["ChangeEventHeader"]["transactionKey"],
        orders[-1]["ChangeEventHeader"]["transactionKey"],
    }
    assert len(keys) == 1
    assert [
        items[0]["ChangeEventHeader"]["sequenceNumber"],
        orders[-1]["ChangeEventHeader"]["sequenceNumber"],
    ] == [1, 2]
    count = len(org.events.all_events())
    with pytest.raises(SfError), store.transaction() as txn:
        store.update("Order", order, {"Description": "c"}, txn=txn)
        store.create("Order", {}, txn=txn)
    assert store.find("Order", order)["Description"] == "b"
    assert len(org.events.all_events()) == count


def test_delete_and_undelete_events(org: SandboxOrg, store: RecordStore) -> None:
    _, _, order = _seed(store)
    store.delete("Order", order)
    store.undelete("Order", order)
    delete, undelete = _events(org)[-2:]
    assert delete["ChangeEventHeader"]["changeType"] == "DELETE"
    assert set(delete) == {"ChangeEventHeader"}
    assert undelete["ChangeEventHeader"]["changeType"] == "UNDELETE"
    assert undelete["Status"] == "Draft"
    assert store.find("Order", order)["IsDeleted"] is False


def test_publish_platform_event(org: SandboxOrg, store: RecordStore) -> None:
    event_id, event_uuid = store.publish(
        "Order_Status__e", {"Order_Id__c": "801", "Status__c": "OK"}
    )
    [event] = org.events.all_events(["/event/Order_Status__e"])
    assert event_id.startswith("e00") and event.event_uuid == event_uuid
    assert event.payload["Status__c"] == "OK" and event.payload["Error_Message__c"] is None
    assert event.payload["CreatedById"] == INTEGRATION_USER_ID
    assert CDC_DT.match(event.payload["CreatedDate"])
    with pytest.raises(SfError) as info:
        store.publish("Order_Status__e", {"Nope__c": 1})
    assert info.value.code == "INVALID_FIELD"
