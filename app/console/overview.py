"""The overview dashboard at ``/console``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from revflow.console.pages import PREFIX, Viewer, render


def overview_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("", response_class=HTMLResponse)
    async def overview(request: Request, who: Viewer) -> HTMLResponse:
        return render(request, "overview.html", title="Overview")

    return router
