"""Inbound ERP callbacks over ASGI, against a real database."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr, ValidationError
from sqlalchemy import select, text

from revflow.api.app import create_app
from revflow.config import CallbackSettings
from revflow.connectors.signing import generate_secret, sign
from revflow.db.models import Signal
from revflow.logs import JsonFormatter
from tests.plankit import insert_plan, make_worker, states

SECRET = generate_secret()
SAP_SECRET = generate_secret()


def signed(
    body: dict | bytes,
    msg_id: str = "msg_1",
    secret: str = SECRET,
    ts: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = int(time.time() if ts is None else ts)
    return raw, {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(msg_id, stamp, raw, [secret]),
    }


SHIPPED = {"type": "shipped", "correlation_key": "SO-1", "data": {"tracking": "1Z999"}}


@pytest.fixture
def settings() -> CallbackSettings:
    return CallbackSettings(
        secrets=[SecretStr(SECRET)],
        source_secrets={"sap": [SecretStr(SAP_SECRET)]},
        max_body_bytes=10_000,
    )


@pytest.fixture
async def api(db, settings):
    transport = httpx.ASGITransport(app=create_app(db, callbacks=settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def post(api: httpx.AsyncClient, source: str, body, **kw) -> httpx.Response:
    raw, headers = signed(body, **kw)
    return await api.post(f"/api/callbacks/{source}", content=raw, headers=headers)


async def signals(db) -> list[Signal]:
    async with db.read() as s:
        return list((await s.scalars(select(Signal).order_by(Signal.id))).all())


async def test_signed_callback_becomes_a_signal(api, db):
    r = await post(api, "netsuite", SHIPPED, msg_id="msg_abc")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "accepted"
    [sig] = await signals(db)
    assert (sig.source, sig.name, sig.dedupe_key, sig.correlation_key) == (
        "callback",
        "shipped",
        "msg_abc",
        "SO-1",
    )
    assert sig.payload["data"] == {"tracking": "1Z999"}
    assert sig.payload["source"] == "netsuite"
    assert sig.id == r.json()["signal_id"] and sig.consumed_by_step_id is None


async def test_replayed_webhook_id_is_a_duplicate_and_stores_nothing(api, db):
    assert (await post(api, "netsuite", SHIPPED, msg_id="msg_same")).status_code == 202
    # same id, fresh signature and even another body: still the same delivery
    other = {**SHIPPED, "type": "delivered"}
    r = await post(api, "netsuite", other, msg_id="msg_same")
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert [s.name for s in await signals(db)] == ["shipped"]


async def test_bad_signature_is_401(api, db):
    raw, headers = signed(SHIPPED)
    headers["webhook-signature"] = sign("msg_1", int(time.time()), raw, [generate_secret()])
    r = await api.post("/api/callbacks/netsuite", content=raw, headers=headers)
    assert r.status_code == 401 and "signature" in r.json()["detail"]
    # a body changed after signing
    raw, headers = signed(SHIPPED)
    tampered = raw.replace(b"SO-1", b"SO-2")
    r = await api.post("/api/callbacks/netsuite", content=tampered, headers=headers)
    assert r.status_code == 401
    assert await signals(db) == []


async def test_missing_signature_headers_are_401(api):
    r = await api.post("/api/callbacks/netsuite", json=SHIPPED)
    assert r.status_code == 401 and "missing" in r.json()["detail"]


# well past the 300 s tolerance: the header is whole seconds, so 301 s ahead, truncated,
# can be back within it by the time the server reads its clock
@pytest.mark.parametrize("skew, word", [(-310, "too old"), (310, "too new")])
async def test_timestamp_outside_tolerance_is_401(api, db, skew, word):
    r = await post(api, "netsuite", SHIPPED, ts=time.time() + skew)
    assert r.status_code == 401 and word in r.json()["detail"]
    assert await signals(db) == []


async def test_timestamp_inside_tolerance_is_accepted(api):
    r = await post(api, "netsuite", SHIPPED, ts=time.time() - 280)
    assert r.status_code == 202


async def test_source_secrets_replace_the_shared_ones(api):
    assert (await post(api, "sap", SHIPPED, msg_id="m1", secret=SAP_SECRET)).status_code == 202
    assert (await post(api, "sap", SHIPPED, msg_id="m2", secret=SECRET)).status_code == 401
    assert (await post(api, "xero", SHIPPED, msg_id="m3", secret=SAP_SECRET)).status_code == 401


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b"\xff\xfe", 400, "not JSON"),
        ({"correlation_key": "SO-1"}, 422, "type"),
        ({"type": "shipped"}, 422, "correlation_key"),
        ({"type": "shipped", "correlation_key": ""}, 422, "correlation_key"),
        ({"type": "shipped", "correlation_key": 5}, 422, "correlation_key"),
        ({"type": "has space", "correlation_key": "k"}, 422, "type"),
        ({"type": "shipped", "correlation_key": "k", "data": [1]}, 422, "data"),
        ({"type": "shipped", "correlation_key": "k" * 201}, 422, "correlation_key"),
    ],
)
async def test_bad_body_is_a_client_error_with_a_detail(api, db, body, status, words):
    r = await post(api, "netsuite", body)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert await signals(db) == []


async def test_bad_source_name_and_oversized_body(api):
    r = await post(api, "Not A Source!", SHIPPED)
    assert r.status_code in (400, 404)
    big = {**SHIPPED, "data": {"x": "y" * 20_000}}
    r = await post(api, "netsuite", big)
    assert r.status_code == 413


async def test_overlong_webhook_id_is_400(api):
    r = await post(api, "netsuite", SHIPPED, msg_id="m" * 201)
    assert r.status_code == 400 and "webhook-id" in r.json()["detail"]


async def test_unconfigured_callbacks_answer_503_not_500(db):
    transport = httpx.ASGITransport(app=create_app(db))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await post(client, "netsuite", SHIPPED)
    assert r.status_code == 503 and "secrets" in r.json()["detail"]


async def test_database_failure_is_503_not_500(api, db):
    async with db.write() as s:
        await s.execute(text("DROP TABLE signals"))
    r = await post(api, "netsuite", SHIPPED)
    assert r.status_code == 503 and "database" in r.json()["detail"]


def test_settings_reject_a_malformed_secret():
    with pytest.raises(ValidationError, match="whsec_"):
        CallbackSettings(secrets=[SecretStr("not base64 !!")])


async def test_callback_completes_the_step_waiting_on_its_key(api, db):
    pid = await insert_plan(
        db,
        [
            {"key": "ship", "kind": "wait", "wait_key": "SO-1"},
            {"key": "after", "kind": "milestone", "depends_on": ["ship"]},
        ],
    )
    w = make_worker(db)
    await w.run_until_idle()
    _, steps = await states(db, pid)
    assert steps["ship"].state == "waiting"

    await post(api, "netsuite", {**SHIPPED, "correlation_key": "other"}, msg_id="msg_x")
    assert (await post(api, "netsuite", SHIPPED, msg_id="msg_ship")).status_code == 202
    assert (await post(api, "netsuite", SHIPPED, msg_id="msg_ship")).json()["status"] == (
        "duplicate"
    )
    assert await w.poll_waits() == 1
    await w.run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "completed" and steps["ship"].state == "completed"
    output = steps["ship"].output or {}
    assert output["signal"]["data"] == {"tracking": "1Z999"}
    assert output["signal"]["type"] == "shipped"
    consumed = {s.dedupe_key: s.consumed_by_step_id for s in await signals(db)}
    assert consumed == {"msg_x": None, "msg_ship": steps["ship"].id}


def test_callback_secrets_come_from_the_environment(monkeypatch):
    from revflow.config import load_settings

    monkeypatch.setenv("REVFLOW_CALLBACKS__SECRETS", json.dumps([SECRET]))
    monkeypatch.setenv("REVFLOW_CALLBACKS__SOURCE_SECRETS", json.dumps({"sap": [SAP_SECRET]}))
    settings = load_settings()
    assert settings.callbacks.secrets_for("netsuite") == [SECRET]
    assert settings.callbacks.secrets_for("sap") == [SAP_SECRET]
    assert settings.callbacks.tolerance_s == 300


def rejected(source: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "revflow_callbacks_rejected_total", {"source": source, "reason": reason}
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("reason", "status", "make"),
    [
        ("signature", 401, lambda body: signed(body, secret=generate_secret())),
        ("stale", 401, lambda body: signed(body, ts=time.time() - 3600)),
        ("oversized", 413, lambda body: signed(body + b" " * 10_000)),
    ],
)
async def test_rejected_callback_is_counted_and_logged_without_its_body(
    api, db, caplog, reason, status, make
):
    body = json.dumps({**SHIPPED, "data": {"customer": "PRIVATE-CUSTOMER-DATA"}}).encode()
    raw, headers = make(body)
    before = rejected("netsuite", reason)
    with caplog.at_level(logging.INFO, logger="revflow.api.callbacks"):
        r = await api.post("/api/callbacks/netsuite", content=raw, headers=headers)
    assert r.status_code == status
    assert rejected("netsuite", reason) == before + 1
    lines = [JsonFormatter().format(rec) for rec in caplog.records]
    logged = [json.loads(line) for line in lines if '"callback rejected"' in line]
    assert [(e["source"], e["reason"], e["status"]) for e in logged] == [
        ("netsuite", reason, status)
    ]
    assert not any("PRIVATE-CUSTOMER-DATA" in line for line in lines)
    assert await signals(db) == []
