"""``/api/webhooks``: state, parked messages and attempts; enable, disable, replay; 4xx."""

from __future__ import annotations

import httpx
import pytest

from revflow.api.app import create_app
from revflow.connectors.webhook import webhook_id_for
from revflow.security.identity import Role
from tests.securitykit import make_key
from tests.webhookkit import ORDERS, guarded, one_callout, receiver, step, worker

WHO = {"reason": "receiver is back"}


@pytest.fixture
async def admin(db):
    return await make_key(db, Role.ADMIN, name="bob")


@pytest.fixture
async def api(db, admin):
    app = create_app(db, webhooks={"erp": "http://127.0.0.1:9/hook"})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=admin.headers
    ) as client:
        yield client


async def test_disable_park_enable_replay(api, db, admin):
    listed = (await api.get("/api/webhooks")).json()
    assert [(e["connector"], e["state"]) for e in listed] == [("erp", "enabled")]
    r = await api.post("/api/webhooks/erp/disable", json={"reason": "upgrade"})
    assert r.status_code == 200 and r.json() == {
        "connector": "erp",
        "state": "disabled",
        "changed": True,
    }
    assert (await api.post("/api/webhooks/erp/disable", json=WHO)).status_code == 409
    async with receiver() as rec:
        pid = await one_callout(db, ORDERS[0])
        w = worker(db, guarded(db, rec.url))
        await w.run_until_idle()
        assert rec.ids == []
        info = (await api.get("/api/webhooks/erp")).json()
        assert info["state"] == "disabled" and info["disabled_by"] == admin.subject
        assert info["disabled_reason"] == f"disabled by {admin.subject}: upgrade"
        assert info["parked_count"] == 1
        msg = info["parked"][0]
        so = await step(db, pid)
        assert msg["message_id"] == webhook_id_for(so.idempotency_key)
        assert msg["note"].startswith("endpoint disabled")
        assert info["attempts"][0]["outcome"] == "wait"  # parked, nothing sent

        replay = {**WHO, "message_id": msg["message_id"]}
        r = await api.post("/api/webhooks/erp/replay", json=replay)
        assert r.status_code == 409 and "enable it first" in r.json()["detail"]
        r = await api.post("/api/webhooks/erp/enable", json=WHO)
        assert r.json() == {"connector": "erp", "state": "enabled", "changed": True}
        r = await api.post("/api/webhooks/erp/replay", json=replay)
        assert r.status_code == 200 and r.json()["replayed"] == 1
        await w.run_until_idle()
        assert rec.ids == [msg["message_id"]]
    info = (await api.get("/api/webhooks/erp?attempts=1")).json()
    assert info["parked_count"] == 0 and info["attempts"][0]["outcome"] == "completed"
    audit = (await api.get(f"/api/plans/{pid}/audit")).json()
    assert any(e["action"] == "webhook.replayed" and e["actor"] == admin.subject for e in audit)


@pytest.mark.parametrize(
    "method, path, body, status, words",
    [
        ("GET", "/api/webhooks/nope", None, 404, "no webhook endpoint"),
        ("GET", "/api/webhooks/bad%20name", None, 400, "path.connector: 'bad name' is not valid"),
        ("GET", "/api/webhooks/erp?attempts=0", None, 400, "attempts"),
        ("POST", "/api/webhooks/nope/enable", WHO, 404, "no webhook endpoint"),
        ("POST", "/api/webhooks/erp/enable", {}, 422, "reason"),
        ("POST", "/api/webhooks/erp/enable", {**WHO, "actor": "ann"}, 422, "actor"),
        ("POST", "/api/webhooks/erp/enable", {**WHO, "extra": 1}, 422, "extra"),
        ("POST", "/api/webhooks/erp/replay", WHO, 400, "message_id, or since"),
        (
            "POST",
            "/api/webhooks/erp/replay",
            {**WHO, "message_id": "msg_a", "since": "2026-11-27T10:00:00Z"},
            400,
            "not both",
        ),
        (
            "POST",
            "/api/webhooks/erp/replay",
            {**WHO, "since": "2026-11-27T10:00:00Z", "until": "2026-11-27T09:00:00Z"},
            400,
            "before until",
        ),
        ("POST", "/api/webhooks/erp/replay", {**WHO, "since": "2026-11-27T10:00:00"}, 400, "zone"),
        ("POST", "/api/webhooks/erp/replay", {**WHO, "since": "yesterday"}, 422, "since"),
        ("POST", "/api/webhooks/erp/replay", {**WHO, "message_id": "msg_x"}, 404, "msg_x"),
        ("POST", "/api/webhooks/erp/replay", {**WHO, "message_id": ""}, 422, "message_id"),
        ("POST", "/api/webhooks/erp/replay", [1], 422, ""),
    ],
)
async def test_bad_requests_answer_4xx_with_a_message(api, method, path, body, status, words):
    r = await api.request(method, path, json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


async def test_replay_by_time_range_over_the_api(api, db):
    r = await api.post(
        "/api/webhooks/erp/replay",
        json={**WHO, "since": "2026-11-27T00:00:00Z", "until": "2026-11-28T00:00:00+00:00"},
    )
    assert r.status_code == 200 and r.json() == {
        "connector": "erp",
        "replayed": 0,
        "messages": [],
    }
