"""Add the console to the API app: pages, login, static files, its error pages."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from revflow.console.alerts_page import alerts_router
from revflow.console.fallout import fallout_router
from revflow.console.integrations import integrations_router
from revflow.console.login import login_router
from revflow.console.orders import orders_router
from revflow.console.overview import overview_router
from revflow.console.pages import PREFIX, LoginRequired, PageRefused, login_url, render
from revflow.console.plan_comments import plan_comments_router
from revflow.console.plan_page import plan_router

# follow_symlink: an editable install links the files from the checkout
STATIC = Path(__file__).parent / "static"


def htmx_dir() -> Path:
    """htmx's files as the ``django-js-lib-htmx`` package installs them (no CDN, no copy)."""
    return Path(str(files("js_lib_htmx") / "static" / "htmx"))


def mount(api: FastAPI, *, oidc: bool = False, api_budget_share: float = 0.5) -> None:
    """Serve the console at ``/console``; ``oidc``: offer the identity provider's login;
    ``api_budget_share``: Revflow's share of the org's API calls (its budget)."""
    api.state.console_oidc = oidc
    api.state.console_budget_share = api_budget_share
    # the more specific mount first: Starlette takes the first that matches
    api.mount(f"{PREFIX}/static/vendor/htmx", StaticFiles(directory=htmx_dir()), "console-htmx")
    api.mount(
        f"{PREFIX}/static", StaticFiles(directory=STATIC, follow_symlink=True), "console-static"
    )
    api.include_router(login_router())
    api.include_router(overview_router())
    api.include_router(orders_router())
    api.include_router(plan_router())
    api.include_router(plan_comments_router())
    api.include_router(alerts_router())
    api.include_router(fallout_router())
    api.include_router(integrations_router())

    @api.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.back_to)
        if request.headers.get("HX-Request"):  # htmx follows this header, not a 303
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @api.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> HTMLResponse:
        return render(request, "error.html", status_code=exc.status, detail=exc.detail)
