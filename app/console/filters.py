"""The dashboard's filters, read from the URL's query so a view can be shared.

    ?from=2026-12-01&to=2026-12-07&region=FR&channel=New&account=001...&family=Hardware
     &definition=order_fulfillment&connector=erp

``from``/``to`` are UTC days, both included (default: the last 7 days to today); the
previous period is as long and ends where this one starts.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

DEFAULT_DAYS = 7
MAX_DAYS = 366
TEXT_MAX = 80
FACETS = ("region", "channel", "account", "family", "definition", "connector")


class FilterError(ValueError):
    """A filter the dashboard cannot answer; the message names the parameter."""


@dataclass(frozen=True)
class Period:
    """UTC instants ``start`` (included) to ``end`` (excluded)."""

    start: datetime
    end: datetime

    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)

    def days(self) -> list[date]:
        first = self.start.date()
        return [first + timedelta(days=i) for i in range((self.end - self.start).days)]


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # included
    region: str | None = None
    channel: str | None = None
    account: str | None = None
    family: str | None = None
    definition: str | None = None
    connector: str | None = None

    @property
    def period(self) -> Period:
        begin = datetime.combine(self.start, time(), UTC)
        return Period(begin, datetime.combine(self.end + timedelta(days=1), time(), UTC))

    @property
    def facets(self) -> dict[str, str]:
        """The facet filters that are set."""
        return {n: v for n in FACETS if (v := getattr(self, n)) is not None}

    def query(self, **changes: str | None) -> dict[str, str]:
        """The query parameters that give this view (with ``changes``), for links."""
        moved = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        out = {"from": moved.start.isoformat(), "to": moved.end.isoformat()}
        return out | moved.facets


def _day(params: Mapping[str, str], name: str, default: date) -> date:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(f"{name}: {raw[:40]!r} is not a date (YYYY-MM-DD)") from None


def parse_filters(params: Mapping[str, str], today: date) -> Filters:
    """The filters of a query string; ``FilterError`` names what is wrong."""
    end = _day(params, "to", today)
    start = _day(params, "from", end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise FilterError(f"from ({start}) is after to ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise FilterError(f"the period is longer than {MAX_DAYS} days")
    values: dict[str, str | None] = {}
    for name in FACETS:
        raw = params.get(name, "").strip()
        if len(raw) > TEXT_MAX or not raw.isprintable():
            raise FilterError(f"{name}: at most {TEXT_MAX} printable characters")
        values[name] = raw or None
    return Filters(start, end, **values)


__all__ = ["FACETS", "FilterError", "Filters", "Period", "parse_filters"]
