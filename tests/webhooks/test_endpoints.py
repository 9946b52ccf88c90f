"""Webhook endpoints over loopback: 410 and persistent failure disable the endpoint with an
alert; a disabled endpoint's messages are parked (kept, not attempted); replay by
webhook-id or time range delivers them with the same webhook-id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from revflow import clock
from revflow.config import WritebackSettings
from revflow.connectors.webhook import webhook_id_for
from revflow.db.models import PlanState, StepState
from revflow.orchestration.errors import BadRequest, Conflict, NotFound
from revflow.webhooks import actions
from revflow.webhooks import status as status_view
from revflow.webhooks.endpoints import ALERT, DisablePolicy
from tests.webhookkit import (
    ORDERS,
    audit_actions,
    endpoint,
    guarded,
    incidents,
    one_callout,
    receiver,
    step,
    worker,
)


async def _write(db: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
    """Run an operator action as a route does: in one write transaction."""
    async with db.write() as s:
        return await service(s, *args, **kwargs)


async def _read(db: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
    async with db.read() as s:
        return await service(s, *args, **kwargs)


T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WHO: dict[str, Any] = {"actor": "ann", "reason": "receiver fixed"}


@pytest.fixture
def now() -> Iterator[datetime]:
    with clock.frozen(T0) as start:
        yield start


def disabled_total(cause: str) -> float:
    value = REGISTRY.get_sample_value(
        "revflow_webhook_endpoints_disabled_total", {"connector": "erp", "cause": cause}
    )
    return value or 0.0


async def test_410_disables_the_endpoint_at_once_with_an_alert(db, now):
    before = disabled_total("gone")
    async with receiver() as rec:
        rec.status = 410
        pid = await one_callout(db, ORDERS[0])
        await worker(db, guarded(db, rec.url)).run_until_idle()
        assert len(rec.ids) == 1  # one attempt, no retry

    ep = await endpoint(db)
    assert ep is not None and ep.state == "disabled"
    assert ep.disabled_reason is not None and ep.disabled_reason.startswith("410 Gone")
    assert ep.disabled_by == "webhooks"
    # the message is kept, not failed: parked in waiting with the reason, plan not on hold
    so = await step(db, pid)
    assert so.state == StepState.WAITING
    assert so.note is not None and so.note.startswith("endpoint disabled: 410 Gone")
    alerts = [a for a in await audit_actions(db) if a.action == ALERT]
    assert len(alerts) == 1 and alerts[0].detail["connector"] == "erp"
    assert "410" in alerts[0].detail["reason"]
    (incident,) = await incidents(db)
    assert incident.kind == "webhook_endpoint_disabled" and incident.resolved_at is None
    assert disabled_total("gone") == before + 1
    assert (
        REGISTRY.get_sample_value("revflow_webhook_endpoint_disabled", {"connector": "erp"}) == 1.0
    )
    info = await _read(db, status_view.status, "erp", {"erp": rec.url})
    assert info["parked_count"] == 1
    assert info["parked"][0]["message_id"] == webhook_id_for(so.idempotency_key)
    assert info["attempts"][0]["status_code"] == 410


async def test_failing_for_the_configured_period_disables_the_endpoint(db, now):
    policy = DisablePolicy(after_s=60)
    async with receiver() as rec:
        rec.status = 500
        pid = await one_callout(db, ORDERS[0])
        w = worker(db, guarded(db, rec.url, policy))
        await w.run_until_idle()
        assert (await step(db, pid)).state == StepState.RETRYING
        clock.advance(30)
        await w.run_until_idle()
        ep = await endpoint(db)
        assert ep is not None and ep.state == "enabled" and ep.consecutive_failures == 2
        clock.advance(31)  # 61 s after the first failure, with no success in between
        await w.run_until_idle()
        assert len(rec.ids) == 3

    ep = await endpoint(db)
    assert ep is not None and ep.state == "disabled"
    assert ep.disabled_reason is not None and "failing since" in ep.disabled_reason
    assert (await step(db, pid)).state == StepState.WAITING
    assert [a.action for a in await audit_actions(db)].count(ALERT) == 1


async def test_n_failures_in_a_row_disable_and_a_success_ends_the_streak(db, now):
    async with receiver() as rec:
        w = worker(db, guarded(db, rec.url, DisablePolicy(after_failures=2)))
        rec.status = 503
        first = await one_callout(db, ORDERS[0])
        await w.run_until_idle()  # failure 1
        rec.status = 200
        clock.advance(10)
        await w.run_until_idle()  # success: the streak ends
        ep = await endpoint(db)
        assert ep is not None and ep.consecutive_failures == 0 and ep.first_failure_at is None
        assert (await step(db, first)).state == StepState.COMPLETED

        rec.status = 502
        second = await one_callout(db, ORDERS[1])
        await w.run_until_idle()
        clock.advance(10)
        await w.run_until_idle()  # second failure in a row: disabled
    ep = await endpoint(db)
    assert (
        ep is not None
        and ep.state == "disabled"
        and "2 failed attempts" in (ep.disabled_reason or "")
    )
    assert (await step(db, second)).state == StepState.WAITING


async def test_messages_of_a_disabled_endpoint_are_kept_not_attempted(db, now):
    async with receiver() as rec:
        await _write(db, actions.disable, "erp", rec.url, actor="bob", reason="ERP maintenance")
        pids = [await one_callout(db, o) for o in ORDERS[:3]]
        w = worker(db, guarded(db, rec.url))
        await w.run_until_idle()
        clock.advance(86400)
        await w.run_until_idle()
        assert rec.ids == []  # nothing was sent

    for pid in pids:
        so = await step(db, pid)
        assert so.state == StepState.WAITING
        assert so.note == "endpoint disabled: disabled by bob: ERP maintenance"
    info = await _read(db, status_view.status, "erp", {})
    assert info["state"] == "disabled" and info["parked_count"] == 3
    alert = [a for a in await audit_actions(db) if a.action == ALERT][0]
    assert alert.actor == "bob"


async def test_replay_by_id_and_by_time_range_keeps_the_webhook_id(db, now):
    wb = WritebackSettings()
    async with receiver() as rec:
        w = worker(db, guarded(db, rec.url))
        rec.status = 410
        a = await one_callout(db, ORDERS[0])  # sent at T0, 410: disabled
        await w.run_until_idle()
        clock.advance(3600)
        b = await one_callout(db, ORDERS[1])  # parked at T0 + 1 h
        await w.run_until_idle()
        clock.advance(3600)
        c = await one_callout(db, ORDERS[2])  # parked at T0 + 2 h
        await w.run_until_idle()
        assert len(rec.ids) == 1
        first_id = rec.ids[0]

        with pytest.raises(Conflict, match="enable it first"):
            await _write(db, actions.replay, wb, "erp", message_id=first_id, **WHO)
        rec.status = 200
        assert (await _write(db, actions.enable, "erp", **WHO))["changed"] is True
        assert (await _write(db, actions.enable, "erp", **WHO))["changed"] is False
        (incident,) = await incidents(db)
        assert incident.resolved_at is not None

        out = await _write(db, actions.replay, wb, "erp", message_id=first_id, **WHO)
        assert out["replayed"] == 1 and out["messages"][0]["plan_id"] == a
        clock.advance(1)
        await w.run_until_idle()
        assert rec.ids == [first_id, first_id]  # the same webhook-id: the receiver dedupes
        assert (await step(db, a)).state == StepState.COMPLETED

        out = await _write(
            db,
            actions.replay,
            wb,
            "erp",
            since=T0 + timedelta(minutes=30),
            until=T0 + timedelta(minutes=90),
            **WHO,
        )
        assert [m["plan_id"] for m in out["messages"]] == [b]
        await w.run_until_idle()
        b_step, c_step = await step(db, b), await step(db, c)
        assert rec.ids[2:] == [webhook_id_for(b_step.idempotency_key)]
        assert b_step.state == StepState.COMPLETED and b_step.note is None
        assert c_step.state == StepState.WAITING  # outside the range: still kept

        with pytest.raises(Conflict, match="not parked"):
            await _write(db, actions.replay, wb, "erp", message_id=first_id, **WHO)
        with pytest.raises(NotFound):
            await _write(db, actions.replay, wb, "erp", message_id="msg_nope", **WHO)

    replays = [e for e in await audit_actions(db) if e.action == "webhook.replayed"]
    assert [(e.plan_id, e.actor, e.detail["reason"]) for e in replays] == [
        (a, "ann", "receiver fixed"),
        (b, "ann", "receiver fixed"),
    ]
    from tests.plankit import states

    plan, _ = await states(db, a)
    assert plan.state == PlanState.COMPLETED


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({}, "message_id, or since"),
        ({"message_id": "msg_x", "since": T0}, "not both"),
        ({"since": T0, "until": T0}, "before until"),
        ({"since": datetime(2026, 1, 1)}, "timezone"),
        ({"message_id": "msg_x", "actor": " "}, "actor"),
        ({"message_id": "msg_x", "reason": ""}, "reason"),
    ],
)
async def test_bad_replay_requests_are_refused(db, kwargs, words):
    args = {**WHO, **kwargs}
    with pytest.raises(BadRequest, match=words):
        await _write(db, actions.replay, WritebackSettings(), "erp", **args)
