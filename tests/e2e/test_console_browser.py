"""The console in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright) against a running Revflow with the sandbox org and ERP on loopback.

A person logs in with password and TOTP, filters the orders, reads a failed plan,
comments on its failed step, retries a step with edited input (a bad edit is refused
first), disables the ERP's webhook endpoint, retries another step so its message is
parked, enables the endpoint and replays the range, and previews a mapping on an Order
read from the org; the orders end Completed in the org.  Every main page is checked
with axe-core: no serious or critical violation.  With ``REVFLOW_CONSOLE_SCREENSHOTS=1``
the pages are saved to docs/img for docs/console.md.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest

from revflow.demo import DemoEnvironment
from revflow.demo.console import ConsoleLogin, console_settings, create_console_user, free_port
from revflow.security.keyring import generate_key

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"
    ),
]
playwright_api = pytest.importorskip("playwright.async_api")
axe_api = pytest.importorskip("axe_playwright_python.async_playwright")

IMAGES = Path(__file__).parents[2] / "docs" / "img"
SCREENSHOTS = os.environ.get("REVFLOW_CONSOLE_SCREENSHOTS") == "1"
WAIT_S = 90.0


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[tuple[DemoEnvironment, ConsoleLogin]]:
    """Revflow serving the console, the ERP answering 503 to everything (for now)."""
    port, key = free_port(), generate_key()
    overrides = console_settings(port, key) | {
        # two quick attempts, then the step is fallout
        "worker": {"max_attempts": 2, "initial_interval_s": 0.2, "maximum_interval_s": 0.5},
    }
    async with DemoEnvironment(
        database_url=database_url,
        seed=7,
        serve_api=True,
        erp_fail_share=1.0,
        settings_overrides=overrides,
    ) as env:
        login = await create_console_user(env.database_url, key, port)
        yield env, login


async def until_text(page, selector: str, text: str, timeout_s: float = WAIT_S) -> None:
    """Reload ``page`` until ``selector`` shows ``text`` (work runs in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if text in (await page.locator(selector).first.inner_text()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} never showed {text!r}")
        await page.wait_for_timeout(500)
        await page.reload()


async def check_a11y(page, name: str) -> None:
    results = await axe_api.Axe().run(page)
    assert results.response["passes"], f"{name}: axe checked nothing"
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"
    if SCREENSHOTS:
        IMAGES.mkdir(exist_ok=True)
        await page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=True)


