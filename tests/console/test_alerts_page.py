"""The alert history page: what it shows, filters, and acknowledging or resolving an
alert as the logged-in operator (escalation stops; viewers are refused)."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

from sqlalchemy import select, update

from revflow.alerts import service
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.models import AlertDelivery, AuditEntry
from revflow.security.identity import Role
from tests.alerts.alertkit import alerts, deliveries, failing_worker, make_plan, use_rules
from tests.consolekit import console_app, logged_in


async def fallout(db: Database) -> int:
    """A failed step with the fallout rules on: one open alert; its id."""
    use_rules()
    definition = await make_plan(db)
    await failing_worker(db, definition, "customer 42 is blocked").run_until_idle()
    [alert] = await alerts(db)
    return alert.id


async def test_a_viewer_sees_the_history_and_cannot_acknowledge(db) -> None:
    aid = await fallout(db)
    async with db.write() as s:  # a failed message whose error quotes a credential
        await s.execute(
            update(AlertDelivery)
            .where(AlertDelivery.recipient_kind == "team")
            .values(state="failed", attempts=3, error="HTTP 401 Bearer abcdefghijklmnop refused")
        )
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get("/console/alerts")
        refused = await web.post(f"/console/alerts/{aid}/acknowledge")
        refused_resolve = await web.post(f"/console/alerts/{aid}/resolve")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "Step create_sales_order failed on order 00000123" in text
    assert "fallout (step_fallout)" in text
    [plan_id] = {a.plan_id for a in await alerts(db)}
    assert f'href="/console/plans/{plan_id}"' in text
    assert "finance <finance@example.com>" in text and "failed" in text
    assert "Bearer ***" in text and "abcdefghijklmnop" not in text
    assert 'href="/console/alerts" aria-current="page"' in text  # in the nav
    assert "Acknowledge alert" not in text  # no buttons for a viewer
    assert refused.status_code == 403 and refused_resolve.status_code == 403
    [alert] = await alerts(db)
    assert alert.state == "open" and alert.next_escalation_at is not None


async def test_an_operator_acknowledges_and_the_escalation_stops(db) -> None:
    aid = await fallout(db)
    runtime = use_rules()
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="otto") as web:
        page = await web.get("/console/alerts")
        assert f"Acknowledge alert {aid}" in page.text
        r = await web.post(f"/console/alerts/{aid}/acknowledge?state=acknowledged")
    assert r.status_code == 200
    assert f"Alert {aid} acknowledged." in r.text
    assert "Acknowledged by</dt><dd>user:otto" in r.text
    assert f"Acknowledge alert {aid}" not in r.text and f"Resolve alert {aid}" in r.text
    [alert] = await alerts(db)
    assert (alert.state, alert.acknowledged_by, alert.next_escalation_at) == (
        "acknowledged",
        "user:otto",
        None,
    )
    async with db.write() as s:  # an hour on, past the 30 minutes of the rule
        escalated = await service.escalate_due(
            s, runtime, utcnow() + timedelta(hours=1), 10, lock=False
        )
    assert escalated == 0
    assert {d.level for d in await deliveries(db)} == {0}  # on-call was never told
    async with db.read() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "alert.acknowledged"))
    assert entry is not None and entry.actor == "user:otto"


async def test_an_operator_resolves_and_pending_messages_are_cancelled(db) -> None:
    aid = await fallout(db)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="otto") as web:
        r = await web.post(f"/console/alerts/{aid}/resolve")
        again = await web.post(f"/console/alerts/{aid}/acknowledge")
        missing = await web.post("/console/alerts/999/acknowledge")
    assert r.status_code == 200 and f"Alert {aid} resolved." in r.text
    assert "Resolved by</dt><dd>user:otto" in r.text
    assert again.status_code == 409 and "is resolved already" in again.text
    assert missing.status_code == 404 and "no alert 999" in missing.text
    assert {d.state for d in await deliveries(db)} == {"cancelled"}
    async with db.read() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "alert.resolved"))
    assert entry is not None and entry.actor == "user:otto"


async def test_filters_narrow_the_history_and_a_bad_one_says_which(db) -> None:
    await fallout(db)
    [alert] = await alerts(db)
    other = "info" if alert.severity != "info" else "critical"
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        open_ = await web.get(
            "/console/alerts", params={"state": "open", "severity": alert.severity}
        )
        calmer = await web.get("/console/alerts", params={"severity": other})
        resolved = await web.get("/console/alerts", params={"state": "resolved"})
        other_kind = await web.get("/console/alerts", params={"kind": "loop_down"})
        bad = await web.get("/console/alerts", params={"state": "bogus"})
        bad_plan = await web.get("/console/alerts", params={"plan": "x"})
    assert "1 alert, open first" in open_.text and "0 alerts" in calmer.text
    assert "0 alerts" in resolved.text and "No alert matches" in resolved.text
    assert "0 alerts" in other_kind.text
    assert bad.status_code == 400 and "state must be one of open, acknowledged, resolved" in (
        unescape(bad.text)
    )
    assert bad_plan.status_code == 400 and "plan must be a whole number" in bad_plan.text


async def test_the_plan_page_shows_the_plans_alerts(db) -> None:
    await fallout(db)
    [alert] = await alerts(db)
    assert alert.plan_id is not None
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get(f"/console/plans/{alert.plan_id}")
        listed = await web.get("/console/alerts", params={"plan": str(alert.plan_id)})
        other = await web.get("/console/alerts", params={"plan": str(alert.plan_id + 1)})
    text = unescape(page.text)
    assert 'id="plan-alerts"' in text
    assert "Step create_sales_order failed on order 00000123" in text
    assert f'href="/console/alerts?plan={alert.plan_id}"' in text
    assert "1 alert, open first" in listed.text and "0 alerts" in other.text
