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
        # the served demo runs the shipped alert rules into its inboxes; nothing failed
        (alerts,) = login.notes
        assert alerts.startswith("alerts so far: 0 email(s) to the SMTP sink, 0 Slack")
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
    assert summary.completed == 3 and seen["completed"] == 3
    assert seen["status"] == 200 and "demo" in str(seen["page"])
    # the dashboard counts the run's orders: three received and completed today
    for key in ("received", "completed"):
        found = re.search(
            rf'data-kpi="{key}">.*?<span class="value">(\d+)</span>', str(seen["page"]), re.S
        )
        assert found and found.group(1) == "3", key
