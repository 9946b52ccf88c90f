"""The plan page: timeline with dependencies, attempts with secrets redacted, mapping
versions, the order's revisions, the audit trail, and actions by the logged-in user."""

from __future__ import annotations

from html import unescape

from revflow.connectors.errors import FatalError
from revflow.db.models import OrderSnapshot
from revflow.security.identity import Role
from tests.consolekit import console_app, logged_in
from tests.plankit import ORDER_ID, insert_plan, make_worker, states


def blocked(action, payload, ctx):
    raise FatalError("HTTP 401: Authorization: Bearer abcdefghijklmnop refused")


async def held(db) -> int:
    pid = await insert_plan(
        db,
        [
            {
                "key": "so",
                "kind": "callout",
                "action": "so.create",
                "input": {"payload": {"qty": 2, "password": "hunter2"}},
                "mapping_hash": "abc123def4567890",
            },
            {"key": "invoice", "kind": "milestone", "depends_on": ["so"]},
        ],
    )
    await make_worker(db, blocked).run_until_idle()
    return pid


async def test_the_page_shows_timeline_attempts_and_trail_without_secrets(db) -> None:
    pid = await held(db)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get(f"/console/plans/{pid}")
    assert page.status_code == 200
    text = unescape(page.text)
    assert f"Plan {pid}: order {ORDER_ID}" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="timeline"' in text
    assert text.count('class="dep"') == 1  # invoice depends on so
    assert "The timeline as a table" in text
    assert 'hx-trigger="every 5s" hx-select="#live"' in text  # an open plan updates itself
    assert "Attempts of so" in text and "fatal" in text
    assert "Bearer ***" in text and "abcdefghijklmnop" not in text
    assert '"password": "***"' in text and "hunter2" not in text
    assert "abc123def456" in text  # the step's mapping version
    assert "the order has not been amended" in text
    assert "step.failed" in text or "plan.on_hold" in text or "worker" in text
    # a viewer sees no action buttons' effect, but the page offers them by state
    assert "Retry so" in text and "Cancel" in text


async def test_an_operator_retries_from_the_plan_page_and_it_shows_in_the_trail(db) -> None:
    pid = await held(db)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="otto") as web:
        no_reason = await web.post(
            f"/console/plans/{pid}/act", data={"action": "retry", "step": "so"}
        )
        assert no_reason.status_code == 422 and "Give a reason" in no_reason.text
        r = await web.post(
            f"/console/plans/{pid}/act",
            data={"action": "retry", "step": "so", "reason": "customer unblocked"},
        )
        assert r.status_code == 200
        text = unescape(r.text)
        assert "done: plan in_progress; so → ready" in text
        assert "operator.retry" in text and "user:otto" in text
        assert "customer unblocked" in text
        again = await web.post(
            f"/console/plans/{pid}/act",
            data={"action": "retry", "step": "so", "reason": "twice"},
        )
    assert again.status_code == 409
    assert "only a failed step can be retried" in unescape(again.text)
    _, steps = await states(db, pid)
    assert steps["so"].state == "ready"


async def test_an_amended_order_shows_what_changed(db) -> None:
    pid = await held(db)
    async with db.write() as s:
        s.add(OrderSnapshot(order_id=ORDER_ID, record={"Id": ORDER_ID, "PoNumber": "PO-2"}))
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get(f"/console/plans/{pid}")
    text = unescape(page.text)
    assert "<code>PoNumber</code></td><td>added</td><td></td><td>PO-2</td>" in text


async def test_an_unknown_plan_is_a_404_page(db) -> None:
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        r = await web.get("/console/plans/999")
        bad = await web.get("/console/plans/0")
    assert r.status_code == 404 and "no plan 999" in r.text
    assert bad.status_code == 400
