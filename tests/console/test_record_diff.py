from revflow.console.record_diff import FieldChange, diff_records


def test_changed_added_and_removed_fields_by_path() -> None:
    old = {
        "Status": "Activated",
        "attributes": {"type": "Order"},
        "OrderItems": {"records": [{"Quantity": 1}, {"Quantity": 5}]},
    }
    new = {
        "Status": "Activated",
        "attributes": {"type": "Order", "url": "/x"},
        "OrderItems": {"records": [{"Quantity": 3}]},
        "PoNumber": "PO-1",
    }
    assert diff_records(old, new) == [
        FieldChange("OrderItems.records.0.Quantity", "changed", 1, 3),
        FieldChange("OrderItems.records.1.Quantity", "removed", 5, None),
        FieldChange("PoNumber", "added", None, "PO-1"),
    ]


def test_equal_records_have_no_changes() -> None:
    assert diff_records({"a": [1]}, {"a": [1]}) == []
