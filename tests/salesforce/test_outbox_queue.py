"""Outbox items are queued rows inserted at commit: no ORM object, ids in enqueue order."""

from __future__ import annotations

from sqlalchemy import select

from revflow import audit
from revflow.audit.verify import verify
from revflow.db.database import Database
from revflow.db.models import AuditEntry, OutboxOperation, WritebackItem
from revflow.salesforce import outbox, refusals


async def test_enqueued_items_are_inserted_at_commit_in_enqueue_order(db: Database) -> None:
    async with db.write() as s:
        outbox.enqueue(s, "Order", "801A", {"Status": "Activated"}, "c-1")
        await outbox.enqueue_many(s, [outbox.Write("Order", "801A", {"Status": "Completed"})])
        outbox.create(s, "ProcessException", {"Message": "m"}, about="801A")
        outbox.enqueue(s, "Order_Status__e", "801A", {"State__c": "done"})
        audit.record(s, "worker", "plan.completed", plan_id=1, order_id="801A")
        assert not s.new  # nothing for the ORM to flush at commit
    async with db.read() as s:
        items = (await s.scalars(select(WritebackItem).order_by(WritebackItem.id))).all()
        entries = (await s.scalars(select(AuditEntry))).all()
        assert (await verify(s)).ok
    assert [(i.sobject, i.fields, i.operation) for i in items] == [
        ("Order", {"Status": "Activated"}, OutboxOperation.UPDATE),
        ("Order", {"Status": "Completed"}, OutboxOperation.UPDATE),
        ("ProcessException", {"Message": "m"}, OutboxOperation.CREATE),
        ("Order_Status__e", {"State__c": "done"}, OutboxOperation.CREATE),
    ]
    assert items[0].correlation_id == "c-1"
    assert [e.action for e in entries] == ["plan.completed"]


async def test_a_refusal_notice_keeps_its_place_among_the_queued_updates(db: Database) -> None:
    """A notice queued between two updates of its record is sent between them: ids
    follow the order queued (the notice used to be an ORM object, flushed after them)."""
    async with db.write() as s:
        outbox.enqueue(s, "Order", "801A", {"Fulfillment_Error__c": None})
        refusals.queue_notice(
            s,
            "801A",
            "refused",
            error_field="Fulfillment_Error__c",
            correlation_id="c-1",
            plan_id=None,
            sobject="Order",
        )
        outbox.enqueue(s, "Order", "801A", {"Fulfillment_Error__c": "later"})
    async with db.read() as s:
        items = (await s.scalars(select(WritebackItem).order_by(WritebackItem.id))).all()
    assert [(i.operation, i.fields["Fulfillment_Error__c"]) for i in items] == [
        (OutboxOperation.UPDATE, None),
        (OutboxOperation.NOTICE, "refused"),
        (OutboxOperation.UPDATE, "later"),
    ]
