"""Alert history at ``/console/alerts``, and acknowledging or resolving an alert.

    GET  /console/alerts[?state=&kind=&severity=&plan=&page=]   open first (viewer)
    POST /console/alerts/{id}/acknowledge                       escalation stops (operator)
    POST /console/alerts/{id}/resolve                           pending messages cancelled

Both actions go through ``revflow.alerts.service`` in one transaction each, with the
logged-in identity as the audit actor; the answer is the page again (same filters)
with what happened.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from revflow.alerts import repository, service
from revflow.console.alerts_view import (
    KINDS,
    PAGE_SIZE,
    SEVERITIES,
    STATES,
    FilterError,
    Filters,
    alert_view,
    pages,
    parse_filters,
)
from revflow.console.pages import PREFIX, Operator, Viewer, database, render

AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _page(
    request: Request,
    filters: Filters,
    *,
    done: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    async with database(request).read() as s:
        rows, total = await repository.alert_history(
            s,
            state=filters.state,
            kind=filters.kind,
            severity=filters.severity,
            plan_id=filters.plan,
            offset=filters.offset,
            limit=PAGE_SIZE,
        )
        sent = await repository.deliveries_of_alerts(s, [a.id for a in rows])
    return render(
        request,
        "alerts.html",
        status_code=status_code,
        title="Alerts",
        alerts=[alert_view(a, sent[a.id]) for a in rows],
        total=total,
        pages=pages(total),
        filters=filters,
        states=STATES,
        kinds=KINDS,
        severities=SEVERITIES,
        done=done,
        error=error,
    )


def _filters(request: Request) -> Filters:
    q = request.query_params
    return parse_filters(
        *(q.get(k, "")[:64] for k in ("state", "kind", "severity", "plan", "page"))
    )


def alerts_router() -> APIRouter:
    router = APIRouter(prefix=f"{PREFIX}/alerts", include_in_schema=False)

    @router.get("", response_class=HTMLResponse)
    async def alerts(request: Request, who: Viewer) -> HTMLResponse:
        try:
            filters = _filters(request)
        except FilterError as exc:
            return await _page(request, Filters(), error=str(exc), status_code=400)
        return await _page(request, filters)

    @router.post("/{alert_id}/acknowledge", response_class=HTMLResponse)
    async def acknowledge(request: Request, who: Operator, alert_id: AlertId) -> HTMLResponse:
        return await _act(request, alert_id, who.subject, "acknowledged")

    @router.post("/{alert_id}/resolve", response_class=HTMLResponse)
    async def resolve(request: Request, who: Operator, alert_id: AlertId) -> HTMLResponse:
        return await _act(request, alert_id, who.subject, "resolved")

    return router


async def _act(request: Request, alert_id: int, actor: str, outcome: str) -> HTMLResponse:
    try:
        filters = _filters(request)
    except FilterError:
        filters = Filters()
    action = service.acknowledge if outcome == "acknowledged" else service.resolve
    try:
        async with database(request).write() as s:
            await action(s, alert_id, actor=actor)
    except service.AlertNotFound as exc:
        return await _page(request, filters, error=str(exc), status_code=404)
    except service.AlertStateError as exc:
        return await _page(request, filters, error=str(exc), status_code=409)
    return await _page(request, filters, done=f"Alert {alert_id} {outcome}.")
