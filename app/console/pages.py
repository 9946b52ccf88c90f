"""What every console page uses: the role it needs, its template, its database.

    router = APIRouter()

    @router.get("/orders", response_class=HTMLResponse)
    async def orders(request: Request, who: Viewer) -> HTMLResponse:
        async with database(request).read() as s:
            rows = await repository.orders(s)
        return render(request, "orders.html", rows=rows)

``Viewer``/``Operator``/``Admin`` authenticate the browser session and check its
role: without a session the browser is sent to the login page (303, or
``HX-Redirect`` for an htmx request); with a role too weak it gets a 403 page.  A
state-changing request must carry ``X-CSRF-Token`` (the base layout makes htmx send
it), or it gets a 403 page too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from revflow.db.database import Database
from revflow.security.dependencies import guard_of, require
from revflow.security.identity import Identity, Role
from revflow.security.sessions import CSRF_COOKIE, SESSION_COOKIE

PREFIX = "/console"
LOGIN = f"{PREFIX}/login"
NAV = (
    ("Overview", f"{PREFIX}"),
    ("Orders", f"{PREFIX}/orders"),
    ("Fallout", f"{PREFIX}/fallout"),
    ("Integrations", f"{PREFIX}/integrations"),
    ("Alerts", f"{PREFIX}/alerts"),
)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class LoginRequired(Exception):
    """No live session: the browser goes to the login page, then back to ``back_to``."""

    def __init__(self, back_to: str) -> None:
        self.back_to = back_to


class PageRefused(Exception):
    """A role too weak or a missing CSRF token: shown as an error page."""

    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


def database(request: Request) -> Database:
    return guard_of(request).db


def login_url(back_to: str) -> str:
    return f"{LOGIN}?next={quote(back_to, safe='/')}"


def safe_next(value: str | None) -> str:
    """A console path to land on after login; anything else (another site) is ignored."""
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX


def require_page(role: Role) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency: the session's identity if its role allows ``role``.

    Built on ``revflow.security.dependencies.require``, so refusals are audited the
    same way; a browser without a session cookie is sent to log in (nothing to audit).
    """
    check = require(role)

    async def dependency(request: Request) -> Identity:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not request.cookies.get(SESSION_COOKIE):
            raise LoginRequired(path)
        try:
            return await check(request, None, None)
        except HTTPException as exc:
            if exc.status_code == 401:
                raise LoginRequired(path) from None
            raise PageRefused(exc.status_code, str(exc.detail)) from None

    dependency.needed_role = Role(role)  # type: ignore[attr-defined]  # the route table
    dependency.__name__ = f"page_{role}"
    return dependency


Viewer = Annotated[Identity, Depends(require_page(Role.VIEWER))]
Operator = Annotated[Identity, Depends(require_page(Role.OPERATOR))]
Admin = Annotated[Identity, Depends(require_page(Role.ADMIN))]


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``name`` rendered with ``context`` and what the layout needs (who, nav, CSRF)."""
    base = {
        "who": getattr(request.state, "identity", None),
        "nav": NAV,
        "path": request.url.path,
        "csrf": request.cookies.get(CSRF_COOKIE, ""),
        "prefix": PREFIX,
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
