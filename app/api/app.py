"""The operator API: health, readiness, plans per order, metrics."""

from __future__ import annotations

import re

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select, text

from app.api.schemas import OrderOut, PlanOut, Problem, StepOut
from app.db.database import Database
from app.db.models import Plan, Step

ORDER_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def create_app(db: Database) -> FastAPI:
    api = FastAPI(
        title="Revflow",
        summary="Order orchestration between Salesforce and ERP systems",
        version="0.1.0",
    )

    @api.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid request')}"}, 422)

    @api.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["health"], responses={503: {"model": Problem}})
    async def readyz() -> dict[str, str]:
        """The database answers."""
        try:
            async with db.read() as s:
                await s.execute(text("SELECT 1"))
        except Exception as exc:
            raise HTTPException(503, f"database unavailable: {type(exc).__name__}") from exc
        return {"status": "ready"}

    @api.get(
        "/api/orders/{order_id}",
        response_model=OrderOut,
        tags=["orders"],
        responses={400: {"model": Problem}, 404: {"model": Problem}},
    )
    async def get_order(order_id: str) -> OrderOut:
        """The fulfillment plans of a Salesforce Order, with their steps."""
        if not ORDER_ID.match(order_id):
            raise HTTPException(400, f"{order_id!r} is not a Salesforce record id")
        async with db.read() as s:
            plans = list(
                (
                    await s.scalars(select(Plan).where(Plan.order_id == order_id).order_by(Plan.id))
                ).all()
            )
            if not plans:
                raise HTTPException(404, f"no plan for order {order_id}")
            steps = list(
                (
                    await s.scalars(
                        select(Step)
                        .where(Step.plan_id.in_([p.id for p in plans]))
                        .order_by(Step.plan_id, Step.position)
                    )
                ).all()
            )
        return OrderOut(
            order_id=order_id,
            plans=[
                PlanOut(
                    id=p.id,
                    order_id=p.order_id,
                    scenario=p.scenario,
                    definition=p.definition,
                    correlation_id=p.correlation_id,
                    state=p.state,
                    error=p.error,
                    mapping_hashes=p.mapping_hashes,
                    created_at=p.created_at,
                    completed_at=p.completed_at,
                    steps=[
                        StepOut(
                            key=st.key,
                            kind=st.kind,
                            state=st.state,
                            depends_on=st.depends_on,
                            attempts=st.attempts,
                            connector=st.connector,
                            action=st.action,
                            idempotency_key=st.idempotency_key,
                            due_at=st.due_at,
                            started_at=st.started_at,
                            finished_at=st.finished_at,
                            error=st.error,
                            output=st.output,
                            mapping_hash=st.mapping_hash,
                        )
                        for st in steps
                        if st.plan_id == p.id
                    ],
                )
                for p in plans
            ],
        )

    @api.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return api
