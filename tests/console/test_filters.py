"""Dashboard filters from a query string: defaults, the previous period, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from revflow.console.filters import FilterError, parse_filters

TODAY = date(2026, 11, 20)


def test_defaults_are_the_last_seven_days_and_the_seven_before() -> None:
    f = parse_filters({}, TODAY)
    assert (f.start, f.end, f.facets) == (date(2026, 11, 14), TODAY, {})
    assert f.period.start == datetime(2026, 11, 14, tzinfo=UTC)
    assert f.period.end == datetime(2026, 11, 21, tzinfo=UTC)
    before = f.period.previous()
    assert (before.start, before.end) == (datetime(2026, 11, 7, tzinfo=UTC), f.period.start)
    assert len(f.period.days()) == 7


def test_query_round_trips_with_changes() -> None:
    f = parse_filters({"from": "2026-11-01", "to": "2026-11-02", "region": " FR "}, TODAY)
    assert f.query() == {"from": "2026-11-01", "to": "2026-11-02", "region": "FR"}
    assert parse_filters(f.query(), TODAY) == f
    assert f.query(region=None, channel="New") == {
        "from": "2026-11-01",
        "to": "2026-11-02",
        "channel": "New",
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"to": "2026-13-01"}, "to: '2026-13-01' is not a date"),
        ({"from": "2026-11-21"}, "is after to"),
        ({"from": "2025-01-01"}, "longer than 366 days"),
        ({"account": "a\nb"}, "account: at most 80 printable"),
    ],
)
def test_errors_name_the_parameter(query, message) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filters(query, TODAY)
