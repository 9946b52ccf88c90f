"""Issue 15's "done when", end to end in a demo environment (sandbox org, sandbox ERP,
Revflow) over loopback sockets, where an ERP that refuses every delivery makes a step
fail for good.

- With a small rules file: the Order's owner gets exactly one email (a real SMTP server)
  linking to the plan; acknowledging by the link in the email stops the escalation
  that the other alert goes through.
- With the shipped example rules (``alerts/rules.yaml``): each failing step produces
  exactly one email to the owner, one Slack message (a server answering like Slack's
  incoming webhook) and one custom notification in the sandbox org, each linking to
  the plan; the alert acknowledged by the Slack message's button does not escalate,
  the other escalates to the finance team."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from revflow.clock import set_now, utcnow
from revflow.db.database import Database
from revflow.db.models import Alert, AlertDelivery, Plan
from revflow.demo import DemoEnvironment
from revflow.sandbox.org import DEMO_USER_EMAIL, DEMO_USER_ID
from tests.alerts.smtpkit import Received, SmtpServer, smtp_server

pytestmark = pytest.mark.e2e

PUBLIC_URL = "https://revflow.example.com"
RULES = """\
on_call: {email: on-call@example.com}
rules:
  - name: fallout
    events: step_fallout
    notify: [{to: owner, via: email}]
    escalate:
      - after: 3s
        notify: [{to: on_call, via: email}]
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


async def wait_for(smtp: SmtpServer, to: str, n: int, timeout_s: float = 90) -> list[Received]:
    for _ in range(int(timeout_s * 10)):
        found = [m for m in smtp.messages if m.rcpt_tos == [to]]
        if len(found) >= n:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(smtp.messages)} message(s), not {n} to {to}")


