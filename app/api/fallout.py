"""The fallout queue: fatally failed steps of plans on hold, waiting for an operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from revflow.api.schemas import AUTH_ERRORS, ORDER_ID, FalloutOut
from revflow.db.database import Database
from revflow.orchestration.operator import list_fallout
from revflow.security.dependencies import require
from revflow.security.identity import Role

OrderIdFilter = Annotated[str | None, Query(pattern=ORDER_ID.pattern)]


def fallout_router(db: Database) -> APIRouter:
    router = APIRouter(tags=["fallout"], responses=AUTH_ERRORS)

    @router.get(
        "/api/fallout",
        response_model=list[FalloutOut],
        dependencies=[Depends(require(Role.VIEWER))],
    )
    async def fallout(
        order_id: OrderIdFilter = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[FalloutOut]:
        """Failed steps of open plans, oldest first; filter by order id."""
        async with db.read() as s:
            items = await list_fallout(s, order_id=order_id, limit=limit)
        return [FalloutOut(**item.__dict__) for item in items]

    return router
