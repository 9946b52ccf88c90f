"""Raising alerts where the problem is recorded: one open alert per rule and subject,
its deliveries in the same transaction, throttling, escalation, acknowledge, resolve."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from revflow.alerts import service
from revflow.alerts.events import AlertEvent
from revflow.alerts.message import EventKind
from revflow.clock import utcnow
from revflow.db.models import AuditEntry, Plan
from tests.alerts.alertkit import (
    ORDER,
    OWNER_ID,
    alerts,
    deliveries,
    failing_worker,
    make_plan,
    use_rules,
)


async def test_a_failing_step_opens_one_alert_with_its_deliveries(db) -> None:
    use_rules()
    definition = await make_plan(db)
    await failing_worker(db, definition, "customer 42 is blocked").run_until_idle()
    [alert] = await alerts(db)
    assert (alert.rule, alert.kind, alert.state, alert.count) == (
        "fallout",
        "step_fallout",
        "open",
        1,
    )
    assert alert.title == "Step create_sales_order failed on order 00000123"
    assert alert.error_class == "FatalError" and alert.error_message == "customer 42 is blocked"
    assert alert.order_id == ORDER["Id"] and alert.step == "create_sales_order"
    assert alert.detail["account"] == "Acme GmbH" and alert.detail["owner_id"] == OWNER_ID
    async with db.read() as s:
        plan = (await s.scalars(select(Plan))).one()
    assert alert.plan_id == plan.id and plan.state == "on_hold"
    assert alert.next_escalation_at is not None
    assert abs((alert.next_escalation_at - alert.created_at).total_seconds() - 1800) < 1
    rows = await deliveries(db)
    assert [
        (d.recipient_kind, d.channel, d.email, d.salesforce_user_id, d.state) for d in rows
    ] == [
        ("owner", "email", None, OWNER_ID, "pending"),
        ("team", "email", "finance@example.com", None, "pending"),
    ]


async def test_without_rules_a_failing_step_alerts_nobody(db) -> None:
    definition = await make_plan(db)
    await failing_worker(db, definition).run_until_idle()
    assert await alerts(db) == [] and await deliveries(db) == []


def fallout(plan_id: int = 1, error: str = "boom") -> AlertEvent:
    return AlertEvent(
        EventKind.STEP_FALLOUT,
        f"plan:{plan_id}",
        "Step x failed on order {order}",
        "s",
        plan_id=plan_id,
        order_id=ORDER["Id"],
        order=ORDER,
        error_class="FatalError",
        error_message=error,
    )


async def test_a_repeat_while_open_counts_instead_of_telling_again(db) -> None:
    use_rules()
    async with db.write() as s:
        [first] = await service.raise_alert(s, fallout(error="one"))
    async with db.write() as s:
        [again] = await service.raise_alert(s, fallout(error="two"))
    assert again.id == first.id
    [alert] = await alerts(db)
    assert (alert.count, alert.error_message) == (2, "two")
    assert len(await deliveries(db)) == 2  # from the first occurrence only
    async with db.write() as s:
        await service.resolve(s, alert.id, actor="user:ada")
    async with db.write() as s:
        [third] = await service.raise_alert(s, fallout(error="three"))
    assert third.id != first.id  # resolved: a new occurrence is a new alert
    assert len(await deliveries(db)) == 4


async def test_an_alert_rolls_back_with_its_cause(db) -> None:
    use_rules()
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            await service.raise_alert(s, fallout())
            raise RuntimeError("the state change failed")
    assert await alerts(db) == [] and await deliveries(db) == []


async def test_throttle_keeps_alerts_beyond_the_limit_without_sending(db) -> None:
    use_rules(
        "rules:\n  - name: t\n    events: step_fallout\n"
        "    notify: [{to: 'user:ada@example.com', via: email}]\n"
        "    throttle: {count: 2, per: 1h}\n"
    )
    for plan_id in (1, 2, 3):
        async with db.write() as s:
            await service.raise_alert(s, fallout(plan_id))
    rows = await alerts(db)
    assert [a.throttled for a in rows] == [False, False, True]
    assert [d.alert_id for d in await deliveries(db)] == [rows[0].id, rows[1].id]


async def test_escalation_tells_the_next_level_unless_acknowledged(db) -> None:
    runtime = use_rules()
    async with db.write() as s:
        [a1] = await service.raise_alert(s, fallout(1))
        [a2] = await service.raise_alert(s, fallout(2))
    async with db.write() as s:
        await service.acknowledge(s, a2.id, actor="user:ada")
    later = utcnow() + timedelta(minutes=31)
    async with db.write() as s:
        assert await service.escalate_due(s, runtime, utcnow(), 10, lock=False) == 0  # not yet
        assert await service.escalate_due(s, runtime, later, 10, lock=False) == 1
    async with db.write() as s:
        assert await service.escalate_due(s, runtime, later, 10, lock=False) == 0  # once
    rows = {a.id: a for a in await alerts(db)}
    assert (rows[a1.id].level, rows[a1.id].next_escalation_at) == (1, None)  # last level
    assert (rows[a2.id].state, rows[a2.id].acknowledged_by) == ("acknowledged", "user:ada")
    escalated = [d for d in await deliveries(db) if d.level == 1]
    assert [(d.alert_id, d.recipient_kind, d.email) for d in escalated] == [
        (a1.id, "on_call", "oncall@example.com")
    ]
    async with db.read() as s:
        actions = list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["alert.acknowledged", "alert.escalated"]


async def test_resolve_cancels_pending_messages_and_acknowledging_it_then_refuses(db) -> None:
    use_rules()
    async with db.write() as s:
        [alert] = await service.raise_alert(s, fallout())
    async with db.write() as s:
        await service.resolve(s, alert.id, actor="user:ada")
    assert {d.state for d in await deliveries(db)} == {"cancelled"}
    async with db.write() as s:
        with pytest.raises(service.AlertStateError):
            await service.acknowledge(s, alert.id, actor="user:bob")
        with pytest.raises(service.AlertNotFound):
            await service.resolve(s, 999, actor="user:bob")


async def test_conditions_on_order_fields_read_the_plans_snapshot(db) -> None:
    use_rules(
        "rules:\n  - name: big\n    events: step_fallout\n"
        "    when: {amount_above: 100000}\n"
        "    notify: [{to: owner, via: email}]\n"
        "  - name: german\n    events: step_fallout\n"
        "    when: {region: DE, plan: order_fulfillment}\n"
        "    notify: [{to: owner, via: email}]\n"
    )
    definition = await make_plan(db)
    await failing_worker(db, definition).run_until_idle()
    assert [a.rule for a in await alerts(db)] == ["german"]


async def test_two_transactions_opening_the_same_alert_leave_one_open(db) -> None:
    use_rules()

    async def second() -> None:
        async with db.write() as s:
            await service.raise_alert(s, fallout(error="second"))

    async with db.write() as s:
        await service.raise_alert(s, fallout(error="first"))
        # on PostgreSQL the second insert waits on the unique open_key, then counts
        task = asyncio.create_task(second())
        await asyncio.sleep(0.2)
    await task
    [alert] = await alerts(db)
    assert (alert.count, alert.error_message) == (2, "second")
    assert len(await deliveries(db)) == 2
