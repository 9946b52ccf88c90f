"""Issue 15's "done when", end to end over loopback sockets: with the shipped example
rules, a step that fails produces exactly one email to the Order's owner (a real SMTP
server), one Slack message (a server answering like Slack's incoming webhook) and one
custom notification in the sandbox org, each linking to the plan; acknowledging the
alert stops its escalation, while an alert nobody acknowledges escalates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from revflow.alerts import service as alerts
from revflow.clock import set_now, utcnow
from revflow.db.models import Alert, AlertDelivery, Plan
from revflow.demo import DemoEnvironment
from revflow.sandbox.org import DEMO_USER_EMAIL, DEMO_USER_ID
from tests.alerts.smtpkit import smtp_server
from tests.channelkit import catcher

pytestmark = pytest.mark.e2e

RULES = Path(__file__).resolve().parents[2] / "alerts" / "rules.yaml"
PUBLIC = "https://revflow.test"


async def _until(done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_failing_step_tells_the_owner_once_on_each_channel(database_url):
    with smtp_server() as smtp:
        async with catcher("slack") as slack, catcher("slack") as finance:
            overrides = {
                "worker": {
                    "max_attempts": 2,
                    "initial_interval_s": 0.05,
                    "maximum_interval_s": 0.1,
                },
                "console": {"public_url": PUBLIC},
                "alerts": {
                    "rules_file": str(RULES),
                    "link_secret": "ack-links-key",
                    "poll_interval_s": 0.1,
                    "email": {"host": "127.0.0.1", "port": smtp.port, "sender": "revflow@rf.test"},
                    "slack": {"webhook_url": slack.url, "webhooks": {"finance": finance.url}},
                    "salesforce": {"enabled": True},
                },
            }
            async with DemoEnvironment(
                database_url=database_url, seed=15, settings_overrides=overrides
            ) as env:
                env.erp.set_faults(fail_share=1.0)  # every ERP call fails: the step falls out
                ids = await env.create_orders(2)
                await env.activate(ids)
                await _until(
                    lambda: (
                        len(smtp.messages) >= 2
                        and len(slack.requests) >= 2
                        and len(env.org.notifications) >= 2
                    )
                )
                await asyncio.sleep(1.0)  # time enough for any duplicate to show
                assert env.revflow is not None
                db = env.revflow.db
                async with db.read() as s:
                    plans = {p.order_id: p.id for p in (await s.scalars(select(Plan))).all()}
                    opened = (await s.scalars(select(Alert).order_by(Alert.id))).all()
                assert sorted(plans) == sorted(ids)
                assert [(a.kind, a.rule, a.state) for a in opened] == [
                    ("step_fallout", "step-fallout", "open")
                ] * 2

                # exactly one message per failing step on each channel, to the owner
                urls = {oid: f"{PUBLIC}/console/plans/{pid}" for oid, pid in plans.items()}
                assert len(smtp.messages) == 2
                for mail in smtp.messages:
                    assert mail.rcpt_tos == [DEMO_USER_EMAIL]
                mailed = [m.body("plain") for m in smtp.messages]
                assert sorted(u for u in urls.values() if any(u in b for b in mailed)) == sorted(
                    urls.values()
                )
                assert len(slack.requests) == 2 and finance.requests == []
                linked = {
                    b["url"]
                    for r in slack.requests
                    for block in r.json["blocks"]
                    if block["type"] == "actions"
                    for b in block["elements"]
                    if b["action_id"] == "open_plan"
                }
                assert linked == set(urls.values())
                assert len(env.org.notifications) == 2
                for note in env.org.notifications:
                    assert note["recipientIds"] == [DEMO_USER_ID]
                    assert note["notificationType"] == "Revflow_Alert"
                    assert note["body"].endswith(f"Plan: {urls[note['targetId']]}")

                # acknowledge the first order's alert; thirty-one minutes later only
                # the other one escalates (shipped rules: finance-ops after 30 minutes)
                acked, ignored = opened
                async with db.write() as s:
                    await alerts.acknowledge(s, acked.id, actor="user:ada")
                set_now(utcnow() + timedelta(minutes=31))
                try:
                    await env.revflow.alerts.tick()
                    await _until(lambda: len(finance.requests) >= 1)
                    await asyncio.sleep(0.5)
                finally:
                    set_now(None)
                async with db.read() as s:
                    later = (
                        await s.scalars(select(AlertDelivery).where(AlertDelivery.level == 1))
                    ).all()
                assert {(d.alert_id, d.channel, d.recipient_name) for d in later} == {
                    (ignored.id, "email", "finance-ops"),
                    (ignored.id, "slack", "finance-ops"),
                }
                assert len(finance.requests) == 1
                assert len(slack.requests) == 2 and len(env.org.notifications) == 2
