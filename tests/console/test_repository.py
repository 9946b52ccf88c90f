"""The dashboard's figures, computed by the database, against a known data set
(tests/console/dataset.py), with each filter changing them."""

from __future__ import annotations

from datetime import date

import pytest

from revflow.console import repository
from revflow.console.filters import Filters, parse_filters
from tests.console.dataset import ACCOUNT, seed

TODAY = date(2026, 11, 20)


def filters(**query: str) -> Filters:
    return parse_filters(query, TODAY)


@pytest.fixture
async def seeded(db):
    await seed(db)
    return db


async def test_the_period_and_the_one_before(seeded) -> None:
    f = filters()
    async with seeded.read() as s:
        now = await repository.period_kpis(s, f, f.period)
        before = await repository.period_kpis(s, f, f.period.previous())
    assert (now.received, now.completed, now.cancelled, now.in_progress) == (6, 4, 1, 3)
    # completed: P1 600 s, P2 3600 s, P3 120 s, Q2 (received the period before) 176400 s
    assert (now.p50_s, now.p95_s) == (pytest.approx(600, abs=1), pytest.approx(176400, abs=1))
    assert (now.on_time, now.with_due_date) == (1, 3)
    assert now.automated == 3 and now.automation_rate == 0.75  # P2 had an operator's retry
    assert (now.steps_run, now.steps_erroneous) == (6, 3)
    assert now.api_calls == 100
    assert (before.received, before.completed, before.cancelled, before.in_progress) == (
        2,
        1,
        0,
        2,
    )
    assert (before.p50_s, before.p95_s) == (pytest.approx(1800, abs=1),) * 2
    assert (before.on_time_rate, before.automation_rate, before.erroneous_rate) == (1, 1, 0.5)
    assert before.api_calls == 50


async def test_open_fallout_by_error_class_and_connector(seeded) -> None:
    async with seeded.read() as s:
        assert await repository.fallout_open(s, filters()) == 2
        by_class = await repository.fallout_by(s, filters(), "error_class")
        by_connector = await repository.fallout_by(s, filters(), "connector")
        assert await repository.fallout_open(s, filters(connector="erp")) == 1
    assert sorted(by_class) == [
        ("gave up after 5 attempts", 1),
        ("non-retryable PermanentConnectorError", 1),
    ]
    assert sorted(by_connector) == [("erp", 1), ("warehouse", 1)]


@pytest.mark.parametrize(
    ("query", "received", "completed"),
    [
        ({"region": "FR"}, 4, 3),  # P1 P3 P4 P6; completed P1 P3 Q2
        ({"region": "DE"}, 2, 1),
        ({"channel": "Renewal"}, 2, 1),
        ({"family": "Software"}, 2, 2),
        ({"definition": "B"}, 2, 1),
        ({"connector": "warehouse"}, 2, 1),
        ({"account": ACCOUNT}, 1, 1),
        ({"region": "FR", "family": "Hardware"}, 3, 2),
        ({"from": "2026-11-17", "to": "2026-11-18"}, 2, 1),
        ({"region": "JP"}, 0, 0),
    ],
)
async def test_filters_change_the_figures(seeded, query, received, completed) -> None:
    f = filters(**query)
    async with seeded.read() as s:
        k = await repository.period_kpis(s, f, f.period)
    assert (k.received, k.completed) == (received, completed)


async def test_per_day_series(seeded) -> None:
    f = filters()
    async with seeded.read() as s:
        status = await repository.status_by_day(s, f, f.period)
        done = await repository.completed_by_day(s, f, f.period)
        health = await repository.webhook_health(s)
        options = await repository.choices(s)
    assert status == [
        ("2026-11-15", "completed", 1),
        ("2026-11-16", "completed", 1),
        ("2026-11-17", "completed", 1),
        ("2026-11-18", "on_hold", 1),
        ("2026-11-19", "cancelled", 1),
        ("2026-11-20", "on_hold", 1),
    ]
    assert [(d, n) for d, n, _ in done] == [
        ("2026-11-14", 1),
        ("2026-11-15", 1),
        ("2026-11-16", 1),
        ("2026-11-17", 1),
    ]
    assert done[1][2] == pytest.approx(600, abs=1)
    assert (health.endpoints, health.enabled, health.failing, health.disabled) == (2, 1, 1, 1)
    assert options["region"] == ["DE", "FR"] and options["connector"] == ["erp", "warehouse"]
    assert options["family"] == ["Hardware", "Software"]


async def test_nothing_in_the_period_gives_no_percentiles(db) -> None:
    f = filters()
    async with db.read() as s:
        k = await repository.period_kpis(s, f, f.period)
    assert (k.received, k.p50_s, k.p95_s, k.on_time_rate, k.erroneous_rate) == (
        0,
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("n", [1, 3, 10, 21])
async def test_percentiles_are_nearest_rank_on_both_databases(db, n) -> None:
    from datetime import UTC, datetime, timedelta

    from revflow.db.models import OrderSnapshot, Plan

    start = datetime(2026, 11, 15, tzinfo=UTC)
    durations = [60.0 * (i + 1) for i in range(n)]
    async with db.write() as s:
        for i, d in enumerate(reversed(durations)):  # stored out of order
            snap = OrderSnapshot(order_id=f"801{i:015d}", record={})
            s.add(snap)
            await s.flush()
            s.add(
                Plan(
                    order_id=snap.order_id,
                    definition="A",
                    correlation_id=f"rf-{i}",
                    state="completed",
                    snapshot_id=snap.id,
                    created_at=start,
                    completed_at=start + timedelta(seconds=d),
                )
            )
    f = filters()
    async with db.read() as s:
        p50, p95 = await repository.fulfillment_percentiles(s, f, f.period)

    def nearest(p: float) -> float:
        return durations[max(1, -(-int(p * 100) * n // 100)) - 1]

    assert (p50, p95) == (
        pytest.approx(nearest(0.5), abs=0.5),
        pytest.approx(nearest(0.95), abs=0.5),
    )
