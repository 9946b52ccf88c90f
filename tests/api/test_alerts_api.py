"""``/api/alerts``: history, one alert with its messages, acknowledge and resolve by an
operator, and the signed acknowledge link in messages."""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from revflow.alerts import links, service
from revflow.alerts.settings import AlertSettings
from revflow.api.app import create_app
from revflow.db.models import AuditEntry
from revflow.security.identity import Role
from tests.alerts.alertkit import deliveries, use_rules
from tests.alerts.test_service import fallout
from tests.securitykit import make_key

KEY = b"a-long-enough-link-secret-for-tests"


@pytest.fixture
async def alert_id(db) -> int:
    use_rules()
    async with db.write() as s:
        [alert] = await service.raise_alert(s, fallout())
    return alert.id


@pytest.fixture
async def api(db):
    operator = await make_key(db, Role.OPERATOR, name="ada")
    app = create_app(db, alerts=AlertSettings(link_secret=SecretStr(KEY.decode())))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=operator.headers
    ) as client:
        client.subject = operator.subject  # type: ignore[attr-defined]
        yield client


async def test_history_and_one_alert_with_its_messages(api, alert_id) -> None:
    listed = (await api.get("/api/alerts")).json()
    assert [(a["id"], a["state"], a["rule"], a["count"]) for a in listed] == [
        (alert_id, "open", "fallout", 1)
    ]
    assert (await api.get("/api/alerts", params={"state": "resolved"})).json() == []
    assert (await api.get("/api/alerts", params={"plan_id": 1})).json()[0]["id"] == alert_id
    one = (await api.get(f"/api/alerts/{alert_id}")).json()
    assert one["title"] == "Step x failed on order 00000123"
    assert [(d["channel"], d["recipient_kind"], d["state"]) for d in one["deliveries"]] == [
        ("email", "owner", "pending"),
        ("email", "team", "pending"),
    ]


async def test_operator_acknowledges_then_resolves(api, db, alert_id) -> None:
    r = await api.post(f"/api/alerts/{alert_id}/acknowledge")
    assert r.status_code == 200
    body = r.json()
    assert (body["state"], body["acknowledged_by"], body["next_escalation_at"]) == (
        "acknowledged",
        api.subject,
        None,
    )
    r = await api.post(f"/api/alerts/{alert_id}/resolve")
    assert r.status_code == 200 and r.json()["resolved_by"] == api.subject
    assert {d.state for d in await deliveries(db)} == {"cancelled"}
    again = await api.post(f"/api/alerts/{alert_id}/acknowledge")
    assert again.status_code == 409 and "resolved already" in again.json()["detail"]
    async with db.read() as s:
        audit = list(await s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    alert_entries = [(e.action, e.actor) for e in audit if e.action.startswith("alert.")]
    assert alert_entries == [
        ("alert.acknowledged", api.subject),
        ("alert.resolved", api.subject),
    ]


async def test_unknown_alerts_and_bad_ids_are_4xx(api) -> None:
    assert (await api.get("/api/alerts/999")).status_code == 404
    assert (await api.post("/api/alerts/999/resolve")).status_code == 404
    assert (await api.get("/api/alerts/0")).status_code in (400, 422)
    assert (await api.get("/api/alerts", params={"state": "gone"})).status_code in (400, 422)


async def test_a_viewer_reads_but_may_not_acknowledge(db, alert_id) -> None:
    viewer = await make_key(db, Role.VIEWER)
    app = create_app(db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=viewer.headers
    ) as client:
        assert (await client.get("/api/alerts")).status_code == 200
        assert (await client.post(f"/api/alerts/{alert_id}/acknowledge")).status_code == 403


async def test_the_signed_link_shows_a_button_and_its_post_acknowledges(db, alert_id) -> None:
    app = create_app(db, alerts=AlertSettings(link_secret=SecretStr(KEY.decode())))
    token = links.sign(KEY, alert_id, int(time.time()) + 600)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        page = await anonymous.get("/api/alerts/ack", params={"token": token})
        assert page.status_code == 200 and 'method="post"' in page.text
        assert 'action="/api/alerts/ack/confirm?token=' in page.text
        assert (await anonymous.get("/api/alerts")).status_code == 401  # the rest needs a login
        listed = await anonymous.get(f"/api/alerts/{alert_id}")
        assert listed.status_code == 401
        done = await anonymous.post("/api/alerts/ack/confirm", params={"token": token})
        assert done.status_code == 200 and "acknowledged by alert-link" in done.text
        expired = links.sign(KEY, alert_id, int(time.time()) - 1)
        r = await anonymous.post("/api/alerts/ack/confirm", params={"token": expired})
        assert r.status_code == 403 and "expired" in r.json()["detail"]
        forged = links.sign(b"another key entirely", alert_id, int(time.time()) + 600)
        r = await anonymous.post("/api/alerts/ack/confirm", params={"token": forged})
        assert r.status_code == 403 and "signature" in r.json()["detail"]
        r = await anonymous.get("/api/alerts/ack", params={"token": "nonsense"})
        assert r.status_code in (400, 422)


async def test_links_are_refused_when_no_secret_is_configured(db, alert_id) -> None:
    transport = httpx.ASGITransport(app=create_app(db))
    token = links.sign(KEY, alert_id, int(time.time()) + 600)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
        r = await anonymous.post("/api/alerts/ack/confirm", params={"token": token})
        assert r.status_code == 404 and "not configured" in r.json()["detail"]
