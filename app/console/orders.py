"""The orders list at ``/console/orders`` and its CSV export.

    GET /console/orders        search, filters (state, jeopardy, definition, account,
                               region, channel), pages
    GET /console/orders.csv    every matching row, streamed in batches (viewer)

The filters are query parameters, so a view can be shared by its URL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from revflow.console import orders_repository
from revflow.console.orders_repository import SORTS, OrderFilter, OrderRow
from revflow.console.pages import PREFIX, Viewer, database, render
from revflow.db.database import Database
from revflow.db.models import Plan
from revflow.plans.state import PlanState

PER_PAGE = 50
EXPORT_BATCH = 1000
JEOPARDY = ("on_time", "at_risk", "late", "none")
COLUMNS = (
    "plan_id",
    "order_id",
    "erp_number",
    "correlation_id",
    "account_id",
    "region",
    "channel",
    "definition",
    "scenario",
    "state",
    "jeopardy",
    "created_at",
    "completed_at",
    "due_at",
)
Text = Annotated[str, Query(max_length=100)]


def order_filter(
    q: Text = "",
    state: Text = "",
    jeopardy: Text = "",
    definition: Text = "",
    account: Text = "",
    region: Text = "",
    channel: Text = "",
    sort: Text = "",
) -> OrderFilter:
    """The list's query parameters (a dependency of the page and its CSV); values
    outside the known choices fall back to none."""
    return OrderFilter(
        q=q.strip(),
        account=account.strip(),
        region=region.strip(),
        channel=channel.strip(),
        state=state if state in {str(s) for s in PlanState} else "",
        jeopardy=jeopardy if jeopardy in JEOPARDY else "",
        definition=definition.strip(),
        sort=sort if sort in SORTS else "newest",
    )


Filter = Annotated[OrderFilter, Depends(order_filter)]


def _query(f: OrderFilter, **extra: object) -> str:
    values = {
        "q": f.q,
        "state": f.state,
        "jeopardy": f.jeopardy,
        "definition": f.definition,
        "account": f.account,
        "region": f.region,
        "channel": f.channel,
        "sort": "" if f.sort == "newest" else f.sort,
        **extra,
    }
    return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def csv_line(values: list[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(["" if v is None else _safe_cell(str(v)) for v in values])
    return buf.getvalue()


def _safe_cell(text: str) -> str:
    """A cell a spreadsheet would run as a formula starts with a quote instead."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export_rows(db: Database, f: OrderFilter) -> AsyncIterator[str]:
    """The CSV, a batch of rows per short read transaction (keyset on the plan id)."""
    yield csv_line(list(COLUMNS))
    after = 0
    while True:
        async with db.read() as s:
            rows: list[OrderRow] = await orders_repository.export_batch(s, f, after, EXPORT_BATCH)
        if not rows:
            return
        yield "".join(csv_line([getattr(r, c) for c in COLUMNS]) for r in rows)
        after = rows[-1].plan_id


def orders_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/orders", response_class=HTMLResponse)
    async def orders(
        request: Request,
        who: Viewer,
        f: Filter,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> HTMLResponse:
        async with database(request).read() as s:
            rows, total = await orders_repository.list_orders(
                s, f, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
            )
            definitions = await orders_repository.choices(s, Plan.definition)
            regions = await orders_repository.choices(s, Plan.region)
            channels = await orders_repository.choices(s, Plan.channel)
        pages = max(1, -(-total // PER_PAGE))
        return render(
            request,
            "orders.html",
            title="Orders",
            rows=rows,
            total=total,
            page=page,
            pages=pages,
            f=f,
            states=[str(s) for s in PlanState],
            jeopardies=JEOPARDY,
            definitions=definitions,
            regions=regions,
            channels=channels,
            sorts=list(SORTS),
            prev_url=f"?{_query(f, page=page - 1)}" if page > 1 else "",
            next_url=f"?{_query(f, page=page + 1)}" if page < pages else "",
            csv_url=f"{PREFIX}/orders.csv?{_query(f)}",
        )

    @router.get("/orders.csv")
    async def orders_csv(request: Request, who: Viewer, f: Filter) -> StreamingResponse:
        return StreamingResponse(
            export_rows(database(request), f),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="revflow-orders.csv"'},
        )

    return router
