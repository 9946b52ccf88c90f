"""Alert endpoints: history, one alert with its messages; acknowledge and resolve.

    GET  /api/alerts                      newest first (?state=&plan_id=&order_id=)  viewer
    GET  /api/alerts/{alert_id}           the alert and every message sent for it    viewer
    POST /api/alerts/{alert_id}/acknowledge                                          operator
    POST /api/alerts/{alert_id}/resolve                                              operator
    GET  /api/alerts/ack?token=           the page a message's link opens            signed link
    POST /api/alerts/ack/confirm?token=   its button: acknowledges (no escalation)   signed link

The link routes need no login: the token (``revflow.alerts.links``) is an HMAC of the
alert id and an expiry.  The GET only shows a button, so mail scanners that fetch
links do not acknowledge anything.  404 for an unknown alert, 409 for an alert that is
resolved already, 403 for a forged or expired link.
"""

from __future__ import annotations

import html
import time
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from revflow.alerts import links, repository, service
from revflow.alerts.settings import AlertSettings
from revflow.api.schemas import AUTH_ERRORS, Problem, Utc
from revflow.db.database import Database
from revflow.db.models import Alert, AlertDelivery
from revflow.security.dependencies import require
from revflow.security.identity import Identity, Role

T = TypeVar("T")
Viewer = Depends(require(Role.VIEWER))
Operator = Annotated[Identity, Depends(require(Role.OPERATOR))]
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1, description="an alert's id")]
Token = Annotated[str, Query(min_length=5, max_length=200, pattern=r"^[0-9]+\.[0-9]+\.[\w-]+$")]
LINK_ACTOR = "alert-link"


class AlertOut(BaseModel):
    id: int
    rule: str
    kind: str
    subject: str
    state: str
    severity: str
    title: str
    summary: str
    plan_id: int | None
    order_id: str | None
    step: str | None
    error_class: str | None
    error_message: str | None
    detail: dict[str, Any]
    count: int
    level: int
    throttled: bool
    next_escalation_at: Utc | None
    created_at: Utc
    last_seen_at: Utc
    acknowledged_at: Utc | None
    acknowledged_by: str | None
    resolved_at: Utc | None
    resolved_by: str | None


class DeliveryOut(BaseModel):
    id: int
    level: int
    channel: str
    recipient_kind: str
    recipient_name: str
    email: str | None
    state: str
    attempts: int
    due_at: Utc
    error: str | None
    sent_at: Utc | None


class AlertDetailOut(AlertOut):
    deliveries: list[DeliveryOut]


def alert_out(a: Alert) -> dict[str, Any]:
    return {name: getattr(a, name) for name in AlertOut.model_fields}


def delivery_out(d: AlertDelivery) -> dict[str, Any]:
    return {name: getattr(d, name) for name in DeliveryOut.model_fields}


async def _call(action: Awaitable[T]) -> T:
    try:
        return await action
    except service.AlertNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except service.AlertStateError as exc:
        raise HTTPException(409, str(exc)) from None


def alerts_router(db: Database, settings: AlertSettings | None = None) -> APIRouter:
    router = APIRouter(tags=["alerts"])
    key = settings.link_key() if settings is not None else None
    errors: dict[int | str, dict[str, Any]] = {
        **{code: {"model": Problem} for code in (404, 409)},
        **AUTH_ERRORS,
    }
    link_errors: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem} for code in (403, 404, 409)
    }

    def verified(token: str) -> int:
        if key is None:
            raise HTTPException(404, "acknowledge links are not configured")
        try:
            return links.verify(key, token, time.time())
        except links.LinkError as exc:
            raise HTTPException(403, str(exc)) from None

    # declared before /api/alerts/{alert_id}, which would otherwise take "ack"
    @router.get("/api/alerts/ack", response_class=HTMLResponse, responses=link_errors)
    async def ack_page(token: Token) -> HTMLResponse:
        """The page an acknowledge link opens: the alert and a button (GET changes nothing;
        mail scanners fetch links)."""
        alert_id = verified(token)
        async with db.read() as s:
            alert = await repository.get(s, alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id}")
        return HTMLResponse(_page(alert, token))

    @router.post("/api/alerts/ack/confirm", response_class=HTMLResponse, responses=link_errors)
    async def ack_by_link(token: Token) -> HTMLResponse:
        """The page's button: acknowledge the alert the link names (escalation stops)."""
        alert_id = verified(token)
        async with db.write() as s:
            alert = await _call(service.acknowledge(s, alert_id, actor=LINK_ACTOR))
        return HTMLResponse(_page(alert, None))

    @router.get(
        "/api/alerts", response_model=list[AlertOut], dependencies=[Viewer], responses=AUTH_ERRORS
    )
    async def list_alerts(
        state: Literal["open", "acknowledged", "resolved"] | None = None,
        plan_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        order_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{15,18}$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Alert history, newest first."""
        async with db.read() as s:
            rows = await repository.list_alerts(
                s, state=state, plan_id=plan_id, order_id=order_id, limit=limit
            )
            return [alert_out(a) for a in rows]

    @router.get(
        "/api/alerts/{alert_id}",
        response_model=AlertDetailOut,
        dependencies=[Viewer],
        responses=errors,
    )
    async def get_alert(alert_id: AlertId) -> dict[str, Any]:
        """The alert and every message sent (or due) for it."""
        async with db.read() as s:
            alert = await repository.get(s, alert_id)
            if alert is None:
                raise HTTPException(404, f"no alert {alert_id}")
            sent = await repository.deliveries_of(s, alert_id)
            return {**alert_out(alert), "deliveries": [delivery_out(d) for d in sent]}

    @router.post("/api/alerts/{alert_id}/acknowledge", response_model=AlertOut, responses=errors)
    async def acknowledge(alert_id: AlertId, who: Operator) -> dict[str, Any]:
        """Someone is on it: no more escalation."""
        async with db.write() as s:
            return alert_out(await _call(service.acknowledge(s, alert_id, actor=who.subject)))

    @router.post("/api/alerts/{alert_id}/resolve", response_model=AlertOut, responses=errors)
    async def resolve(alert_id: AlertId, who: Operator) -> dict[str, Any]:
        """Close the alert; messages not sent yet are cancelled."""
        async with db.write() as s:
            return alert_out(await _call(service.resolve(s, alert_id, actor=who.subject)))

    return router


def _page(alert: Alert, token: str | None) -> str:
    e = html.escape
    if token is not None and alert.state == "open":
        action = f"/api/alerts/ack/confirm?token={e(token)}"
        body = (
            f'<form method="post" action="{action}">'
            '<button type="submit">Acknowledge</button></form>'
        )
    else:
        who = alert.acknowledged_by or alert.resolved_by or ""
        body = f"<p>This alert is {e(alert.state)}{' by ' + e(who) if who else ''}.</p>"
    return (
        "<!doctype html><html><head><title>Revflow alert</title></head><body>"
        f"<h1>{e(alert.title)}</h1><p>{e(alert.summary)}</p>{body}</body></html>"
    )
