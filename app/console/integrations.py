"""Integration health at ``/console/integrations``: webhook endpoints, consumer channels,
Salesforce API usage, incidents, dead letters; and the mappings page (lint, preview).

    GET  /console/integrations                                  the overview (viewer)
    GET  /console/integrations/webhooks/{name}                  attempts, parked messages
    POST /console/integrations/webhooks/{name}/{enable|disable} (admin)
    POST /console/integrations/webhooks/{name}/replay           a time range (operator)
    GET  /console/integrations/incidents/{id}                   (viewer)
    GET  /console/integrations/dead-letters/{id}                (viewer)
    POST /console/integrations/dead-letters/{id}/replay         (operator)
    GET  /console/integrations/mappings                         lint status (viewer)
    POST /console/integrations/mappings/preview                 a mapping on a pasted record

The actions call the same services as the API (``revflow.webhooks.actions``,
``revflow.ingest.dead_letters``), audited with the logged-in identity.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse

from revflow.clock import utcnow
from revflow.console import integrations_repository as repo
from revflow.console.context import OrderFetcher, context_of
from revflow.console.mappings_view import PreviewResult, lint_report, run_mapping, run_preview
from revflow.console.pages import PREFIX, Admin, Operator, Viewer, database, render
from revflow.console.redact import redact
from revflow.ingest import dead_letters
from revflow.orchestration.actors import REASON_MAX
from revflow.salesforce.auth import AuthError
from revflow.salesforce.budget import usage_report
from revflow.salesforce.errors import SalesforceError
from revflow.webhooks import actions, status
from revflow.webhooks.errors import OperatorError

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Reason = Annotated[str, Form(max_length=REASON_MAX)]
BASE = f"{PREFIX}/integrations"
ORDER_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


def parse_utc(text: str) -> datetime | None:
    """A ``datetime-local`` value (or ISO 8601) as UTC; empty: None."""
    text = text.strip()
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def read_order(fetch: OrderFetcher | None, order_id: str) -> dict[str, Any] | str:
    """The Order from the org, or why it cannot be read (a line for the page)."""
    if fetch is None:
        return "reading from the org is not available here: paste the record instead"
    if not ORDER_ID.match(order_id):
        return "an Order id has 15 or 18 letters and digits"
    try:
        found = await fetch(order_id)
    except (AuthError, SalesforceError, httpx.HTTPError) as exc:
        return f"reading Order {order_id} failed: {exc}"
    return found if found is not None else f"no Order {order_id} in the org"


def integrations_router() -> APIRouter:
    router = APIRouter(prefix=BASE, include_in_schema=False)

    @router.get("", response_class=HTMLResponse)
    async def overview(request: Request, who: Viewer) -> HTMLResponse:
        ctx = context_of(request)
        async with database(request).read() as s:
            endpoints = await status.list_endpoints(s, dict(ctx.webhooks))
            for e in endpoints:
                e["last_error"] = redact(e["last_error"]) if e["last_error"] else None
            channels = await repo.channels(s)
            usage = await usage_report(s, ctx.salesforce.api_budget_share)
            open_incidents = await repo.incidents(s, open_only=True)
            recent = await repo.incidents(s, open_only=False, limit=20)
            letters = await repo.dead_letters(s, include_replayed=False)
        return render(
            request,
            "integrations.html",
            title="Integrations",
            endpoints=endpoints,
            channels=channels,
            now=utcnow(),
            usage=usage,
            open_incidents=open_incidents,
            recent_incidents=[i for i in recent if i.resolved_at is not None],
            letters=letters,
        )

    async def _webhook(
        request: Request, name: str, *, message: str = "", error: str = "", code: int = 200
    ) -> HTMLResponse:
        async with database(request).read() as s:
            try:
                found = await status.status(s, name, dict(context_of(request).webhooks))
            except OperatorError as exc:
                return render(request, "error.html", status_code=404, detail=exc.detail)
        for a in found["attempts"]:
            a["error"] = redact(a["error"]) if a["error"] else None
        return render(
            request,
            "webhook.html",
            status_code=code,
            title=f"Webhook {name}",
            ep=found,
            message=message,
            error=error,
        )

    @router.get("/webhooks/{name}", response_class=HTMLResponse)
    async def webhook(request: Request, who: Viewer, name: Name) -> HTMLResponse:
        return await _webhook(request, name)

    @router.post("/webhooks/{name}/enable", response_class=HTMLResponse)
    async def enable(request: Request, who: Admin, name: Name, reason: Reason = "") -> HTMLResponse:
        return await _endpoint_action(request, who.subject, name, "enable", reason)

    @router.post("/webhooks/{name}/disable", response_class=HTMLResponse)
    async def disable(
        request: Request, who: Admin, name: Name, reason: Reason = ""
    ) -> HTMLResponse:
        return await _endpoint_action(request, who.subject, name, "disable", reason)

    async def _endpoint_action(
        request: Request, actor: str, name: str, action: str, reason: str
    ) -> HTMLResponse:
        ctx = context_of(request)
        try:
            async with database(request).write() as s:
                if action == "enable":
                    out = await actions.enable(s, name, actor=actor, reason=reason)
                else:
                    url = ctx.webhooks.get(name, "")
                    out = await actions.disable(s, name, url, actor=actor, reason=reason)
        except OperatorError as exc:
            return await _webhook(request, name, error=exc.detail, code=409)
        said = f"{name} is {out['state']}" + ("" if out["changed"] else " (it was already)")
        return await _webhook(request, name, message=said)

    @router.post("/webhooks/{name}/replay", response_class=HTMLResponse)
    async def replay(
        request: Request,
        who: Operator,
        name: Name,
        reason: Reason = "",
        since: Annotated[str, Form(max_length=40)] = "",
        until: Annotated[str, Form(max_length=40)] = "",
    ) -> HTMLResponse:
        try:
            start, end = parse_utc(since), parse_utc(until)
        except ValueError:
            return await _webhook(request, name, error="Give the times as dates.", code=422)
        try:
            async with database(request).write() as s:
                out = await actions.replay(
                    s,
                    context_of(request).writeback,
                    name,
                    actor=who.subject,
                    reason=reason,
                    since=start,
                    until=end,
                )
        except OperatorError as exc:
            return await _webhook(request, name, error=exc.detail, code=409)
        n = out["replayed"]
        return await _webhook(request, name, message=f"replayed {n} message{'' if n == 1 else 's'}")

    @router.get("/incidents/{incident_id}", response_class=HTMLResponse)
    async def incident(request: Request, who: Viewer, incident_id: Id) -> HTMLResponse:
        async with database(request).read() as s:
            found = await repo.incident(s, incident_id)
        if found is None:
            return render(
                request, "error.html", status_code=404, detail=f"no incident {incident_id}"
            )
        detail = json.dumps(redact(found.detail), indent=2, sort_keys=True, default=str)
        return render(
            request, "incident.html", title=f"Incident {incident_id}", i=found, detail=detail
        )

    async def _letter(
        request: Request, letter_id: int, outcome: str = "", code: int = 200
    ) -> HTMLResponse:
        async with database(request).read() as s:
            found = await repo.dead_letter(s, letter_id)
        if found is None:
            return render(
                request, "error.html", status_code=404, detail=f"no dead letter {letter_id}"
            )
        payload = json.dumps(redact(found.payload), indent=2, sort_keys=True, default=str)
        return render(
            request,
            "dead_letter.html",
            status_code=code,
            title=f"Dead letter {letter_id}",
            d=found,
            payload=payload,
            outcome=outcome,
        )

    @router.get("/dead-letters/{letter_id}", response_class=HTMLResponse)
    async def dead_letter(request: Request, who: Viewer, letter_id: Id) -> HTMLResponse:
        return await _letter(request, letter_id)

    @router.post("/dead-letters/{letter_id}/replay", response_class=HTMLResponse)
    async def replay_letter(
        request: Request, who: Operator, letter_id: Id, reason: Reason = ""
    ) -> HTMLResponse:
        if not reason.strip():
            return await _letter(
                request, letter_id, "Give a reason: it goes to the audit trail.", 422
            )
        async with database(request).write() as s:
            outcomes = await dead_letters.replay_audited(
                s, [letter_id], actor=who.subject, reason=reason.strip()
            )
        if not outcomes:
            return await _letter(request, letter_id, "Already replayed.", 409)
        o = outcomes[0]
        return await _letter(request, letter_id, o.message, 200 if o.ok else 409)

    @router.get("/mappings", response_class=HTMLResponse)
    async def mappings(request: Request, who: Viewer) -> HTMLResponse:
        return await _mappings(request)

    async def _mappings(
        request: Request,
        *,
        chosen: str = "",
        record: str = "",
        order_id: str = "",
        out: str = "",
        error: str = "",
        code: int = 200,
    ) -> HTMLResponse:
        report = await asyncio.to_thread(lint_report, context_of(request).mappings_dir)
        return render(
            request,
            "mappings.html",
            status_code=code,
            title="Mappings",
            report=report,
            chosen=chosen,
            record=record,
            order_id=order_id,
            can_fetch=context_of(request).fetch_order is not None,
            out=out,
            error=error,
        )

    @router.post("/mappings/preview", response_class=HTMLResponse)
    async def preview(
        request: Request,
        who: Viewer,
        mapping: Annotated[str, Form(max_length=200)] = "",
        record: Annotated[str, Form(max_length=200_000)] = "",
        order_id: Annotated[str, Form(max_length=40)] = "",
    ) -> HTMLResponse:
        ctx = context_of(request)
        if order_id.strip():
            found = await read_order(ctx.fetch_order, order_id.strip())
            if isinstance(found, str):
                result = PreviewResult(error=found)
            else:
                record = json.dumps(redact(found), indent=2, default=str)
                result = await asyncio.to_thread(run_mapping, ctx.mappings_dir, mapping, found)
        else:
            result = await asyncio.to_thread(run_preview, ctx.mappings_dir, mapping, record)
        return await _mappings(
            request,
            chosen=mapping,
            record=record,
            order_id=order_id.strip(),
            out=result.output,
            error=result.error,
            code=200 if not result.error else 422,
        )

    return router
