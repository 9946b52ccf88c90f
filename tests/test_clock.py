"""The clock: frozen time for tests, and reading naive datetimes as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from revflow import clock


def test_aware_reads_a_naive_datetime_as_utc() -> None:
    assert clock.aware(datetime(2026, 12, 3, 8, 30)) == datetime(2026, 12, 3, 8, 30, tzinfo=UTC)


def test_aware_keeps_a_zone_it_was_given() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 12, 3, 9, 30, tzinfo=paris)
    assert clock.aware(moment).tzinfo is paris
    assert clock.aware(moment) == datetime(2026, 12, 3, 8, 30, tzinfo=UTC)


def test_aware_of_none_is_none() -> None:
    assert clock.aware(None) is None


def test_a_frozen_clock_refuses_naive_times_and_advances() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set_now(datetime(2026, 12, 3))
    with clock.frozen(datetime(2026, 12, 3, tzinfo=UTC)) as start:
        assert clock.advance(90) == start + timedelta(seconds=90)
        assert clock.utcnow() == start + timedelta(seconds=90)
