"""Each kind of problem raises its alert where it is recorded, in that transaction:
jeopardy, a disabled webhook endpoint, incidents, the API budget, a loop that stays
down; and a plan leaving hold resolves its fallout alert."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from revflow.alerts.delivery import AlertDeliverer
from revflow.alerts.service import raise_deferred
from revflow.alerts.settings import AlertSettings
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.models import Plan
from revflow.incidents import raise_incident, record_recovered
from revflow.orchestration import operator
from revflow.orchestration.jeopardy_watch import refresh
from revflow.salesforce.budget import ApiBudget
from revflow.supervisor import LoopHealth
from revflow.webhooks import actions
from tests.alerts.alertkit import alerts, failing_worker, make_plan, use_rules

EVERYTHING = """\
on_call: {email: oncall@example.com}
rules:
  - name: all
    events: [jeopardy_at_risk, jeopardy_late, webhook_endpoint_disabled,
             api_budget_exhausted, ingestion_incident, loop_down, permanent_query_error,
             step_fallout]
    notify: [{to: on_call, via: email}]
"""


async def test_a_plan_turning_late_alerts(db) -> None:
    use_rules(EVERYTHING)
    await make_plan(db)
    async with db.write() as s:
        await s.execute(
            update(Plan).values(due_at=utcnow() - timedelta(days=1), jeopardy="on_time")
        )
    async with db.write() as s:
        plan = (await s.scalars(select(Plan))).one()
        assert await refresh(s, plan, WritebackSettings(), "worker") == "late"
    [alert] = await alerts(db)
    assert (alert.kind, alert.plan_id, alert.severity) == ("jeopardy_late", plan.id, "error")
    assert alert.title == "Order 00000123 is late"


async def test_disabling_a_webhook_endpoint_alerts(db) -> None:
    use_rules(EVERYTHING)
    async with db.write() as s:
        await actions.disable(
            s, "erp", "http://127.0.0.1:9/hook", actor="user:ada", reason="maintenance"
        )
    [alert] = await alerts(db)
    assert (alert.kind, alert.subject) == ("webhook_endpoint_disabled", "endpoint:erp")
    assert alert.error_message == "disabled by user:ada: maintenance"


async def test_incidents_alert_once_while_open(db) -> None:
    use_rules(EVERYTHING)
    for _ in range(2):
        await raise_incident(
            db,
            "salesforce:intake:order_read",
            "salesforce_permanent",
            "INVALID_FIELD: No such column 'PoNumber'",
        )
    async with db.write() as s:
        record_recovered(s, "replay_id_expired", {}, "resubscribed", channel="/data/Order")
        await raise_deferred(s)
    rows = await alerts(db)
    assert [(a.kind, a.count) for a in rows] == [
        ("permanent_query_error", 1),  # the repeat updated the incident, not the alert
        ("ingestion_incident", 1),
    ]
    assert "PoNumber" in (rows[0].error_message or "")


async def test_the_api_budget_running_out_alerts(db) -> None:
    use_rules(EVERYTHING)
    budget = ApiBudget(0.5)
    await budget.pause_alert(db, "write-back")
    await budget.pause_alert(db, "write-back")  # once per pause
    [alert] = await alerts(db)
    assert alert.kind == "api_budget_exhausted" and "write-back" in alert.summary


class FakeLoops:
    """The supervisor's view of its loops (names, clock, health), as the loop reads it."""

    def __init__(self) -> None:
        self.now = time.monotonic()
        self.loops = {"writeback": LoopHealth("writeback", 30.0, self.now)}

    @property
    def names(self) -> list[str]:
        return list(self.loops)

    @property
    def clock(self):
        return lambda: self.now

    def health(self, name: str) -> LoopHealth:
        return self.loops[name]


async def test_a_loop_down_too_long_alerts_and_resolves_when_back(db) -> None:
    use_rules(EVERYTHING)
    loops = FakeLoops()
    deliverer = AlertDeliverer(db, {}, AlertSettings(loop_down_after_s=60), loops=loops)
    health = loops.loops["writeback"]
    health.state, health.down_since, health.cause = "restarting", loops.now - 10, "OSError: x"
    await deliverer.tick()
    assert await alerts(db) == []  # not long enough
    loops.now += 60
    await deliverer.tick()
    await deliverer.tick()
    [alert] = await alerts(db)
    assert (alert.kind, alert.subject, alert.state, alert.count) == (
        "loop_down",
        "loop:writeback",
        "open",
        1,
    )
    health.state, health.down_since = "up", None
    await deliverer.tick()
    [alert] = await alerts(db)
    assert (alert.state, alert.resolved_by) == ("resolved", "revflow")


async def test_a_plan_leaving_hold_resolves_its_fallout_alert(db) -> None:
    use_rules(EVERYTHING)
    definition = await make_plan(db)
    await failing_worker(db, definition).run_until_idle()
    [alert] = await alerts(db)
    assert alert.state == "open"
    async with db.write() as s:
        await operator.skip(
            s,
            WritebackSettings(),
            alert.plan_id or 0,
            "create_sales_order",
            actor="user:ada",
            reason="done by hand",
        )
    [alert] = await alerts(db)
    assert (alert.state, alert.resolved_by) == ("resolved", "revflow")


async def test_a_write_back_refused_by_a_validation_rule_alerts(db, org) -> None:
    from revflow.salesforce.writeback import WritebackFlusher
    from revflow.sandbox.validation import CODE, ValidationRule
    from tests.e2e.test_writeback_refusals import RULE, STATUS, complete
    from tests.e2e.test_writeback_salesforce import client_for
    from tests.orgkit import Shop
    from tests.plankit import insert_plan

    use_rules(EVERYTHING.replace("step_fallout]", "step_fallout, validation_failure]"))
    held = Shop(org).order()
    plan_id = await insert_plan(db, [{"key": "s", "kind": "milestone"}], order_id=held)
    org.faults.validation_rules = [
        ValidationRule(STATUS, "Completed", records=[held], message=RULE)
    ]
    await complete(db, held, plan_id)
    await WritebackFlusher(db, client_for(org)).flush_once()
    [alert] = await alerts(db)
    assert (alert.kind, alert.plan_id, alert.order_id) == ("validation_failure", plan_id, held)
    assert alert.error_class == CODE and RULE in (alert.error_message or "")
