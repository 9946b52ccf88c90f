"""The webhook retry schedule: values, jitter bounds, Retry-After, storage, defaults, and
the worker scheduling retries from it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from revflow import clock
from revflow.clock import aware
from revflow.config import Settings, WebhookSettings, WorkerSettings
from revflow.plans.definitions import (
    PlanDefinition,
    StepDefinition,
    StepKind,
)
from revflow.plans.files import compile_plan
from revflow.plans.retry import (
    WEBHOOK_SCHEDULE,
    RetryPolicy,
    honours_retry_after,
    policy_from_json,
    policy_to_json,
    webhook_policy,
)
from revflow.webhooks.policy import default_retry_policy
from tests.webhookkit import ORDERS, guarded, one_callout, receiver, step, worker

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SVIX = [5, 300, 1800, 7200, 18000, 36000, 36000]


@pytest.fixture
def now() -> Iterator[datetime]:
    with clock.frozen(T0) as start:
        yield start


def test_schedule_values_without_jitter() -> None:
    p = webhook_policy(jitter=0)
    assert list(WEBHOOK_SCHEDULE) == SVIX
    assert [p.next_delay(a) for a in range(1, 9)] == [*SVIX, None]  # 8 attempts in all
    assert 27 < sum(SVIX) / 3600 < 28  # spread over more than a day


def test_jitter_stays_within_bounds_for_every_entry() -> None:
    p = webhook_policy(jitter=0.2)
    rng = random.Random(7)
    for attempt, base in enumerate(SVIX, start=1):
        delays = [p.next_delay(attempt, rng=rng) for _ in range(200)]
        assert all(d is not None and 0.8 * base <= d <= 1.2 * base for d in delays)
        assert len(set(delays)) > 100  # spread, not a constant


def test_retry_after_wins_when_longer_and_attempts_cap_the_schedule() -> None:
    p = webhook_policy(jitter=0)
    assert p.next_delay(1, retry_after_s=60) == 60
    assert p.next_delay(3, retry_after_s=60) == 1800
    capped = RetryPolicy(schedule=(1.0, 2.0, 3.0), maximum_attempts=2, jitter=0)
    assert capped.next_delay(1) == 1.0 and capped.next_delay(2) is None


def test_schedule_is_stored_with_the_step_and_read_back() -> None:
    p = webhook_policy()
    assert policy_from_json(policy_to_json(p)) == p
    stored = policy_to_json(p, True)
    assert (policy_from_json(stored), honours_retry_after(stored)) == (p, True)
    assert policy_from_json({"maximum_attempts": 3}).schedule == ()


def test_webhook_schedule_is_the_default_unless_worker_retry_is_set() -> None:
    assert default_retry_policy(Settings()).schedule == tuple(float(d) for d in SVIX)
    custom = Settings(webhooks=WebhookSettings(retry_schedule=[1, 2], retry_jitter=0))
    assert default_retry_policy(custom) == webhook_policy([1, 2], jitter=0)
    explicit = Settings(worker=WorkerSettings(initial_interval_s=0.05))
    assert default_retry_policy(explicit).schedule == ()
    assert default_retry_policy(explicit).initial_interval_s == 0.05
    assert (
        default_retry_policy(Settings(webhooks=WebhookSettings(retry_schedule=[]))).schedule == ()
    )


def test_plan_file_schedule() -> None:
    text = """\
name: p
source: Order
groups:
  g:
    steps:
      - key: so
        type: callout
        connector: erp
        action: so.create
        payload: {}
        retry: {schedule: [5s, 5m, 2h], jitter: 0}
scenarios: {new: [g]}
"""
    definition, problems = compile_plan(text, "p.yaml")
    assert problems == [] and definition is not None
    retry = definition.step("so").retry
    assert retry.schedule == (5.0, 300.0, 7200.0) and retry.maximum_attempts == 4
    bad, problems = compile_plan(text.replace("2h", "soon"), "p.yaml")
    assert bad is None and "'schedule'" in str(problems[0])


async def test_worker_schedules_retries_from_the_schedule_and_honours_retry_after(db, now):
    policy = webhook_policy(jitter=0)
    definition = PlanDefinition(
        name="test",
        steps=(StepDefinition("so", StepKind.CALLOUT, connector="erp", retry=policy),),
    )
    async with receiver() as rec:
        w = worker(db, guarded(db, rec.url), {"test": definition})
        rec.status = 500
        pid = await one_callout(db, ORDERS[0])
        await w.run_until_idle()
        so = await step(db, pid)
        assert so.state == "retrying" and so.due_at is not None
        assert (aware(so.due_at) - T0).total_seconds() == 5
        clock.advance(5)
        await w.run_until_idle()
        so = await step(db, pid)
        assert so.due_at is not None
        assert (aware(so.due_at) - clock.utcnow()).total_seconds() == 300
        rec.status, rec.headers = 429, {"Retry-After": "7200"}
        clock.advance(300)
        await w.run_until_idle()
        so = await step(db, pid)  # 30 min by the schedule, but Retry-After asks for 2 h
        assert so.due_at is not None
        assert (aware(so.due_at) - clock.utcnow()).total_seconds() == 7200
        assert len(set(rec.ids)) == 1 and len(rec.ids) == 3  # one webhook-id throughout


async def test_worker_reads_the_schedule_stored_with_the_step(db, now):
    stored = policy_to_json(webhook_policy(jitter=0))
    async with receiver() as rec:
        w = worker(db, guarded(db, rec.url))
        rec.status = 500
        pid = await one_callout(db, ORDERS[0], retry_policy=stored)
        await w.run_until_idle()
        clock.advance(5)
        await w.run_until_idle()
        so = await step(db, pid)
        assert so.due_at is not None
        assert (aware(so.due_at) - clock.utcnow()).total_seconds() == 300  # not 5 x 6
