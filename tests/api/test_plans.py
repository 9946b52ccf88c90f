"""The plan, fallout and operator-action endpoints over ASGI."""

from __future__ import annotations

import httpx
import pytest

from revflow.api.app import create_app
from revflow.connectors.errors import FatalError
from revflow.security.identity import Role
from tests.plankit import ORDER_ID, insert_plan, make_worker, transact
from tests.securitykit import make_key

WHO = {"reason": "checked with the customer"}


def blocked(action, payload, ctx):
    raise FatalError("customer 42 is blocked")


@pytest.fixture
async def operator(db):
    return await make_key(db, Role.OPERATOR, name="ann's script")


@pytest.fixture
async def api(db, operator):
    transport = httpx.ASGITransport(app=create_app(db))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=operator.headers
    ) as client:
        yield client


@pytest.fixture
async def held(db):
    pid = await insert_plan(
        db,
        [
            {"key": "so", "kind": "callout", "action": "so.create"},
            {"key": "after", "kind": "milestone", "depends_on": ["so"]},
        ],
    )
    await make_worker(db, blocked).run_until_idle()
    return pid


async def test_plan_and_fallout_are_listed(api, held):
    plan = (await api.get(f"/api/plans/{held}")).json()
    assert plan["state"] == "on_hold"
    assert plan["hold_reason"] == "so: customer 42 is blocked"
    assert [s["state"] for s in plan["steps"]] == ["failed", "pending"]
    fallout = (await api.get("/api/fallout")).json()
    assert len(fallout) == 1
    assert fallout[0] | {"since": None} == {
        "plan_id": held,
        "order_id": ORDER_ID,
        "plan_state": "on_hold",
        "step": "so",
        "kind": "callout",
        "error": "customer 42 is blocked",
        "attempts": 1,
        "since": None,
    }
    assert (await api.get(f"/api/fallout?order_id={ORDER_ID}")).json() == fallout
    assert (await api.get("/api/fallout?order_id=nope")).status_code == 400
    assert (await api.get("/api/fallout?limit=0")).status_code == 400
    order = (await api.get(f"/api/orders/{ORDER_ID}")).json()
    assert order["plans"][0]["hold_reason"] == plan["hold_reason"]


async def test_skip_then_audit_trail(api, held, db, operator):
    r = await api.post(f"/api/plans/{held}/steps/so/skip", json=WHO)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "plan_id": held,
        "action": "skip",
        "plan_state": "in_progress",
        "changed": {"so": "skipped"},
    }
    await make_worker(db).run_until_idle()
    assert (await api.get(f"/api/plans/{held}")).json()["state"] == "completed"
    audit = (await api.get(f"/api/plans/{held}/audit")).json()
    skip = next(a for a in audit if a["action"] == "operator.skip")
    # the actor is the authenticated key, not anything the body says
    assert skip["actor"] == operator.subject and skip["detail"]["reason"] == WHO["reason"]
    assert [a["action"] for a in audit][-1] == "plan.completed"


async def test_retry_redrive_and_cancel(api, held):
    r = await api.post(f"/api/plans/{held}/steps/so/retry", json={**WHO, "input": {"payload": {}}})
    assert r.status_code == 200 and r.json()["changed"] == {"so": "ready"}
    r = await api.post(f"/api/plans/{held}/redrive", json={**WHO, "step": "so"})
    assert r.status_code == 409
    assert "only" in r.json()["detail"] or "redriven" in r.json()["detail"]
    r = await api.post(f"/api/plans/{held}/cancel", json=WHO)
    assert r.status_code == 200 and r.json()["plan_state"] == "cancelled"
    r = await api.post(f"/api/plans/{held}/cancel", json=WHO)
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


