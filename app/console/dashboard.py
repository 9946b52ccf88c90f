"""The overview's content from the repository's numbers: KPI cards with the previous
period compared, and the charts' series.  Pure: plain data in, plain data out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from revflow.console.repository import PeriodKpis, WebhookHealth


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    previous: str | None  # the previous period's value, when it has one
    change: str  # "+12%", "-3 pp", "" when there is nothing to compare
    trend: str  # "up" (better), "down" (worse) or "" (same, or neither is better)
    note: str = ""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _count_change(now: int, before: int) -> str:
    if before == 0:
        return "new" if now else ""
    return f"{(now - before) / before * 100:+.0f}%"


def _trend(now: float | None, before: float | None, higher_is_better: bool | None) -> str:
    if now is None or before is None or now == before or higher_is_better is None:
        return ""
    return "up" if (now > before) == higher_is_better else "down"


def _count(key: str, label: str, now: int, before: int, better: bool | None) -> Card:
    return Card(
        key, label, str(now), str(before), _count_change(now, before), _trend(now, before, better)
    )


def _rate(key: str, label: str, now: float | None, before: float | None, note: str) -> Card:
    change = f"{(now - before) * 100:+.1f} pp" if now is not None and before is not None else ""
    return Card(key, label, percent(now), percent(before), change, _trend(now, before, True), note)


def _time(key: str, label: str, now: float | None, before: float | None) -> Card:
    change = ""
    if now is not None and before:
        change = f"{(now - before) / before * 100:+.0f}%"
    return Card(key, label, duration(now), duration(before), change, _trend(now, before, False))


def cards(
    now: PeriodKpis,
    before: PeriodKpis,
    fallout_open: int,
    webhooks: WebhookHealth,
    api_budget: int | None,
    api_calls_24h: int,
) -> list[Card]:
    """The KPI cards, in the order the dashboard shows them."""
    budget = f"{api_calls_24h} in the last 24 h of a budget of {api_budget}" if api_budget else ""
    hooks = (
        f"{webhooks.enabled}/{webhooks.endpoints} enabled"
        if webhooks.endpoints
        else "no webhook endpoints"
    )
    hooks_note = f"{webhooks.failing} failing, {webhooks.disabled} disabled"
    return [
        _count("received", "Orders received", now.received, before.received, None),
        _count(
            "in_progress", "In progress (at period end)", now.in_progress, before.in_progress, None
        ),
        _count("completed", "Completed", now.completed, before.completed, True),
        _count("cancelled", "Cancelled", now.cancelled, before.cancelled, False),
        Card("fallout_open", "Fallout open (now)", str(fallout_open), None, "", ""),
        _rate(
            "on_time",
            "On time",
            now.on_time_rate,
            before.on_time_rate,
            "of completed with a due date",
        ),
        _time("p50", "Fulfillment time p50", now.p50_s, before.p50_s),
        _time("p95", "Fulfillment time p95", now.p95_s, before.p95_s),
        _rate_lower("erroneous", "Erroneous steps", now.erroneous_rate, before.erroneous_rate),
        _rate(
            "automation",
            "Automation rate",
            now.automation_rate,
            before.automation_rate,
            "completed with no operator action",
        ),
        Card(
            "api_calls",
            "Salesforce API calls",
            str(now.api_calls),
            str(before.api_calls),
            _count_change(now.api_calls, before.api_calls),
            "",
            budget,
        ),
        Card(
            "webhooks",
            "Webhook endpoints",
            hooks,
            None,
            "",
            "down" if webhooks.failing or webhooks.disabled else "",
            hooks_note if webhooks.endpoints else "",
        ),
    ]


def _rate_lower(key: str, label: str, now: float | None, before: float | None) -> Card:
    """A rate where lower is better."""
    change = f"{(now - before) * 100:+.1f} pp" if now is not None and before is not None else ""
    note = "of steps run failed at least once"
    return Card(key, label, percent(now), percent(before), change, _trend(now, before, False), note)


def by_day(days: Sequence[str], rows: Sequence[tuple[str, str, int]]) -> dict[str, list[int]]:
    """(day, series, n) rows as one list per series, a value for every day."""
    index = {d: i for i, d in enumerate(days)}
    out: dict[str, list[int]] = {}
    for day, name, n in rows:
        if day in index:
            out.setdefault(name, [0] * len(days))[index[day]] += n
    return dict(sorted(out.items()))


def per_day(
    days: Sequence[str], rows: Sequence[tuple[str, int, float]]
) -> tuple[list[int], list[float]]:
    """(day, completed, mean seconds) rows as two lists, zero on days with none."""
    found = {d: (n, mean) for d, n, mean in rows}
    counts = [found.get(d, (0, 0.0))[0] for d in days]
    means = [found.get(d, (0, 0.0))[1] / 60.0 for d in days]  # minutes
    return counts, means