async def test_an_operator_fixes_fallout_in_the_browser(served) -> None:
    env, login = served
    ids = await env.create_orders(2)
    await env.activate(ids)
    totp = pyotp.TOTP(login.totp_secret)
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM))
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            # login: password and TOTP, then back where the browser wanted to go
            await page.goto(f"{login.url}/orders?state=on_hold")
            assert "/console/login" in page.url
            await check_a11y(page, "login")
            await page.get_by_label("Username").fill(login.username)
            await page.get_by_label("Password").fill(login.password)
            await page.get_by_label("Authenticator code").fill(totp.now())
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url("**/console/orders?state=on_hold")

            # both plans end on hold: the ERP refuses everything
            await page.goto(f"{login.url}/orders")
            await page.get_by_label("State").select_option("on_hold")
            await page.get_by_role("button", name="Search").click()
            await until_text(page, "#orders-count", "2 plans match.")
            assert "state=on_hold" in page.url
            await check_a11y(page, "orders")

            # the overview: both orders received, both in fallout; a filter in the URL
            await page.goto(login.url)
            received = page.locator('[data-kpi="received"] .value')
            assert await received.inner_text() == "2"
            assert await page.locator('[data-kpi="fallout_open"] .value').inner_text() == "2"
            await check_a11y(page, "overview")
            await page.get_by_label("Account id").fill("001000000000000AAA")
            await page.get_by_role("button", name="Apply").click()
            await page.wait_for_url("**account=001000000000000AAA**")
            assert await received.inner_text() == "0"

            await page.goto(f"{login.url}/orders?state=on_hold")
            # a plan page: the failed step, its attempts and the ERP's 503
            await page.locator("#orders tbody a").first.click()
            await page.wait_for_url("**/console/plans/*")
            assert await page.locator("#plan-state").inner_text() == "on_hold"
            assert await page.locator("svg.timeline rect.state-failed").count() == 1
            attempts = page.locator("table", has_text="Attempts of").first
            assert "503" in await attempts.inner_text()
            await check_a11y(page, "plan")

            # a comment on the failed step: it joins the trail, its script stays text
            failed = await page.locator("svg.timeline rect.state-failed").get_attribute("data-step")
            await page.get_by_role("textbox", name="Comment").fill(
                "ERP down, **on it** <script>bad=1</script>"
            )
            await page.get_by_label("About").select_option(f"{failed}")
            await page.get_by_role("button", name="Add comment").click()
            await page.locator(".outcomes").wait_for()
            trail = await page.locator("#audit").inner_text()
            assert "ERP down, on it <script>bad=1</script>" in trail
            assert f"comment on {failed}" in trail
            assert await page.evaluate("typeof bad") == "undefined"
            assert await page.locator("#audit strong", has_text="on it").count() == 1

            # the alert history (with or without rules the page must be accessible)
            await page.goto(f"{login.url}/alerts")
            await check_a11y(page, "alerts")

            # the ERP is fixed; retry the first with edited input, a bad edit first
            env.erp.set_faults(fail_share=0.0)
            await page.goto(f"{login.url}/fallout")
            await until_text(page, "#fallout-count", "2 failed steps in 1 group.")
            await check_a11y(page, "fallout")
            await page.get_by_role("link", name="Retry with edited input").first.click()
            box = page.get_by_label("Input (JSON)")
            original = json.loads(await box.input_value())
            await box.fill('{"payload": ')
            await page.get_by_label("Reason").fill("PO number corrected with the customer")
            await page.get_by_role("button", name="Validate and retry").click()
            await page.locator("#input-error").wait_for()
            assert "not JSON" in await page.locator("#input-error").inner_text()
            edited = {**original, "payload": {**original["payload"], "note": "checked"}}
            await page.get_by_label("Input (JSON)").fill(json.dumps(edited))
            await page.get_by_label("Reason").fill("PO number corrected with the customer")
            await page.get_by_role("button", name="Validate and retry").click()
            await page.locator(".outcomes").wait_for()
            assert "done: plan in_progress" in await page.locator(".outcomes").inner_text()
            await until_text(page, "#fallout-count", "1 failed step in 1 group.")

            # the webhook endpoint is disabled: the next retry's message is parked
            await page.goto(f"{login.url}/integrations")
            await check_a11y(page, "integrations")
            await page.get_by_role("link", name="erp").click()
            await page.get_by_label("Reason to disable").fill("ERP maintenance window")
            await page.get_by_role("button", name="Disable endpoint").click()
            await page.locator("#webhook-message").wait_for()
            assert await page.locator("#webhook-state").inner_text() == "disabled"
            await page.goto(f"{login.url}/fallout")
            await page.locator('input[name="sel"]').first.check()
            await page.get_by_label("Action").select_option("retry")
            await page.get_by_label("Reason (goes to the audit trail)").fill("retry after fix")
            await page.get_by_role("button", name="Apply to selected").click()
            await page.locator(".outcomes").wait_for()
            await page.goto(f"{login.url}/integrations/webhooks/erp")
            await until_text(page, "#parked-count", "1")
            await check_a11y(page, "webhook")

            # enable it and replay everything parked since the orders were created
            await page.get_by_label("Reason to enable").fill("maintenance over")
            await page.get_by_role("button", name="Enable endpoint").click()
            await playwright_api.expect(page.locator("#webhook-message")).to_have_text(
                "erp is enabled"
            )
            await page.get_by_label("First sent from (UTC)").fill("2020-01-01T00:00:00")
            await page.get_by_label("Reason", exact=True).fill("replay after maintenance")
            await page.get_by_role("button", name="Replay").click()
            await playwright_api.expect(page.locator("#webhook-message")).to_have_text(
                "replayed 1 message"
            )

            # a mapping previewed on an Order read from the org by its id
            await page.goto(f"{login.url}/integrations/mappings")
            await page.get_by_label("Mapping", exact=True).select_option(
                "order_to_sales_order.yaml"
            )
            await page.get_by_label("Order id").fill(ids[0])
            await page.get_by_role("button", name="Preview").click()
            await page.locator("#preview-out").wait_for()
            assert f'"external_id": "{ids[0]}"' in await page.locator("#preview-out").inner_text()
            await check_a11y(page, "mappings")
        finally:
            await browser.close()
    assert await env.wait_until_done(ids, timeout_s=WAIT_S, final=("Completed",)), [
        env.order_status(i) for i in ids
    ]
