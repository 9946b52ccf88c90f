"""Revflow's own Salesforce API use against its budget and the org's allocation."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from revflow.api.schemas import AUTH_ERRORS
from revflow.config import SalesforceSettings
from revflow.db.database import Database
from revflow.salesforce.budget import usage_report
from revflow.security.dependencies import require
from revflow.security.identity import Role


class UsageOut(BaseModel):
    """``org_used``/``org_limit`` are the org-wide ``Sforce-Limit-Info: api-usage=N/M``
    (every client of the org); ``revflow_calls_24h`` is Revflow's own calls in the
    rolling 24 hours, which the budget (``share × org_limit``) applies to."""

    revflow_calls_24h: int
    revflow_calls_today: int
    org_used: int | None
    org_limit: int | None
    share: float
    budget: int | None
    paused: bool
    revflow_share_of_org: float | None


def salesforce_router(db: Database, settings: SalesforceSettings) -> APIRouter:
    router = APIRouter(tags=["salesforce"], responses=AUTH_ERRORS)

    @router.get(
        "/api/salesforce/usage",
        response_model=UsageOut,
        dependencies=[Depends(require(Role.VIEWER))],
    )
    async def usage() -> UsageOut:
        """Revflow's Salesforce API calls (last 24 h and today, UTC) vs its budget and the
        org total."""
        async with db.read() as s:
            report = await usage_report(s, settings.api_budget_share)
        return UsageOut.model_validate(report.as_dict())

    return router