async def test_a_failing_step_emails_the_owner_once_and_ack_stops_escalation(
    database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    overrides = {
        "worker": {"initial_interval_s": 0.05, "maximum_interval_s": 0.1, "max_attempts": 2},
        "console": {"public_url": PUBLIC_URL},
        "alerts": {
            "rules_file": str(rules),
            "link_secret": "a-secret-for-acknowledge-links",
            "poll_interval_s": 0.1,
            "email": {"host": "127.0.0.1", "port": smtp.port, "sender": "revflow@example.com"},
        },
    }
    async with DemoEnvironment(
        database_url=database_url, seed=5, erp_fail_share=1.0, settings_overrides=overrides
    ) as env:
        ids = await env.create_orders(2)
        await env.activate(ids)
        owner_mails = await wait_for(smtp, DEMO_USER_EMAIL, 2)
        assert env.revflow is not None
        db = Database(database_url)
        try:
            async with db.read() as s:
                plans = {p.order_id: p for p in await s.scalars(select(Plan))}
        finally:
            await db.dispose()
        assert {p.state for p in plans.values()} == {"on_hold"}
        by_plan: dict[str, Received] = {}
        for mail in owner_mails:
            text = mail.body("plain")
            link = re.search(rf"{PUBLIC_URL}/console/plans/(\d+)", text)
            assert link, text
            by_plan[link.group(1)] = mail
            assert "create_sales_order" in text and "Why: " in text
        assert sorted(by_plan) == sorted(str(p.id) for p in plans.values())  # one per plan
        # acknowledge the first alert by the link in its email (path and token only: the
        # public URL is the proxy's, the test calls the app itself)
        first, second = sorted(by_plan)
        ack = re.search(r"/api/alerts/ack\?token=(\S+)", by_plan[first].body("plain"))
        assert ack
        transport = httpx.ASGITransport(app=env.revflow.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
            page = await browser.get("/api/alerts/ack", params={"token": ack.group(1)})
            assert page.status_code == 200
            action = re.search(r'<form method="post" action="([^"]+)"', page.text)
            assert action, page.text
            done = await browser.post(html.unescape(action.group(1)))  # the page's button
            assert done.status_code == 200 and "acknowledged" in done.text
        escalated = await wait_for(smtp, "on-call@example.com", 1)
        assert f"/console/plans/{second}" in escalated[0].body("plain")
        # a few more rounds of the delivery loop: the acknowledged alert never escalates
        await asyncio.sleep(1.0)
        on_call = [m for m in smtp.messages if m.rcpt_tos == ["on-call@example.com"]]
        assert [f"/console/plans/{second}" in m.body("plain") for m in on_call] == [True]
        assert len([m for m in smtp.messages if m.rcpt_tos == [DEMO_USER_EMAIL]]) == 2


async def _until(done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_with_the_shipped_rules_the_owner_hears_once_on_each_channel(
    database_url: str,
) -> None:
    """``DemoEnvironment(alerts=True)`` is what ``revflow demo`` runs alerts with: the
    shipped rules, an SMTP sink, a Slack-style webhook and the sandbox org."""
    overrides: dict[str, Any] = {
        "worker": {"max_attempts": 2, "initial_interval_s": 0.05, "maximum_interval_s": 0.1},
        "console": {"public_url": PUBLIC_URL},
    }
    async with DemoEnvironment(
        database_url=database_url,
        seed=15,
        erp_fail_share=1.0,
        settings_overrides=overrides,
        alerts=True,
    ) as env:
        assert env.mail is not None and env.revflow is not None
        mails, inbox = env.mail.mails, env.inbox
        ids = await env.create_orders(2)
        await env.activate(ids)
        await _until(
            lambda: (
                len(mails) >= 2 and len(inbox.of("slack")) >= 2 and len(env.org.notifications) >= 2
            )
        )
        await asyncio.sleep(1.0)  # time enough for any duplicate to show
        db = env.revflow.db
        async with db.read() as s:
            plans = {p.order_id: p.id for p in (await s.scalars(select(Plan))).all()}
            opened = (await s.scalars(select(Alert).order_by(Alert.id))).all()
        assert sorted(plans) == sorted(ids)
        assert [(a.kind, a.rule, a.state) for a in opened] == [
            ("step_fallout", "step-fallout", "open")
        ] * 2

        # exactly one message per failing step on each channel, to the owner
        urls = {oid: f"{PUBLIC_URL}/console/plans/{pid}" for oid, pid in plans.items()}
        assert [m.recipients for m in mails] == [[DEMO_USER_EMAIL]] * 2
        mailed = [str(m.message) for m in mails]
        assert {u for u in urls.values() if any(u in b for b in mailed)} == set(urls.values())
        slack = [p.body for p in inbox.of("slack", "alerts")]
        assert len(slack) == 2 and inbox.of("slack", "finance") == []
        linked = {
            b["url"]
            for body in slack
            for block in body["blocks"]
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

        # acknowledge one alert by the Slack message's button; thirty-one minutes later
        # only the other escalates (shipped rules: finance-ops after 30 minutes)
        acked_message = next(b for b in slack if f"<{urls[ids[0]]}|" in b["text"])
        (ack_button,) = [
            b["url"]
            for block in acked_message["blocks"]
            if block["type"] == "actions"
            for b in block["elements"]
            if b["action_id"] == "acknowledge"
        ]
        link = urlsplit(ack_button)
        transport = httpx.ASGITransport(app=env.revflow.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
            page = await browser.get(f"{link.path}?{link.query}")  # shows a button
            assert page.status_code == 200, page.text
            form = re.search(r'<form method="post" action="([^"]+)"', page.text)
            assert form, page.text
            done = await browser.post(form.group(1).replace("&amp;", "&"))
            assert done.status_code == 200 and "acknowledged" in done.text, done.text
        async with db.read() as s:
            states = {a.plan_id: a.state for a in (await s.scalars(select(Alert))).all()}
        assert states == {plans[ids[0]]: "acknowledged", plans[ids[1]]: "open"}
        set_now(utcnow() + timedelta(minutes=31))
        try:
            await env.revflow.alerts.tick()
            await _until(lambda: len(inbox.of("slack", "finance")) >= 1)
            await asyncio.sleep(0.5)
        finally:
            set_now(None)
        async with db.read() as s:
            later = (await s.scalars(select(AlertDelivery).where(AlertDelivery.level == 1))).all()
            by_id = {a.id: a.plan_id for a in (await s.scalars(select(Alert))).all()}
        assert {(by_id[d.alert_id], d.channel, d.recipient_name) for d in later} == {
            (plans[ids[1]], "email", "finance-ops"),
            (plans[ids[1]], "slack", "finance-ops"),
        }
        (escalated,) = inbox.of("slack", "finance")
        assert f"<{urls[ids[1]]}|" in escalated.body["text"]
        assert len(inbox.of("slack", "alerts")) == 2 and len(env.org.notifications) == 2
