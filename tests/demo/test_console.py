"""``revflow demo --serve``: after the summary the console is served with a login the
demo printed, and a person can sign in with it and see the run's orders."""

from __future__ import annotations

import re

import httpx

from revflow.demo import run_demo
from revflow.demo.console import ConsoleLogin, free_port
from revflow.demo.report import DemoSummary

TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


async def test_the_served_console_takes_the_printed_login(tmp_path) -> None:
    seen: dict[str, object] = {}

    async def hold(summary: DemoSummary, login: ConsoleLogin) -> None:
        assert login.url.endswith("/console")
        assert any(login.password in line for line in login.lines())
        # served, one order falls out for good (the ERP refuses it); the shipped rules
        # tell its owner once on each channel
        (alerts,) = login.notes
        assert alerts.startswith("alerts so far: 1 email(s) to the SMTP sink, 1 Slack"), alerts
        assert "1 Salesforce notification(s)" in alerts
        async with httpx.AsyncClient(timeout=30) as web:
            assert (await web.get(login.url)).status_code == 303  # not logged in
            form = await web.get(login.url + "/login")
            token = TOKEN.search(form.text)
            assert token
            data = {
                "username": login.username,
                "password": login.password,
                "code": login.recovery_codes[0],
                "login_token": token.group(1),
                "next": "/console",
            }
            r = await web.post(login.url + "/login", data=data)
            assert r.status_code == 303, r.text
            page = await web.get(login.url)
            seen["page"] = page.text
            seen["status"] = page.status_code
            seen["completed"] = summary.completed

    summary = await run_demo(
        3,
        timeout_s=120,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite",
        console_port=free_port(),
        hold=hold,
    )
    assert summary.completed == 2 and summary.fallout == 1 and seen["completed"] == 2
    assert seen["status"] == 200 and "demo" in str(seen["page"])
    # the dashboard counts the run's orders: three received, two completed today
    for key, count in (("received", "3"), ("completed", "2")):
        found = re.search(
            rf'data-kpi="{key}">.*?<span class="value">(\d+)</span>', str(seen["page"]), re.S
        )
        assert found and found.group(1) == count, key
