"""The org's lookups that do not scan a table: SOQL's Id fast path, children by parent,
roll-ups and auto-numbers; each answers what a scan of the whole table answers."""

from __future__ import annotations

from typing import Any

import pytest

from revflow.sandbox import soql_eval
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import SfError
from revflow.sandbox.soql import run_query


class NoScan(dict[str, dict[str, Any]]):
    """A table that refuses to be scanned: reads and writes by key only."""

    def values(self) -> Any:
        raise AssertionError("the table was scanned")

    items = __iter__ = values


@pytest.fixture
def store() -> RecordStore:
    return RecordStore(SandboxOrg())


@pytest.fixture
def orders(store: RecordStore) -> list[str]:
    account = store.create("Account", {"Name": "Acme"})
    product = store.create("Product2", {"Name": "Widget"})
    ids = []
    for n in range(6):
        oid = store.create(
            "Order",
            {
                "AccountId": account,
                "EffectiveDate": f"2026-01-0{1 + n % 3}",
                "Status": "Activated" if n % 2 else "Draft",
            },
        )
        for q in range(n % 3 + 1):
            store.create(
                "OrderItem",
                {"OrderId": oid, "Product2Id": product, "Quantity": q + 1, "UnitPrice": 10},
            )
        ids.append(oid)
    store.delete("Order", ids[4])
    return ids


