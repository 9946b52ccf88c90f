"""The fallout queue page: groups, retry with edited input (checked before it is saved),
bulk actions with a reason, audited with the logged-in identity; over the real app."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from revflow.connectors.errors import FatalError
from revflow.db.models import AuditEntry
from revflow.security.identity import Role
from tests.consolekit import console_app, logged_in
from tests.plankit import insert_plan, make_worker, states


def blocked(action, payload, ctx):
    raise FatalError(f"HTTP 422: customer {payload.get('customer', 0)} is blocked")


async def held_plans(db, n: int) -> list[int]:
    ids = []
    for i in range(n):
        ids.append(
            await insert_plan(
                db,
                [
                    {
                        "key": "so",
                        "kind": "callout",
                        "action": "so.create",
                        "input": {"payload": {"customer": 40 + i, "api_key": "sk-live-1"}},
                    },
                    {"key": "after", "kind": "milestone", "depends_on": ["so"]},
                ],
                order_id=f"8015e00000Q7m{i:02d}AAJ",
            )
        )
    await make_worker(db, blocked).run_until_idle()
    return ids


async def test_failed_steps_are_grouped_by_error_class(db) -> None:
    ids = await held_plans(db, 3)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get("/console/fallout")
    assert page.status_code == 200
    assert "3 failed steps in 1 group." in page.text
    assert "callout: HTTP 422: customer &lt;n&gt; is blocked" in page.text
    for pid in ids:
        assert f'value="{pid}:so"' in page.text
    assert "sk-live-1" not in page.text


async def test_a_viewer_cannot_act(db) -> None:
    ids = await held_plans(db, 1)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        r = await web.post(
            "/console/fallout/act", data={"action": "skip", "reason": "x", "sel": f"{ids[0]}:so"}
        )
    assert r.status_code == 403
    _, steps = await states(db, ids[0])
    assert steps["so"].state == "failed"


async def test_bulk_skip_needs_a_reason_then_acts_on_each_and_audits_the_user(db) -> None:
    ids = await held_plans(db, 2)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="olga") as web:
        sel = [f"{pid}:so" for pid in ids]
        refused = await web.post("/console/fallout/act", data={"action": "skip", "sel": sel})
        assert refused.status_code == 422 and "Give a reason" in refused.text
        r = await web.post(
            "/console/fallout/act",
            data={"action": "skip", "reason": "ERP fixed by hand", "sel": sel},
        )
    assert r.status_code == 200
    assert r.text.count("done: plan") == 2
    assert "0 failed steps" in r.text
    for pid in ids:
        plan, steps = await states(db, pid)
        assert steps["so"].state == "skipped"
        assert plan.state == "in_progress"  # "after" is ready to run
    async with db.read() as s:
        entries = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "operator.skip"))
        ).all()
    assert {e.actor for e in entries} == {"user:olga"}
    assert {e.plan_id for e in entries} == set(ids)
    assert all(e.detail["reason"] == "ERP fixed by hand" for e in entries)


async def test_a_refused_action_says_why(db) -> None:
    ids = await held_plans(db, 2)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR) as web:
        r = await web.post(
            "/console/fallout/act",
            data={"action": "complete", "reason": "done", "sel": [f"{ids[0]}:so"]},
        )
    assert "refused: step 'so' is failed; only a waiting manual task" in unescape(r.text)


async def test_retry_with_edited_input_is_validated_then_saved_keeping_secrets(db) -> None:
    ids = await held_plans(db, 1)
    pid = ids[0]
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="omar") as web:
        form = await web.get(f"/console/fallout/{pid}/so/edit")
        assert form.status_code == 200
        assert "sk-live-1" not in form.text and "***" in form.text
        bad = await web.post(
            f"/console/fallout/{pid}/so/retry",
            data={"input": '{"payload": [1]}', "reason": "fixed the customer"},
        )
        assert bad.status_code == 422
        assert 'a callout\'s input needs "payload"' in unescape(bad.text)
        not_json = await web.post(
            f"/console/fallout/{pid}/so/retry", data={"input": "{", "reason": "x"}
        )
        assert not_json.status_code == 422 and "not JSON" in not_json.text
        _, steps = await states(db, pid)
        assert steps["so"].state == "failed"  # nothing saved
        ok = await web.post(
            f"/console/fallout/{pid}/so/retry",
            data={
                "input": '{"payload": {"customer": 7, "api_key": "***"}}',
                "reason": "customer 7 is the right one",
            },
        )
    assert ok.status_code == 200, ok.text
    assert re.search(r"retry.*done: plan in_progress", ok.text, re.S)
    _, steps = await states(db, pid)
    assert steps["so"].state == "ready"
    assert steps["so"].input == {"payload": {"customer": 7, "api_key": "sk-live-1"}}
    async with db.read() as s:
        entry = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "operator.retry"))
        ).one()
    assert entry.actor == "user:omar" and entry.plan_id == pid


async def test_without_the_csrf_header_an_action_is_refused(db) -> None:
    ids = await held_plans(db, 1)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR) as web:
        del web.headers["X-CSRF-Token"]
        r = await web.post(
            "/console/fallout/act", data={"action": "skip", "reason": "x", "sel": f"{ids[0]}:so"}
        )
    assert r.status_code == 403
    _, steps = await states(db, ids[0])
    assert steps["so"].state == "failed"
