"""FastAPI dependencies that authenticate the caller and check its role.

    @router.post("/x")
    async def x(who: Annotated[Identity, Depends(require(Role.OPERATOR))]) -> ...:
        ...  # who.subject is the audit actor

``require(role)`` answers 401 without valid credentials (an API key as
``Authorization: Bearer rfk_...`` or a session cookie) and 403 for a role too weak
or, for a state-changing request on a session cookie, a missing or wrong
``X-CSRF-Token``.  Each refusal is audited (``access.refused``) and counted.
``current_identity`` accepts any authenticated caller.  Past the app's rate limit
(``revflow.security.ratelimit``) an identity, or the address of a caller refused 401,
gets 429.  ``install(app, db,
settings)`` must run in ``create_app`` before the first request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from revflow import audit, metrics
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.security import repository
from revflow.security.identity import Identity, Method, Role
from revflow.security.keyring import Keyring
from revflow.security.keys import check_key, key_prefix
from revflow.security.ratelimit import SlidingWindow, client_key, rate_limit_of
from revflow.security.sessions import SESSION_COOKIE, Resolved, check_session, csrf_ok
from revflow.security.settings import SecuritySettings
from revflow.security.tokens import digest

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
PATH_MAX = 200

bearer_scheme = HTTPBearer(
    scheme_name="apiKey",
    auto_error=False,
    description="An API key (`revflow keys create`): `Authorization: Bearer rfk_...`",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    auto_error=False,
    description="A browser session after login; state-changing requests also send "
    "`X-CSRF-Token` (the `revflow_csrf` cookie's value).",
)


@dataclass
class Guard:
    """What the dependencies need, kept on ``app.state.security``."""

    db: Database
    settings: SecuritySettings
    keyring: Keyring | None = None  # decrypts TOTP seeds; None: no local login
    login_limit: SlidingWindow = field(init=False)

    def __post_init__(self) -> None:
        self.login_limit = SlidingWindow(self.settings.login_rate_per_minute, 60.0)


def install(
    app: FastAPI,
    db: Database,
    settings: SecuritySettings | None = None,
    keyring: Keyring | None = None,
) -> Guard:
    guard = Guard(db, settings or SecuritySettings(), keyring)
    app.state.security = guard
    return guard


def guard_of(request: Request) -> Guard:
    guard = getattr(request.app.state, "security", None)
    if not isinstance(guard, Guard):
        raise RuntimeError("revflow.security.dependencies.install(app, ...) was not called")
    return guard


def identity_of(request: Request) -> Identity | None:
    """The identity a ``require`` dependency authenticated for this request, if any."""
    found = getattr(request.state, "identity", None)
    return found if isinstance(found, Identity) else None


class _Refusal(Exception):
    def __init__(self, status: int, actor: str, reason: str, detail: str) -> None:
        self.status, self.actor, self.reason, self.detail = status, actor, reason, detail


async def _authenticate(
    guard: Guard, request: Request, bearer: HTTPAuthorizationCredentials | None
) -> Identity:
    """The caller's identity, with ``last_used_at``/``last_seen_at`` moved; or ``_Refusal``."""
    if bearer is not None:
        async with guard.db.read() as s:
            key = await check_key(s, bearer.credentials)
        if isinstance(key, str):
            prefix = key_prefix(bearer.credentials)
            actor = f"key:{prefix}" if prefix else ANONYMOUS
            raise _Refusal(401, actor, f"api key {key}", "invalid, expired or revoked API key")
        if key.touch:
            async with guard.db.write() as s:
                await repository.touch_key(s, key.key_id, utcnow())
        return key.identity
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise _Refusal(401, ANONYMOUS, "no credentials", "authentication required")
    async with guard.db.read() as s:
        found = await check_session(s, token, guard.settings)
    if isinstance(found, str):
        if found in ("expired", "idle"):
            async with guard.db.write() as s:
                row = await repository.session_by_token(s, digest(token))
                if row is not None:
                    await repository.end_session(s, row.id, utcnow(), found)
        raise _Refusal(401, ANONYMOUS, f"session {found}", "session expired or unknown; log in")
    if found.touch:
        async with guard.db.write() as s:
            await repository.touch_session(s, found.row.id, utcnow())
    _check_csrf(request, found)
    return found.identity


def _check_csrf(request: Request, found: Resolved) -> None:
    if not csrf_ok(request, found.row):
        raise _Refusal(403, found.identity.subject, "csrf", "missing or wrong X-CSRF-Token header")


async def _refuse(guard: Guard, request: Request, refusal: _Refusal, needed: Role) -> None:
    """Audit and count a refused call, then answer it."""
    metrics.API_REFUSED.labels(str(refusal.status)).inc()
    async with guard.db.write() as s:
        audit.record(
            s,
            refusal.actor,
            "access.refused",
            status=refusal.status,
            method=request.method,
            path=request.url.path[:PATH_MAX],
            needed=str(needed),
            reason=refusal.reason,
        )
    headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None
    raise HTTPException(refusal.status, refusal.detail, headers=headers)


def _unavailable(exc: Exception) -> NoReturn:
    """No identity can be checked (or a refusal audited) while the database is away."""
    log.error("cannot check credentials: %s", type(exc).__name__)
    raise HTTPException(503, "cannot check credentials now: the database is unavailable")


def require(role: Role) -> Callable[..., Awaitable[Identity]]:
    """A dependency: the caller's identity if its role allows ``role``; else 401/403."""
    needed = Role(role)

    async def dependency(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
        _cookie: str | None = Security(cookie_scheme),
    ) -> Identity:
        guard = guard_of(request)
        limit = rate_limit_of(request)
        try:
            identity = await _authenticate(guard, request, bearer)
            if limit is not None:
                limit.enforce(identity.subject, "identity")
            if not identity.role.allows(needed):
                raise _Refusal(
                    403,
                    identity.subject,
                    f"role {identity.role}",
                    f"this needs the {needed} role; {identity.subject} has {identity.role}",
                )
        except _Refusal as refusal:
            if limit is not None and refusal.status == 401:  # before the audit write
                limit.enforce(client_key(request), "anonymous")
            try:
                await _refuse(guard, request, refusal, needed)
            except (SQLAlchemyError, OSError) as exc:  # the refusal cannot be audited
                _unavailable(exc)
            raise  # unreachable: _refuse raises
        except (SQLAlchemyError, OSError) as exc:
            _unavailable(exc)
        request.state.identity = identity
        return identity

    dependency.needed_role = needed  # type: ignore[attr-defined]  # read by the route table
    dependency.__name__ = f"require_{needed}"
    return dependency


def needed_role(dependency: Any) -> Role | None:
    """The role a ``require`` dependency checks (None for any other callable)."""
    role = getattr(dependency, "needed_role", None)
    return role if isinstance(role, Role) else None


# any authenticated caller, whatever its role
current_identity = require(min(Role, key=lambda r: r.rank))

__all__ = ["Guard", "Identity", "Method", "Role", "current_identity", "install", "require"]
