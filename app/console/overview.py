"""The overview dashboard at ``/console``: KPIs for a period against the previous one,
charts, filters in the URL; ``/console/overview/kpis`` is the KPI block alone, which
the page polls every 5 seconds (htmx) so it stays live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import utcnow
from revflow.console import charts, dashboard, repository
from revflow.console.filters import FilterError, Filters, parse_filters
from revflow.console.pages import PREFIX, Viewer, database, render
from revflow.salesforce.budget import usage_report

REFRESH = "every 5s"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    svg: str
    head: tuple[str, ...]  # the same numbers as a table
    rows: list[tuple[Any, ...]]


def budget_share(request: Request) -> float:
    return float(getattr(request.app.state, "console_budget_share", 0.5))


async def kpi_cards(s: AsyncSession, f: Filters, share: float) -> list[dashboard.Card]:
    now, before = f.period, f.period.previous()
    usage = await usage_report(s, share)
    return dashboard.cards(
        await repository.period_kpis(s, f, now),
        await repository.period_kpis(s, f, before),
        await repository.fallout_open(s, f),
        await repository.webhook_health(s),
        usage.budget,
        usage.revflow_calls_24h,
    )


async def chart_list(s: AsyncSession, f: Filters) -> list[Chart]:
    days = [d.isoformat() for d in f.period.days()]
    status = dashboard.by_day(days, await repository.status_by_day(s, f, f.period))
    completed, mean_min = dashboard.per_day(days, await repository.completed_by_day(s, f, f.period))
    errors = await repository.fallout_by(s, f, "error_class")
    connectors = await repository.fallout_by(s, f, "connector")
    states = list(status)
    return [
        Chart(
            "by-status",
            "Orders received per day, by plan state now",
            charts.stacked_bars("Orders received per day by state", days, status),
            ("day", *states),
            [(d, *(status[st][i] for st in states)) for i, d in enumerate(days)],
        ),
        Chart(
            "fallout-errors",
            "Open fallout by error class",
            charts.donut("Open fallout by error class", errors),
            ("error class", "failed steps"),
            list(errors),
        ),
        Chart(
            "fallout-connectors",
            "Open fallout by connector",
            charts.donut("Open fallout by connector", connectors),
            ("connector", "failed steps"),
            list(connectors),
        ),
        Chart(
            "throughput",
            "Throughput: plans completed per day",
            charts.line("Plans completed per day", days, [float(n) for n in completed]),
            ("day", "completed"),
            list(zip(days, completed, strict=True)),
        ),
        Chart(
            "fulfillment-time",
            "Mean fulfillment time per day (minutes)",
            charts.line("Mean fulfillment time per day", days, mean_min, " min"),
            ("day", "mean minutes"),
            [(d, f"{m:.1f}") for d, m in zip(days, mean_min, strict=True)],
        ),
    ]


def overview_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def filters_or_error(request: Request) -> Filters | str:
        try:
            return parse_filters(request.query_params, utcnow().date())
        except FilterError as exc:
            return str(exc)

    @router.get("", response_class=HTMLResponse)
    async def overview(request: Request, who: Viewer) -> HTMLResponse:
        f = filters_or_error(request)
        if isinstance(f, str):
            return render(request, "error.html", status_code=400, title="Overview", detail=f)
        async with database(request).read() as s:
            cards = await kpi_cards(s, f, budget_share(request))
            chart_items = await chart_list(s, f)
            options = await repository.choices(s)
        return render(
            request,
            "overview.html",
            title="Overview",
            f=f,
            cards=cards,
            charts=chart_items,
            options=options,
            refresh=REFRESH,
        )

    @router.get("/overview/kpis", response_class=HTMLResponse)
    async def kpis(request: Request, who: Viewer) -> HTMLResponse:
        f = filters_or_error(request)
        if isinstance(f, str):
            return render(request, "error.html", status_code=400, detail=f)
        async with database(request).read() as s:
            cards = await kpi_cards(s, f, budget_share(request))
        return render(request, "kpis.html", f=f, cards=cards, refresh=REFRESH)

    return router
