"""Login and logout for people; who am I.

    POST /api/auth/login    {"username", "password", "code"}  (code: TOTP or recovery code)
    POST /api/auth/logout   ends the caller's browser session
    GET  /api/auth/me       the caller's identity

A login answers 200 with the identity and sets the session and CSRF cookies
(``revflow.security.sessions``); 401 for any wrong answer (which one is audited,
not told); 429 with ``Retry-After`` past ``REVFLOW_SECURITY__LOGIN_RATE_PER_MINUTE``
attempts from one client address; 503 when local users cannot be checked because no
keyring is configured.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from revflow.api.schemas import AUTH_ERRORS, Problem
from revflow.clock import utcnow
from revflow.security.dependencies import current_identity, guard_of
from revflow.security.identity import Identity
from revflow.security.keyring import KeyringError
from revflow.security.login import LoginFailure, check_login
from revflow.security.sessions import end_session, start_session

FAILED = "login failed: wrong username, password or code, or the account is locked for now"


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    code: str = Field(min_length=1, max_length=64, description="a TOTP code or a recovery code")


class IdentityOut(BaseModel):
    subject: str
    name: str
    role: str
    method: str


class LoginOut(IdentityOut):
    expires_at: datetime  # the absolute timeout; the idle timeout may end it sooner


def _out(identity: Identity) -> dict[str, Any]:
    return {
        "subject": identity.subject,
        "name": identity.name,
        "role": str(identity.role),
        "method": identity.method,
    }


def auth_router() -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.post(
        "/login",
        response_model=LoginOut,
        responses={
            401: {"model": Problem},
            429: {"model": Problem},
            503: {"model": Problem},
        },
    )
    async def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
        """Log a local user in with password and second factor; sets the session cookies."""
        guard = guard_of(request)
        client = request.client.host if request.client else "unknown"
        wait_s = guard.login_limit.hit(client)
        if wait_s:
            raise HTTPException(
                429,
                "too many login attempts; try again later",
                headers={"Retry-After": str(math.ceil(wait_s))},
            )
        if guard.keyring is None:
            raise HTTPException(503, "local login needs REVFLOW_KEYRING__KEYS (or __KEYS_FILE)")
        async with guard.db.write() as s:
            try:
                result = await check_login(
                    s,
                    guard.keyring,
                    guard.settings,
                    username=body.username,
                    password=body.password,
                    code=body.code,
                )
            except KeyringError as exc:  # the seed is under a key no longer configured
                raise HTTPException(503, f"cannot check the second factor: {exc}") from None
            if isinstance(result, LoginFailure):
                identity = None
            else:
                identity = result
                await start_session(s, identity, response, guard.settings, via="local")
        if identity is None:
            raise HTTPException(401, FAILED)
        absolute = timedelta(seconds=guard.settings.session_absolute_s)
        return {**_out(identity), "expires_at": utcnow() + absolute}

    @router.post("/logout", status_code=204, responses=AUTH_ERRORS)
    async def logout(
        request: Request,
        response: Response,
        _who: Annotated[Identity, Depends(current_identity)],
    ) -> None:
        """End the caller's browser session and clear its cookies."""
        async with guard_of(request).db.write() as s:
            await end_session(s, request, response)

    @router.get("/me", response_model=IdentityOut, responses=AUTH_ERRORS)
    async def me(who: Annotated[Identity, Depends(current_identity)]) -> dict[str, Any]:
        """Who the caller is: subject (the audit actor), name, role, how authenticated."""
        return _out(who)

    return router
