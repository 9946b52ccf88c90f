"""The integration health pages: webhook endpoints (disable, enable, replay a range),
channels, API usage, incidents and dead letters (replay), mappings (lint, preview)."""

from __future__ import annotations

from html import unescape

from sqlalchemy import select

from revflow.db.models import AuditEntry, DeadLetter, Incident, ReplayCheckpoint
from revflow.resources import default_mappings_dir
from revflow.security.identity import Role
from tests.consolekit import console_app, logged_in


async def test_the_overview_lists_endpoints_channels_incidents_and_letters(db) -> None:
    async with db.write() as s:
        s.add(ReplayCheckpoint(channel="/data/OrderChangeEvent", replay_id="4242"))
        s.add(Incident(kind="replay_id_expired", channel="/data/OrderChangeEvent", detail={}))
        s.add(DeadLetter(source="cometd", reason="no payload", payload={"x": 1}))
    app = console_app(db, webhooks={"erp": "http://127.0.0.1:9/hook"})
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get("/console/integrations")
    text = unescape(page.text)
    assert page.status_code == 200
    assert 'href="/console/integrations/webhooks/erp"' in text
    assert "/data/OrderChangeEvent" in text and "4242" in text
    assert "replay_id_expired" in text and "no payload" in text
    assert "Revflow's calls, last 24 h" in text


async def test_disable_needs_an_admin_then_replay_needs_it_enabled(db) -> None:
    app = console_app(db, webhooks={"erp": "http://127.0.0.1:9/hook"})
    async with logged_in(app, db, Role.OPERATOR, name="op") as web:
        refused = await web.post("/console/integrations/webhooks/erp/disable", data={"reason": "x"})
        assert refused.status_code == 403
    async with logged_in(app, db, Role.ADMIN, name="ada") as web:
        r = await web.post(
            "/console/integrations/webhooks/erp/disable", data={"reason": "ERP maintenance"}
        )
        assert r.status_code == 200 and "erp is disabled" in r.text
        blocked = await web.post(
            "/console/integrations/webhooks/erp/replay",
            data={"reason": "after maintenance", "since": "2026-01-01T00:00"},
        )
        assert blocked.status_code == 409 and "enable it first" in blocked.text
        await web.post("/console/integrations/webhooks/erp/enable", data={"reason": "back"})
        ok = await web.post(
            "/console/integrations/webhooks/erp/replay",
            data={"reason": "after maintenance", "since": "2026-01-01T00:00"},
        )
        assert ok.status_code == 200 and "replayed 0 messages" in ok.text
        bad = await web.post(
            "/console/integrations/webhooks/erp/replay", data={"reason": "x", "since": "soon"}
        )
        assert bad.status_code == 422
    async with db.read() as s:
        actions = [
            (a.actor, a.action)
            for a in (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
            if a.action.startswith("webhook")
        ]
    assert ("user:ada", "webhook.replay") in actions
    assert any(actor == "user:ada" and "disable" in act for actor, act in actions)


async def test_a_dead_letter_is_replayed_and_audited(db) -> None:
    async with db.write() as s:
        letter = DeadLetter(source="cometd", reason="bad", payload={"token": "secret-1"})
        s.add(letter)
        await s.flush()
        lid = letter.id
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="dora") as web:
        page = await web.get(f"/console/integrations/dead-letters/{lid}")
        assert page.status_code == 200 and "secret-1" not in page.text
        r = await web.post(f"/console/integrations/dead-letters/{lid}/replay", data={"reason": "x"})
    assert r.status_code == 409 and "still unreadable" in r.text
    async with db.read() as s:
        entry = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "dead_letter.replay"))
        ).one()
    assert entry.actor == "user:dora" and entry.detail["ok"] is False


async def test_mappings_lint_and_preview(db) -> None:
    mappings = default_mappings_dir()
    app = console_app(db, mappings_dir=mappings)
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get("/console/integrations/mappings")
        assert "lint clean" in page.text
        name = "order_to_sales_order.yaml"
        assert f"<option>{name}</option>" in page.text
        bad = await web.post(
            "/console/integrations/mappings/preview", data={"mapping": name, "record": "{"}
        )
        assert bad.status_code == 422 and "not JSON" in bad.text
        unknown = await web.post(
            "/console/integrations/mappings/preview", data={"mapping": "../x", "record": "{}"}
        )
        assert unknown.status_code == 422 and "no mapping" in unescape(unknown.text)


async def test_a_mapping_previews_a_pasted_order(db) -> None:
    mappings = default_mappings_dir()
    record = (mappings / "tests" / "fixtures" / "order.json").read_text()
    app = console_app(db, mappings_dir=mappings)
    async with logged_in(app, db, Role.VIEWER) as web:
        r = await web.post(
            "/console/integrations/mappings/preview",
            data={"mapping": "order_to_sales_order.yaml", "record": record},
        )
    assert r.status_code == 200
    text = unescape(r.text)
    assert '"po_number": "PO-2026/17"' in text and '"total": "250.00"' in text


async def test_without_an_org_the_preview_asks_for_a_pasted_record(db) -> None:
    app = console_app(db, mappings_dir=default_mappings_dir())
    async with logged_in(app, db, Role.VIEWER) as web:
        page = await web.get("/console/integrations/mappings")
        assert "Order id" not in page.text  # nothing to read it with
        r = await web.post(
            "/console/integrations/mappings/preview",
            data={"mapping": "order_to_sales_order.yaml", "order_id": "8015e00000Q7mNpAAJ"},
        )
    assert r.status_code == 422 and "paste the record instead" in r.text
