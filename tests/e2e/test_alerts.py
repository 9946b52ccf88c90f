"""End to end: in a demo environment (sandbox org, sandbox ERP, Revflow) an ERP that
refuses every delivery makes a step fail for good; its Order's owner gets exactly one
email (caught by a real SMTP server on loopback) linking to the plan; acknowledging by
the link in the email stops the escalation that the other alert goes through."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from revflow.db.database import Database
from revflow.db.models import Plan
from revflow.demo import DemoEnvironment
from revflow.sandbox.org import DEMO_USER_EMAIL
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
