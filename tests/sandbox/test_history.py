"""The sandbox org's field history: each record's changes of one field, oldest first."""

from __future__ import annotations

from revflow.sandbox.history import FieldHistory


def test_changes_of_one_field_of_one_record_oldest_first() -> None:
    h = FieldHistory()
    h.record("Order", "801A", {"Status": "Draft"}, {"Status": "Activated"}, at=1.0)
    h.record("Order", "801B", {"Status": "Draft"}, {"Status": "Activated"}, at=2.0)
    h.record("Order", "801A", {"Status": "Activated", "X": 1}, {"Status": "Activated", "X": 2}, 3.0)
    h.record("Order", "801A", {"Status": "Activated"}, {"Status": "Cancelled"}, at=4.0)

    assert [(c.old, c.new, c.at) for c in h.of("Order", "801A", "Status")] == [
        ("Draft", "Activated", 1.0),
        ("Activated", "Cancelled", 4.0),
    ]
    assert [c.new for c in h.of("Order", "801A", "X")] == [2]
    assert h.of("Quote", "801A", "Status") == []
    assert len(h.changes) == 4


def test_first_set_counts_only_changes_at_or_after_a_time() -> None:
    h = FieldHistory()
    for at, value in (
        (1.0, "In Progress"),
        (2.0, "Completed"),
        (5.0, "In Progress"),
        (6.0, "Completed"),
    ):
        h.record("Order", "801A", {}, {"Fulfillment_Status__c": value}, at)

    assert h.first_set("Order", "801A", "Fulfillment_Status__c", "Completed") == 2.0
    assert h.first_set("Order", "801A", "Fulfillment_Status__c", "Completed", after=3.0) == 6.0
    assert h.first_set("Order", "801A", "Fulfillment_Status__c", "Cancelled") is None
    assert h.first_set("Order", "801Z", "Fulfillment_Status__c", "Completed") is None


def test_system_fields_and_unchanged_values_are_not_history() -> None:
    h = FieldHistory()
    h.record(
        "Order",
        "801A",
        {"Status": "Draft", "SystemModstamp": 1},
        {"Status": "Draft", "SystemModstamp": 2},
        1.0,
    )
    assert h.changes == []
