"""SOQL subset: parsing, filtering, relationships, subqueries, result shape, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from revflow.sandbox.events import EventLog
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import SfError
from revflow.sandbox.soql import run_query

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> RecordStore:
    return RecordStore(SandboxOrg(events=EventLog(clock=clock)))


@pytest.fixture
def data(store: RecordStore, clock: Clock) -> dict[str, str]:
    acme = store.create("Account", {"Name": "Acme", "BillingCountry": "FR"})
    globex = store.create("Account", {"Name": "Globex"})
    widget = store.create("Product2", {"Name": "Widget", "ProductCode": "W-1"})
    gadget = store.create("Product2", {"Name": "Gadget", "ProductCode": "G-2"})
    o1 = store.create(
        "Order",
        {
            "AccountId": acme,
            "EffectiveDate": "2026-01-01",
            "Description": "it's 100% done",
            "PoNumber": "PO-1",
        },
    )
    clock.now += 60
    o2 = store.create(
        "Order", {"AccountId": globex, "EffectiveDate": "2026-02-01", "Status": "Activated"}
    )
    clock.now += 60
    o3 = store.create("Order", {"AccountId": acme, "EffectiveDate": "2026-03-01"})
    store.create("OrderItem", {"OrderId": o1, "Product2Id": widget, "Quantity": 2, "UnitPrice": 10})
    store.create(
        "OrderItem", {"OrderId": o1, "Product2Id": gadget, "Quantity": 1, "UnitPrice": 99.5}
    )
    return {"acme": acme, "globex": globex, "o1": o1, "o2": o2, "o3": o3}


def ids(result: dict) -> list[str]:
    return [r["Id"] for r in result["records"]]


def test_relationships_subquery_and_shape(store: RecordStore, data: dict[str, str]) -> None:
    result = run_query(
        store,
        "SELECT Id, OrderNumber, TotalAmount, Account.Name, Account.BillingCountry, "
        "(SELECT Id, Quantity, Product2.ProductCode FROM OrderItems ORDER BY Quantity) "
        f"FROM Order WHERE Id = '{data['o1']}'",
        "61.0",
    )
    assert result["totalSize"] == 1 and result["done"] is True
    [order] = result["records"]
    assert list(order) == [
        "attributes",
        "Id",
        "OrderNumber",
        "TotalAmount",
        "Account",
        "OrderItems",
    ]
    assert order["attributes"] == {
        "type": "Order",
        "url": f"/services/data/v61.0/sobjects/Order/{data['o1']}",
    }
    assert order["TotalAmount"] == 119.5
    assert order["Account"] == {
        "attributes": {
            "type": "Account",
            "url": f"/services/data/v61.0/sobjects/Account/{data['acme']}",
        },
        "Name": "Acme",
        "BillingCountry": "FR",
    }
    items = order["OrderItems"]
    assert items["totalSize"] == 2 and items["done"] is True
    assert [(i["Quantity"], i["Product2"]["ProductCode"]) for i in items["records"]] == [
        (1.0, "G-2"),
        (2.0, "W-1"),
    ]
    assert items["records"][0]["attributes"]["type"] == "OrderItem"


def test_empty_subquery_is_null(store: RecordStore, data: dict[str, str]) -> None:
    result = run_query(
        store, f"SELECT Id, (SELECT Id FROM OrderItems) FROM Order WHERE Id = '{data['o2']}'"
    )
    assert result["records"][0]["OrderItems"] is None


def test_where_operators(store: RecordStore, data: dict[str, str]) -> None:
    q = "SELECT Id FROM Order WHERE "
    assert ids(run_query(store, q + "Status = 'activated'")) == [data["o2"]]  # case-insensitive
    assert set(ids(run_query(store, q + f"Id IN ('{data['o1'][:15]}', '{data['o3']}')"))) == {
        data["o1"],
        data["o3"],
    }
    assert ids(run_query(store, q + "Account.Name NOT IN ('Acme')")) == [data["o2"]]
    assert ids(run_query(store, q + "Description LIKE '%100\\% done'")) == [data["o1"]]
    assert ids(run_query(store, q + "Description LIKE 'it\\'s%'")) == [data["o1"]]
    assert set(ids(run_query(store, q + "Description = null"))) == {data["o2"], data["o3"]}
    assert ids(
        run_query(store, q + "EffectiveDate >= 2026-02-01 AND EffectiveDate < 2026-03-01")
    ) == [data["o2"]]
    assert set(
        ids(
            run_query(
                store,
                q + "(Status = 'Activated' OR PoNumber != null) AND Account.Name LIKE 'ac%' "
                "OR NOT EffectiveDate <= 2026-02-15",
            )
        )
    ) == {data["o1"], data["o3"]}
    assert ids(run_query(store, q + "TotalAmount > 100.5")) == [data["o1"]]


def test_system_modstamp_filter(store: RecordStore, data: dict[str, str]) -> None:
    q = "SELECT Id FROM Order WHERE SystemModstamp > 2026-01-01T12:00:30Z ORDER BY SystemModstamp"
    assert ids(run_query(store, q)) == [data["o2"], data["o3"]]
    q2 = "SELECT Id FROM Order WHERE LastModifiedDate >= 2026-01-01T13:02:00.000+01:00"
    assert ids(run_query(store, q2)) == [data["o3"]]


def test_order_limit_offset_and_count(store: RecordStore, data: dict[str, str]) -> None:
    q = "SELECT Id, EffectiveDate FROM Order ORDER BY EffectiveDate DESC"
    assert ids(run_query(store, q)) == [data["o3"], data["o2"], data["o1"]]
    assert ids(run_query(store, q + " LIMIT 2 OFFSET 1")) == [data["o2"], data["o1"]]
    q = "SELECT Id FROM Order ORDER BY Description ASC NULLS LAST, EffectiveDate DESC"
    assert ids(run_query(store, q)) == [data["o1"], data["o3"], data["o2"]]
    count = run_query(store, "SELECT COUNT() FROM Order WHERE Account.Name = 'Acme'")
    assert count == {"totalSize": 2, "done": True, "records": []}


def test_deleted_rows_only_with_query_all(store: RecordStore, data: dict[str, str]) -> None:
    store.delete("Order", data["o3"])
    assert data["o3"] not in ids(run_query(store, "SELECT Id FROM Order"))
    assert data["o3"] in ids(run_query(store, "SELECT Id FROM Order", include_deleted=True))


def test_null_parent_relationship(store: RecordStore, data: dict[str, str]) -> None:
    quote = store.create("Quote", {"Name": "Q1"})
    [record] = run_query(store, f"SELECT Id, Account.Name FROM Quote WHERE Id = '{quote}'")[
        "records"
    ]
    assert record["Account"] is None


@pytest.mark.parametrize(
    ("query", "code", "text"),
    [
        ("SELECT Id, Foo FROM Order", "INVALID_FIELD", "No such column 'Foo' on entity 'Order'"),
        (
            "SELECT Id, Acct.Name FROM Order",
            "INVALID_FIELD",
            "Didn't understand relationship 'Acct'",
        ),
        (
            "SELECT Id, (SELECT Id FROM Lines) FROM Order",
            "INVALID_TYPE",
            "Didn't understand relationship 'Lines'",
        ),
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported"),
        ("SELECT Id FROM Order WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT Id Order", "MALFORMED_QUERY", "unexpected token: 'Order'"),
        ("SELECT Id FROM Order WHERE Status = 'x' LIMIT", "MALFORMED_QUERY", "unexpected token"),
        (
            "SELECT Id FROM Order WHERE CreatedDate > '2026-01-01'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type dateTime",
        ),
        (
            "SELECT Id FROM Order WHERE Id = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: abc",
        ),
    ],
)
def test_errors(store: RecordStore, query: str, code: str, text: str) -> None:
    with pytest.raises(SfError) as info:
        run_query(store, query)
    assert info.value.code == code
    assert text in info.value.message
    assert "ERROR at Row:1:Column:" in info.value.message


def test_error_points_at_the_column(store: RecordStore) -> None:
    with pytest.raises(SfError) as info:
        run_query(store, "SELECT Id, Foo FROM Order")
    lines = info.value.message.split("\n")
    assert lines[1] == "SELECT Id, Foo FROM Order"
    assert lines[2] == " " * 11 + "^"
    assert lines[3] == "ERROR at Row:1:Column:12"
