"""The fallout queue: fatally failed steps of plans on hold, waiting for an operator."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from revflow.api.schemas import AUTH_ERRORS, FalloutOut, Problem
from revflow.db.database import Database
from revflow.orchestration.operator import list_fallout
from revflow.security.dependencies import require
from revflow.security.identity import Role


def fallout_router(db: Database, valid: re.Pattern[str]) -> APIRouter:
    router = APIRouter(tags=["fallout"], responses=AUTH_ERRORS)

    @router.get(
        "/api/fallout",
        response_model=list[FalloutOut],
        responses={400: {"model": Problem}},
        dependencies=[Depends(require(Role.VIEWER))],
    )
    async def fallout(
        order_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[FalloutOut]:
        """Failed steps of open plans, oldest first; filter by order id."""
        if order_id is not None and not valid.match(order_id):
            raise HTTPException(400, f"{order_id[:40]!r} is not a Salesforce record id")
        async with db.read() as s:
            items = await list_fallout(s, order_id=order_id, limit=limit)
        return [FalloutOut(**item.__dict__) for item in items]

    return router
