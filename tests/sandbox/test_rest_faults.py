"""REST faults over loopback (request limit, row locks, expired sessions) and the control API."""

from __future__ import annotations

from tests.sandbox.restkit import (
    Env,
    V,
    rest_env,  # noqa: F401  (the env fixture)
)


# ---- Faults and control API -------------------------------------------------------
async def test_request_limit_fault(env: Env) -> None:
    env.org.faults.request_limit_exceeded = True
    response = await env.client.get(f"{V}/limits")
    assert response.status_code == 403
    assert response.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert env.org.faults_injected == {"request_limit_exceeded": 1}


async def test_unable_to_lock_row_fault(env: Env) -> None:
    order = env.store.create("Order", env.order_body())
    response = await env.client.post("/_sandbox/faults", json={"unable_to_lock_row": 1})
    assert response.json()["unable_to_lock_row"] == 1.0
    single = await env.client.patch(f"{V}/sobjects/Order/{order}", json={"PoNumber": "x"})
    assert single.status_code == 400
    assert single.json()[0] == {
        "errorCode": "UNABLE_TO_LOCK_ROW",
        "fields": [],
        "message": f"unable to obtain exclusive access to this record or 1 records: {order}",
    }
    batch = await env.client.patch(
        f"{V}/composite/sobjects",
        json={"records": [{"attributes": {"type": "Order"}, "id": order, "PoNumber": "y"}]},
    )
    assert batch.json()[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert env.org.faults_injected["unable_to_lock_row"] == 2
    assert env.store.find("Order", order)["PoNumber"] is None


async def test_expire_sessions_fault_until_new_token(env: Env) -> None:
    env.org.faults.expire_sessions = True
    first = await env.client.get(f"{V}/limits")
    assert first.status_code == 401
    assert first.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert (await env.client.get(f"{V}/limits")).status_code == 401
    await env.login()
    assert (await env.client.get(f"{V}/limits")).status_code == 200
    assert env.org.faults_injected["expire_sessions"] == 1
    revoked = await env.client.post("/_sandbox/expire-sessions")
    assert revoked.json() == {"revoked": 1}
    assert (await env.client.get(f"{V}/limits")).status_code == 401


async def test_sandbox_stats_and_fault_validation(env: Env) -> None:
    await env.client.post(f"{V}/sobjects/Order", json=env.order_body())
    stats = (await env.client.get("/_sandbox/stats")).json()
    assert stats["api_usage"]["by_app"] == {"revflow": 1}
    assert stats["records"]["Order"] == 1 and stats["records"]["Account"] == 1
    assert stats["events"]["/data/OrderChangeEvent"] == 1
    bad = await env.client.post("/_sandbox/faults", json={"no_such_fault": True})
    assert bad.status_code == 400
    bad = await env.client.post("/_sandbox/faults", json={"request_limit_exceeded": 1})
    assert bad.status_code == 400
    ok = await env.client.post("/_sandbox/faults", json={"request_limit_exceeded": True})
    assert ok.json()["request_limit_exceeded"] is True
    assert (await env.client.get("/_sandbox/stats")).json()["api_usage"]["used"] == 1