def scanned(store: RecordStore, text: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Any:
    """The query's answer with the Id fast path off: every table scanned."""
    with monkeypatch.context() as m:
        m.setattr(soql_eval, "_id_keys", lambda _cond: None)
        return run_query(store, text, **kw)


def no_scan(store: RecordStore, *sobjects: str) -> None:
    for name in sobjects:
        store.org.records[name] = NoScan(store.org.records[name])


QUERIES = [
    "SELECT Id, Status FROM Order WHERE Id IN ({ids})",
    "SELECT Id FROM Order WHERE Id IN ({ids}) ORDER BY EffectiveDate DESC, Status",
    "SELECT Id FROM Order WHERE Id IN ({ids}) ORDER BY EffectiveDate LIMIT 2 OFFSET 1",
    "SELECT Id FROM Order WHERE Status = 'Activated' AND Id IN ({ids})",
    "SELECT Id FROM Order WHERE Id IN ({ids}) AND (Status = 'Draft' OR EffectiveDate = 2026-01-02)",
    "SELECT Id FROM Order WHERE Id = '{first}'",
    "SELECT Id FROM Order WHERE Id = '{first}' AND Status = 'Activated'",
    "SELECT COUNT() FROM Order WHERE Id IN ({ids})",
    "SELECT Id, TotalAmount, (SELECT Id, Quantity FROM OrderItems ORDER BY Quantity DESC) "
    "FROM Order WHERE Id IN ({ids})",
    # not answered by the Id key: a scan either way, the same answer
    "SELECT Id FROM Order WHERE Id IN ({ids}) OR Status = 'Draft'",
    "SELECT Id FROM Order WHERE Id NOT IN ({ids})",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("all_rows", [False, True])
def test_id_fast_path_answers_as_the_scan(
    store: RecordStore,
    orders: list[str],
    query: str,
    all_rows: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # repeated, 15-character, deleted and unknown ids among them
    given = [orders[3], orders[0][:15], orders[4], orders[1], orders[3], "801000000009999AAA"]
    text = query.format(ids=", ".join(f"'{i}'" for i in given), first=orders[1][:15])
    expected = scanned(store, text, monkeypatch, include_deleted=all_rows)
    assert run_query(store, text, include_deleted=all_rows) == expected
    assert expected["totalSize"] > 0 or "NOT IN" in query


def test_id_lookups_and_subqueries_read_no_table_whole(
    store: RecordStore, orders: list[str]
) -> None:
    no_scan(store, "Order", "OrderItem")
    result = run_query(
        store,
        "SELECT Id, (SELECT Quantity FROM OrderItems) FROM Order "
        f"WHERE Status = 'Activated' AND Id IN ('{orders[5]}', '{orders[3]}', '{orders[2]}')",
    )
    assert [r["Id"] for r in result["records"]] == [orders[3], orders[5]]
    quantities = [[i["Quantity"] for i in r["OrderItems"]["records"]] for r in result["records"]]
    assert quantities == [[1.0], [1.0, 2.0, 3.0]]
    with pytest.raises(AssertionError, match="scanned"):
        run_query(store, "SELECT Id FROM Order WHERE Status = 'Activated'")


def test_children_follow_creates_updates_deletes_and_rollbacks(
    store: RecordStore, orders: list[str]
) -> None:
    def lines(oid: str) -> list[float]:
        q = f"SELECT Id, (SELECT Quantity FROM OrderItems) FROM Order WHERE Id = '{oid}'"
        (order,) = run_query(store, q)["records"]
        return [i["Quantity"] for i in (order["OrderItems"] or {"records": []})["records"]]

    product = store.create("Product2", {"Name": "Gadget"})
    assert lines(orders[0]) == [1.0]
    no_scan(store, "Order", "OrderItem")  # the index is built: writes keep it, no rescan
    first = store.create(
        "OrderItem", {"OrderId": orders[0], "Product2Id": product, "Quantity": 7, "UnitPrice": 1}
    )
    assert lines(orders[0]) == [1.0, 7.0]
    store.update("OrderItem", first, {"Quantity": 8})
    assert lines(orders[0]) == [1.0, 8.0]
    store.delete("OrderItem", first)
    assert lines(orders[0]) == [1.0]
    store.undelete("OrderItem", first)
    assert lines(orders[0]) == [1.0, 8.0]
    with pytest.raises(SfError), store.transaction() as txn:  # a create rolled back
        store.create(
            "OrderItem",
            {"OrderId": orders[0], "Product2Id": product, "Quantity": 9, "UnitPrice": 1},
            txn=txn,
        )
        store.update("Order", orders[0], {"Status": "Nonsense"}, txn=txn)
    assert lines(orders[0]) == [1.0, 8.0]
    # a record stored around the store (a seed) is found too: the index is rebuilt
    store.org.records["OrderItem"] = dict.copy(store.org.records["OrderItem"])
    store.org.seed("OrderItem", OrderId=orders[0], Quantity=5.0, Product2Id=product)
    assert lines(orders[0]) == [1.0, 8.0, 5.0]


def test_rollup_sums_live_children_only(store: RecordStore, orders: list[str]) -> None:
    total = lambda: store.find("Order", orders[2])["TotalAmount"]  # noqa: E731
    assert total() == 60.0  # lines of 1, 2 and 3 at 10
    (line, *_) = [r["Id"] for r in run_query(store, "SELECT Id FROM OrderItem")["records"]]
    items = run_query(
        store, f"SELECT Id, (SELECT Id FROM OrderItems) FROM Order WHERE Id = '{orders[2]}'"
    )["records"][0]["OrderItems"]["records"]
    store.delete("OrderItem", items[0]["Id"])
    assert total() == 50.0
    store.update("OrderItem", items[1]["Id"], {"Quantity": 5})
    assert total() == 80.0
    assert line != items[0]["Id"]  # another order's line: untouched
    assert store.find("Order", orders[0])["TotalAmount"] == 10.0


def test_auto_numbers_count_on_after_rollbacks_and_seeds(store: RecordStore) -> None:
    account = store.create("Account", {"Name": "Acme"})

    def create() -> str:
        oid = store.create("Order", {"AccountId": account, "EffectiveDate": "2026-01-01"})
        return str(store.find("Order", oid)["OrderNumber"])

    assert [create(), create()] == ["00000100", "00000101"]
    with pytest.raises(SfError), store.transaction() as txn:
        store.create("Order", {"AccountId": account, "EffectiveDate": "2026-01-01"}, txn=txn)
        store.create("Order", {"EffectiveDate": "2026-01-01", "Status": "Nonsense"}, txn=txn)
    assert create() == "00000102"  # the rolled-back number is free again, as before
    store.org.seed("Order", OrderNumber="00000500", EffectiveDate="2026-01-01")
    assert create() == "00000501"
