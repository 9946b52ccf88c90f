"""An inbox batch grouped by Salesforce transaction."""

from __future__ import annotations

from revflow.db.models import ReceivedEvent
from revflow.orchestration.batches import group_transactions


def row(id_: int, tx: str | None, seq: int | None = None) -> ReceivedEvent:
    return ReceivedEvent(id=id_, transaction_key=tx, sequence_number=seq)


def test_groups_by_transaction_in_sequence_order():
    rows = [row(1, "a", 2), row(2, "b", 1), row(3, "a", 1), row(4, None), row(5, None)]
    groups = group_transactions(rows, full=False)
    assert [[r.id for r in g] for g in groups] == [[3, 1], [2], [4], [5]]


def test_full_batch_holds_back_the_trailing_transaction_unless_alone():
    rows = [row(1, "a", 1), row(2, "b", 1), row(3, "a", 2)]
    assert [[r.id for r in g] for g in group_transactions(rows, full=True)] == [[2]]
    alone = [row(1, "a", 1), row(2, "a", 2)]
    assert [[r.id for r in g] for g in group_transactions(alone, full=True)] == [[1, 2]]
    platform = [row(1, "a", 1), row(2, None)]
    assert len(group_transactions(platform, full=True)) == 2
