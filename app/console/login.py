"""Console login and logout.

    GET  /console/login    the form (local user: password and TOTP code), and a link to
                           the identity provider when OpenID Connect is configured
    POST /console/login    checks the form, opens the session, 303 to ``next``
    POST /console/logout   ends the session (CSRF-checked like every console change)

The login form carries a token that must equal the ``revflow_login`` cookie set with
the form (double submit), so another site cannot log a browser in as someone else.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from revflow.console.pages import LOGIN, PREFIX, render, require_page, safe_next
from revflow.security.dependencies import guard_of
from revflow.security.identity import Identity, Role
from revflow.security.keyring import KeyringError
from revflow.security.login import LoginFailure, check_login
from revflow.security.sessions import end_session, start_session

LOGIN_COOKIE = "revflow_login"
FAILED = "Login failed: wrong username, password or code, or the account is locked for now."


def _form(
    request: Request, *, next_path: str, error: str = "", status_code: int = 200, username: str = ""
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        login_token=token,
        next_path=next_path,
        error=error,
        username=username,
        oidc=getattr(request.app.state, "console_oidc", False),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=600,
        path=LOGIN,
        secure=guard_of(request).settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response


def login_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002
        return _form(request, next_path=safe_next(next))

    @router.post("/login", response_class=HTMLResponse)
    async def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        code: Annotated[str, Form(max_length=64)] = "",
        login_token: Annotated[str, Form(max_length=100)] = "",
        next: Annotated[str, Form(max_length=500)] = PREFIX,  # noqa: A002
    ) -> Response:
        guard = guard_of(request)
        back_to = safe_next(next)

        def again(error: str, status: int) -> HTMLResponse:
            return _form(
                request, next_path=back_to, error=error, status_code=status, username=username
            )

        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, login_token):
            return again("The form expired; please try again.", 400)
        if not (username and password and code):
            return again("Enter your username, password and code.", 400)
        client = request.client.host if request.client else "unknown"
        if guard.login_limit.hit(client):
            return again("Too many login attempts; try again in a minute.", 429)
        if guard.keyring is None:
            return again("Local login is not configured (REVFLOW_KEYRING__KEYS).", 503)
        redirect = RedirectResponse(back_to, status_code=303)
        async with guard.db.write() as s:
            try:
                result = await check_login(
                    s,
                    guard.keyring,
                    guard.settings,
                    username=username,
                    password=password,
                    code=code,
                )
            except KeyringError:
                return again("The second factor cannot be checked now (keyring).", 503)
            if not isinstance(result, LoginFailure):
                await start_session(s, result, redirect, guard.settings, via="console")
        if isinstance(result, LoginFailure):
            return again(FAILED, 401)
        redirect.delete_cookie(LOGIN_COOKIE, path=LOGIN)
        return redirect

    @router.post("/logout")
    async def logout(
        request: Request,
        _who: Annotated[Identity, Depends(require_page(Role.METRICS))],
    ) -> Response:
        response = Response(status_code=204, headers={"HX-Redirect": LOGIN})
        async with guard_of(request).db.write() as s:
            await end_session(s, request, response)
        return response

    return router