async def test_complete_manual_task(api, db):
    pid = await insert_plan(db, [{"key": "check", "kind": "manual", "assignee": "queue:Desk"}])
    await make_worker(db).run_until_idle()
    step = (await api.get(f"/api/plans/{pid}")).json()["steps"][0]
    assert step["state"] == "waiting" and step["assignee"] == "queue:Desk"
    r = await api.post(f"/api/plans/{pid}/steps/check/complete", json={"output": {"ok": True}})
    assert r.status_code == 200 and r.json()["plan_state"] == "completed"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/plans/abc", None, 400),
        ("get", "/api/plans/99999999999999999999", None, 400),
        ("get", "/api/plans/0", None, 400),
        ("get", "/api/plans/4242", None, 404),
        ("get", "/api/plans/4242/audit", None, 404),
        ("post", "/api/plans/4242/cancel", WHO, 404),
        ("post", "/api/plans/{pid}/steps/nope/skip", WHO, 404),
        ("post", "/api/plans/{pid}/steps/after/retry", WHO, 409),
        ("post", "/api/plans/{pid}/steps/so/complete", {}, 409),
        ("post", "/api/plans/{pid}/steps/so/skip", {}, 422),
        ("post", "/api/plans/{pid}/steps/so/skip", {**WHO, "extra": 1}, 422),
        ("post", "/api/plans/{pid}/steps/so/skip", {"actor": "ann", "reason": "r"}, 422),
        ("post", "/api/plans/{pid}/steps/so/skip", {"reason": ""}, 422),
        ("post", "/api/plans/{pid}/redrive", WHO, 422),
        ("post", "/api/plans/{pid}/steps/" + "k" * 101 + "/skip", WHO, 400),
    ],
)
async def test_errors_are_4xx_with_a_detail(api, held, method, path, body, status):
    url = path.format(pid=held)
    r = await (api.get(url) if method == "get" else api.post(url, json=body))
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


async def test_malformed_json_body_is_a_422(api, held):
    r = await api.post(
        f"/api/plans/{held}/cancel",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["detail"]


async def test_an_amendment_in_progress_shows_on_the_plan(api, db):
    from revflow.config import WritebackSettings
    from revflow.orchestration.amendments import request_amendment
    from revflow.plans.decompose import PlanDraft, StepDraft

    pid = await insert_plan(db, [{"key": "so", "kind": "callout", "action": "so.create"}])
    worker = make_worker(db)
    (claimed,) = await worker.claim(10)  # running: the amendment waits for it
    step = StepDraft("so", 0, "callout", (), "erp", "so.create", "ik", {"payload": {"q": 2}}, None)
    draft = PlanDraft(ORDER_ID, "test", "new", "rf", (step,))
    await transact(db, request_amendment, WritebackSettings(), {"Id": ORDER_ID}, draft, "ann")
    plan = (await api.get(f"/api/plans/{pid}")).json()
    assert plan["state"] == "freezing" and plan["version"] == 1
    assert plan["change"]["version"] == 2 and plan["change"]["steps"] == ["so"]
    await worker.complete(claimed, await worker.executor.run(claimed))
    await worker.run_until_idle()
    plan = (await api.get(f"/api/plans/{pid}")).json()
    assert plan["state"] == "completed" and plan["version"] == 2 and plan["change"] is None


async def test_refusals_map_to_http_statuses_and_roll_back(api, held):
    blank = {"reason": "   "}
    r = await api.post(f"/api/plans/{held}/steps/so/skip", json=blank)
    assert r.status_code == 400 and r.json() == {"detail": "a reason is required"}
    r = await api.post(f"/api/plans/{held}/steps/nope/skip", json=WHO)
    assert r.status_code == 404 and r.json() == {"detail": f"plan {held} has no step 'nope'"}
    r = await api.post(f"/api/plans/{held}/steps/after/complete", json={})
    assert r.status_code == 409 and "only a waiting" in r.json()["detail"]
    audit = (await api.get(f"/api/plans/{held}/audit")).json()
    assert not [a for a in audit if a["action"].startswith("operator.")]
    plan = (await api.get(f"/api/plans/{held}")).json()
    assert [s["state"] for s in plan["steps"]] == ["failed", "pending"]
