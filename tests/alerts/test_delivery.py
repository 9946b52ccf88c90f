"""The delivery loop: claims due messages with a lease, sends them over a real SMTP
server on loopback, retries 4xx replies, fails 5xx ones, escalates, and survives a
crash between claiming and recording."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from revflow.alerts import service
from revflow.alerts.channels.email import EmailChannel
from revflow.alerts.delivery import AlertDeliverer
from revflow.alerts.events import AlertEvent
from revflow.alerts.message import EventKind
from revflow.alerts.owners import OrgOwners
from revflow.alerts.settings import AlertSettings, EmailChannelSettings
from revflow.clock import aware, utcnow
from revflow.db.models import Alert, AlertDelivery
from revflow.sandbox.org import DEMO_USER_EMAIL, SandboxOrg
from tests.alerts.alertkit import ORDER, PUBLIC_URL, alerts, deliveries, use_rules
from tests.alerts.smtpkit import SmtpServer
from tests.orgkit import settings_for, sf_client

TEAM_RULES = """\
teams:
  finance: {email: finance@example.com}
on_call: {email: oncall@example.com}
rules:
  - name: fallout
    events: step_fallout
    notify: [{to: team:finance, via: email}]
    escalate:
      - after: 30m
        notify: [{to: on_call, via: email}]
