"""Browser sessions: cookies, CSRF token, idle and absolute timeouts, logout.

A login (local user with TOTP, or OpenID Connect) ends by calling
``start_session(session, identity, response)``, which stores the session and sets
two cookies:

- ``revflow_session``: the session token; Secure, HttpOnly, SameSite (lax by
  default); only its SHA-256 is stored.
- ``revflow_csrf``: the CSRF token, readable by the page (not HttpOnly); a
  state-changing request (anything but GET/HEAD/OPTIONS) authenticated by the
  session cookie must echo it in the ``X-CSRF-Token`` header.  Its SHA-256 is stored
  with the session, so a cookie planted by another site does not match.

A session ends after ``session_idle_s`` without a request, ``session_absolute_s``
after login, or at logout (``end_session``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import aware, utcnow
from revflow.db.models import AuthSession
from revflow.security import repository
from revflow.security.identity import Identity, Method, Role
from revflow.security.settings import SecuritySettings
from revflow.security.tokens import digest, matches, new_token

SESSION_COOKIE = "revflow_session"
CSRF_COOKIE = "revflow_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY_S = 30.0  # last_seen_at is written at most this often per session


async def start_session(
    session: AsyncSession,
    identity: Identity,
    response: Response,
    settings: SecuritySettings | None = None,
    *,
    via: str = "",
) -> None:
    """Open a browser session for ``identity`` and set its cookies on ``response``.

    ``session`` is the caller's database session (the route owns the transaction);
    ``settings``: pass the configured ``SecuritySettings`` (defaults otherwise);
    ``via`` names the login (``local``, ``oidc``) in the audit entry.
    """
    cfg = settings or SecuritySettings()
    now = utcnow()
    token, csrf = new_token(), new_token()
    row = AuthSession(
        token_hash=digest(token),
        csrf_hash=digest(csrf),
        subject=identity.subject,
        name=identity.name[:200],
        role=str(identity.role),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=cfg.session_absolute_s),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session, identity.subject, "login", via=via, role=str(identity.role), session_id=row.id
    )
    max_age = int(cfg.session_absolute_s)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=cfg.cookie_secure,
        httponly=True,
        samesite=cfg.cookie_samesite,
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age,
        path="/",
        secure=cfg.cookie_secure,
        httponly=False,
        samesite="strict",
    )


@dataclass(frozen=True)
class Resolved:
    """A live session found by its cookie; ``touch``: ``last_seen_at`` is due."""

    row: AuthSession
    identity: Identity
    touch: bool


async def check_session(
    session: AsyncSession, token: str, settings: SecuritySettings
) -> Resolved | str:
    """The live session for a cookie's ``token``, or why there is none (one word:
    ``unknown``, ``ended``, ``expired``, ``idle``).

    Reads only: the caller ends an ``expired``/``idle`` session and moves
    ``last_seen_at`` (at most every ``TOUCH_EVERY_S``) in a write transaction.
    """
    row = await repository.session_by_token(session, digest(token))
    if row is None:
        return "unknown"
    if row.ended_at is not None:
        return "ended"
    now = utcnow()
    last_seen = aware(row.last_seen_at)
    if now >= aware(row.expires_at):
        return "expired"
    if now >= last_seen + timedelta(seconds=settings.session_idle_s):
        return "idle"
    identity = Identity(
        subject=row.subject, name=row.name, role=Role(row.role), method=Method.SESSION
    )
    return Resolved(row, identity, (now - last_seen).total_seconds() >= TOUCH_EVERY_S)


def csrf_ok(request: Request, row: AuthSession) -> bool:
    """A safe method, or the ``X-CSRF-Token`` header matches the session's token."""
    if request.method in SAFE_METHODS:
        return True
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(sent) and matches(sent, row.csrf_hash)


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


async def end_session(
    session: AsyncSession, request: Request, response: Response, *, reason: str = "logout"
) -> Identity | None:
    """Log out: end the session of the request's cookie and clear the cookies.

    Returns whose session ended (audited as ``logout``), None when there was none.
    """
    clear_cookies(response)
    token = session_token(request)
    if token is None:
        return None
    row = await repository.session_by_token(session, digest(token))
    if row is None or row.ended_at is not None:
        return None
    await repository.end_session(session, row.id, utcnow(), reason)
    audit.record(session, row.subject, "logout", session_id=row.id, reason=reason)
    return Identity(subject=row.subject, name=row.name, role=Role(row.role), method=Method.SESSION)


def clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def expires_at(row: AuthSession, settings: SecuritySettings) -> datetime:
    """When the session ends unless used again."""
    idle_end = aware(row.last_seen_at) + timedelta(seconds=settings.session_idle_s)
    return min(idle_end, aware(row.expires_at))
