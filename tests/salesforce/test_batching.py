"""Coalescing write-back items per record (pure)."""

from __future__ import annotations

from revflow.db.models import WritebackItem
from revflow.salesforce.batching import coalesce

A = "801000000000001AAA"


def test_coalesce_keeps_newest_value_per_field():
    items = [
        WritebackItem(
            id=1, sobject="Order", record_id=A, fields={"S": "In Progress", "E": None}, attempts=0
        ),
        WritebackItem(id=2, sobject="Order", record_id=A, fields={"N": "SO-1"}, attempts=0),
        WritebackItem(id=3, sobject="Order", record_id=A, fields={"S": "Completed"}, attempts=0),
    ]
    (c,) = coalesce(items)
    assert c.fields == {"S": "Completed", "E": None, "N": "SO-1"}
    assert c.item_ids == [1, 2, 3]