"""


def event(plan_id: int = 1) -> AlertEvent:
    return AlertEvent(
        EventKind.STEP_FALLOUT,
        f"plan:{plan_id}",
        "Step create_sales_order failed on order {order}",
        "Step create_sales_order failed and will not be retried.",
        plan_id=plan_id,
        order_id=ORDER["Id"],
        order=ORDER,
        step="create_sales_order",
        error_class="FatalError",
        error_message="customer 42 is blocked",
    )


def deliverer(db, smtp: SmtpServer, owners: OrgOwners | None = None, **kw) -> AlertDeliverer:
    settings = AlertSettings(
        email=EmailChannelSettings(host="127.0.0.1", port=smtp.port, sender="rf@example.com"),
        initial_interval_s=60,
        max_attempts=3,
        **kw,
    )
    return AlertDeliverer(db, {"email": EmailChannel(settings.email)}, settings, owners=owners)


async def raise_one(db, plan_id: int = 1) -> int:
    async with db.write() as s:
        [alert] = await service.raise_alert(s, event(plan_id))
    return alert.id


async def test_the_owner_is_found_in_the_org_and_emailed_with_the_plan_link(
    db, smtp: SmtpServer, org: SandboxOrg
) -> None:
    use_rules()  # owner and the finance team, by email
    alert_id = await raise_one(db)
    owners = OrgOwners(sf_client(settings_for(org, "sqlite://")))
    assert await deliverer(db, smtp, owners).tick() == 2
    got = {m.rcpt_tos[0]: m for m in smtp.messages}
    assert set(got) == {DEMO_USER_EMAIL, "finance@example.com"}  # the Order's OwnerId's user
    text = got[DEMO_USER_EMAIL].body("plain")
    assert f"Open the plan: {PUBLIC_URL}/console/plans/1" in text
    assert f"Acknowledge: {PUBLIC_URL}/api/alerts/ack?token={alert_id}." in text
    assert "Order: 00000123" in text and "Why: FatalError: customer 42 is blocked" in text
    assert [(d.state, d.attempts) for d in await deliveries(db)] == [("sent", 1), ("sent", 1)]
    assert await deliverer(db, smtp, owners).tick() == 0  # nothing twice
    assert len(smtp.messages) == 2


async def test_a_4xx_reply_waits_and_retries_a_5xx_reply_fails(db, smtp: SmtpServer) -> None:
    use_rules(TEAM_RULES)
    await raise_one(db)
    loop = deliverer(db, smtp)
    smtp.refuse = "451 4.3.0 try later"
    assert await loop.tick() == 1
    [row] = await deliveries(db)
    assert (row.state, row.attempts, row.lease_owner) == ("pending", 1, None)
    assert "451" in (row.error or "") and aware(row.due_at) > utcnow() + timedelta(seconds=30)
    assert await loop.tick() == 0  # not due yet
    async with db.write() as s:
        await s.execute(update(AlertDelivery).values(due_at=utcnow()))
    smtp.refuse = None
    assert await loop.tick() == 1
    [row] = await deliveries(db)
    assert (row.state, row.attempts, row.error) == ("sent", 2, None)
    await raise_one(db, plan_id=2)
    smtp.refuse = "550 5.1.1 no such mailbox"
    await loop.tick()
    failed = (await deliveries(db))[-1]
    assert (failed.state, failed.attempts) == ("failed", 1) and "550" in (failed.error or "")
    assert len(smtp.messages) == 1


async def test_retries_end_after_max_attempts(db, smtp: SmtpServer) -> None:
    use_rules(TEAM_RULES)
    await raise_one(db)
    loop = deliverer(db, smtp)
    smtp.refuse = "421 4.7.0 closing"
    for _ in range(3):
        async with db.write() as s:
            await s.execute(update(AlertDelivery).values(due_at=utcnow()))
        await loop.tick()
    [row] = await deliveries(db)
    assert (row.state, row.attempts) == ("failed", 3)


async def test_a_crashed_claim_is_sent_by_another_process_after_its_lease(
    db, smtp: SmtpServer
) -> None:
    use_rules(TEAM_RULES)
    await raise_one(db)
    crashed = deliverer(db, smtp)
    jobs = await crashed._claim(None)  # claimed, then the process died before sending
    assert len(jobs) == 1
    other = deliverer(db, smtp)
    assert await other.tick() == 0  # the lease holds
    async with db.write() as s:
        await s.execute(update(AlertDelivery).values(lease_expires_at=utcnow()))
    assert await other.tick() == 1
    assert len(smtp.messages) == 1
    # the crashed process's late outcome is not recorded over the other's
    await crashed._deliver(jobs[0])
    [row] = await deliveries(db)
    assert (row.state, row.lease_owner) == ("sent", None)


async def test_escalation_sends_to_the_next_level_and_ack_stops_it(db, smtp: SmtpServer) -> None:
    use_rules(TEAM_RULES)
    first, second = await raise_one(db, 1), await raise_one(db, 2)
    loop = deliverer(db, smtp)
    await loop.tick()
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["finance@example.com"] * 2
    async with db.write() as s:
        await service.acknowledge(s, second, actor="user:ada")
    async with db.write() as s:  # half an hour passes
        await s.execute(update(Alert).values(next_escalation_at=utcnow() - timedelta(seconds=1)))
    await loop.tick()  # escalates (the acknowledged alert has no escalation left)
    await loop.tick()  # sends
    on_call = [m for m in smtp.messages if m.rcpt_tos == ["oncall@example.com"]]
    assert len(on_call) == 1 and on_call[0].message["X-Revflow-Alert"] == str(first)
    rows = {a.id: a for a in await alerts(db)}
    assert rows[first].level == 1 and rows[second].level == 0


async def test_a_resolved_alerts_pending_message_is_cancelled_not_sent(
    db, smtp: SmtpServer
) -> None:
    use_rules(TEAM_RULES)
    alert_id = await raise_one(db)
    loop = deliverer(db, smtp)
    jobs = await loop._claim(None)
    async with db.write() as s:
        await service.resolve(s, alert_id, actor="user:ada")
    # the claim read the alert before it was resolved: the lease was dropped by resolve
    await loop._deliver(jobs[0])
    assert [d.state for d in await deliveries(db)] == ["cancelled"]
    assert await loop.tick() == 0


async def test_an_unconfigured_channel_or_missing_owner_lookup_fails_permanently(
    db, smtp: SmtpServer
) -> None:
    use_rules(
        "rules:\n  - name: r\n    events: step_fallout\n"
        "    notify: [{to: owner, via: [email, teams]}]\n"
    )
    await raise_one(db)
    await deliverer(db, smtp).tick()
    rows = await deliveries(db)
    assert [(d.channel, d.state) for d in rows] == [("email", "failed"), ("teams", "failed")]
    assert "no Salesforce org" in (rows[0].error or "")
    assert "channel 'teams' is not configured" in (rows[1].error or "")


DIGEST_RULES = """\
teams:
  finance: {email: finance@example.com}
rules:
  - name: fallout
    events: step_fallout
    notify: [{to: team:finance, via: email}]
    digest: 1h
"""


async def test_a_digest_holds_first_messages_and_sends_them_as_one(db, smtp: SmtpServer) -> None:
    use_rules(DIGEST_RULES)
    for plan_id in (1, 2, 3):
        await raise_one(db, plan_id)
    rows = await deliveries(db)
    due = {aware(d.due_at) for d in rows}
    assert len(due) == 1  # the next full hour, for all three
    [at] = due
    assert at > utcnow() and at.minute == at.second == 0
    loop = deliverer(db, smtp)
    assert await loop.tick() == 0 and smtp.messages == []
    async with db.write() as s:  # the hour comes
        await s.execute(update(AlertDelivery).values(due_at=utcnow()))
    await loop.tick()
    [mail] = smtp.messages
    assert mail.message["Subject"] == "[Revflow error] 3 alerts of rule fallout"
    text = mail.body("plain")
    for plan_id in (1, 2, 3):
        assert f"{PUBLIC_URL}/console/plans/{plan_id}" in text
    assert [(d.state, d.attempts) for d in await deliveries(db)] == [("sent", 1)] * 3
