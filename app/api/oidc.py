"""OpenID Connect login for people: ``/api/auth/oidc/login``, ``/callback`` and ``/logout``.

``login`` and ``callback`` are public (the browser has no identity yet); the
callback ends in ``start_session``. A login that fails answers 400 (state unknown,
used, timed out or not this browser's), 401 (the provider refused, or its ID token
did not pass), 403 (no Revflow role) or 502 (the provider could not be reached),
with the reason, and is audited. ``logout`` ends the session and answers the
provider's logout URL for the browser to visit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from revflow.api.schemas import AUTH_ERRORS, Problem
from revflow.db.database import Database
from revflow.security.dependencies import current_identity, guard_of
from revflow.security.identity import Identity
from revflow.security.oidc import login as flow
from revflow.security.oidc.errors import OidcError
from revflow.security.oidc.provider import OidcProvider
from revflow.security.sessions import end_session, start_session

STATE_COOKIE = "revflow_oidc_state"
COOKIE_PATH = "/api/auth/oidc"


class LogoutOut(BaseModel):
    """The session has ended; ``logout_url`` ends the provider's session too (visit it)."""

    logout_url: str


def _problem(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": Problem} for code in codes}


def oidc_router(db: Database, provider: OidcProvider) -> APIRouter:
    router = APIRouter(prefix="/api/auth/oidc", tags=["auth"])
    cfg = provider.settings

    @router.get(
        "/login",
        status_code=303,
        response_class=RedirectResponse,
        responses={303: {"description": "to the identity provider"}, **_problem(429, 502)},
    )
    async def oidc_login(
        request: Request,
        return_to: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        """Start a login at the company's identity provider (public).

        ``return_to``: a path on Revflow to land on afterwards (default ``/``).
        """
        guard = guard_of(request)
        wait = guard.login_limit.hit(request.client.host if request.client else "?")
        if wait:
            raise HTTPException(
                429, "too many logins from this address", {"Retry-After": str(int(wait) + 1)}
            )
        try:
            async with db.write() as s:
                started = await flow.begin(s, provider, return_to)
        except OidcError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        response = RedirectResponse(started.url, status_code=303)
        response.set_cookie(
            STATE_COOKIE,
            started.state,
            max_age=int(cfg.login_timeout_s),
            path=COOKIE_PATH,
            secure=guard.settings.cookie_secure,
            httponly=True,
            samesite="lax",  # sent on the provider's top-level redirect back
        )
        return response

    @router.get(
        "/callback",
        status_code=303,
        response_class=RedirectResponse,
        responses={
            303: {"description": "logged in: to return_to, with the session cookies"},
            **_problem(400, 401, 403, 502),
        },
    )
    async def oidc_callback(
        request: Request,
        state: Annotated[str, Query(max_length=200)] = "",
        code: Annotated[str | None, Query(max_length=2000)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
        error_description: Annotated[str | None, Query(max_length=1000)] = None,
        iss: Annotated[str | None, Query(max_length=500)] = None,
    ) -> Response:
        """Where the identity provider sends the browser back (public)."""
        callback = flow.Callback(
            state=state,
            browser_state=request.cookies.get(STATE_COOKIE),
            code=code,
            error=error,
            error_description=error_description,
            iss=iss,
        )
        response: Response = RedirectResponse("/", status_code=303)
        async with db.write() as s:
            done = await flow.finish(s, provider, callback)
            if done.identity is not None:
                settings = guard_of(request).settings
                await start_session(s, done.identity, response, settings, via="oidc")
        if done.refusal is not None:
            response = JSONResponse({"detail": done.refusal.detail}, done.refusal.status)
        else:
            response.headers["location"] = done.return_to
        response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
        return response

    @router.post("/logout", response_model=LogoutOut, responses=AUTH_ERRORS)
    async def oidc_logout(
        request: Request, response: Response, _who: Annotated[Identity, Depends(current_identity)]
    ) -> LogoutOut:
        """End this browser's session (any role; with ``X-CSRF-Token``) and answer the
        provider's logout URL, which ends the session there and comes back to Revflow."""
        async with db.write() as s:
            await end_session(s, request, response)
        return LogoutOut(logout_url=await provider.logout_url() or cfg.after_logout_url)

    return router
