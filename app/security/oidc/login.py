"""The OpenID Connect authorization code flow with PKCE, as services.

``begin`` stores a login under way (the SHA-256 of its state, the nonce and the
PKCE verifier) and answers the provider URL to send the browser to; the route puts
the state in a cookie too, so the callback is only taken from the browser that
started the login.  ``finish`` takes that login (once), exchanges the code, checks
the ID token and the userinfo, maps the claims to a role and answers an
``Identity``, or the ``OidcError`` that refused it, after auditing either way (the
caller commits, then answers the refusal).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit, metrics
from revflow.clock import aware, utcnow
from revflow.db.models import OidcLogin
from revflow.security.identity import SUBJECT_MAX, Identity, Method
from revflow.security.oidc import repository
from revflow.security.oidc.errors import LoginExpired, NoRole, OidcError, TokenRejected
from revflow.security.oidc.id_token import UnknownKey, allowed_algorithms, verify_id_token
from revflow.security.oidc.provider import OidcProvider
from revflow.security.oidc.roles import role_from_claims
from revflow.security.tokens import digest

log = logging.getLogger(__name__)

UNKNOWN = "oidc:unknown"  # the audit actor before the provider said who it is
DETAIL_MAX = 300


@dataclass(frozen=True)
class Started:
    url: str  # the provider's authorization URL
    state: str  # also goes into the browser's state cookie


@dataclass(frozen=True)
class Callback:
    """What came back on the redirect URI, and the browser's state cookie."""

    state: str
    browser_state: str | None
    code: str | None = None
    error: str | None = None
    error_description: str | None = None
    iss: str | None = None


@dataclass(frozen=True)
class Finished:
    identity: Identity | None
    refusal: OidcError | None
    return_to: str = "/"


def safe_return_to(value: str | None) -> str:
    """A path on Revflow itself (``/...``), never another site: open redirects help phishing."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value[:500]


async def begin(s: AsyncSession, provider: OidcProvider, return_to: str | None) -> Started:
    cfg = provider.settings
    now = utcnow()
    await repository.drop_logins_before(s, now - timedelta(seconds=cfg.login_timeout_s))
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters; RFC 7636 allows 43 to 128
    url = await provider.authorization_url(state=state, nonce=nonce, code_verifier=verifier)
    repository.add_login(
        s,
        OidcLogin(
            state_hash=digest(state),
            nonce=nonce,
            code_verifier=verifier,
            return_to=safe_return_to(return_to),
            created_at=now,
        ),
    )
    return Started(url=url, state=state)


async def finish(s: AsyncSession, provider: OidcProvider, callback: Callback) -> Finished:
    """The person's identity, or why not; audited as ``login.failed``/``login.refused``
    here (a successful login is audited by ``start_session``)."""
    login = await repository.take_login(s, digest(callback.state)) if callback.state else None
    return_to = login.return_to if login is not None else "/"
    actor = UNKNOWN
    try:
        if login is None:
            raise LoginExpired("unknown or already used login state; start the login again")
        browser = callback.browser_state or ""
        if not hmac.compare_digest(browser.encode(), callback.state.encode()):
            raise LoginExpired("this login was not started in this browser; start it again")
        age = (utcnow() - aware(login.created_at)).total_seconds()
        if age > provider.settings.login_timeout_s:
            raise LoginExpired("the login took too long; start it again")
        claims = await _claims(provider, login, callback)
        actor = subject_of(provider.settings.issuer, str(claims["sub"]))
        identity = _identity(provider, claims, actor)
    except OidcError as refusal:
        outcome = "refused" if isinstance(refusal, NoRole) else "failed"
        audit.record(s, actor, f"login.{outcome}", via="oidc", reason=refusal.detail[:DETAIL_MAX])
        metrics.LOGINS.labels(outcome).inc()
        log.warning("oidc login refused", extra={"actor": actor, "reason": refusal.detail})
        return Finished(None, refusal, return_to)
    metrics.LOGINS.labels("ok").inc()
    return Finished(identity, None, return_to)


async def _claims(provider: OidcProvider, login: OidcLogin, cb: Callback) -> dict[str, Any]:
    """The ID token's claims (checked) with the userinfo's added beneath them."""
    cfg = provider.settings
    if cb.error:
        described = f" ({printable(cb.error_description, 200)})" if cb.error_description else ""
        error = printable(cb.error, 100)
        raise TokenRejected(f"the identity provider refused the login: {error}{described}")
    metadata = await provider.metadata()
    # RFC 9207: a provider that names itself on the redirect must be ours (mix-up attacks)
    if cb.iss is not None and cb.iss != cfg.issuer:
        raise TokenRejected(f"the callback comes from issuer {printable(cb.iss, 200)!r}, not ours")
    if cb.iss is None and metadata.get("authorization_response_iss_parameter_supported"):
        raise TokenRejected("the callback lacks the iss parameter its provider always sends")
    if not cb.code:
        raise TokenRejected("the callback carries no authorization code")
    token = await provider.exchange(cb.code, login.code_verifier)
    access_token = token.get("access_token") if isinstance(token.get("access_token"), str) else None

    def check(keys: KeySet) -> dict[str, Any]:
        return verify_id_token(
            token["id_token"],
            keys,
            issuer=cfg.issuer,
            client_id=cfg.client_id,
            nonce=login.nonce,
            access_token=access_token,
            algorithms=allowed_algorithms(metadata),
            now=utcnow(),
            leeway_s=cfg.leeway_s,
        )

    try:
        claims = check(await provider.keys())
    except UnknownKey:
        claims = check(await provider.keys(refresh=True))
    if access_token:
        info = await provider.userinfo(access_token)
        if info and info.get("sub") != claims["sub"]:
            raise TokenRejected("userinfo is about another subject than the ID token")
        claims = {**info, **claims}
    return claims


def printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` with anything unprintable (CR, LF, controls) dropped: what
    the provider or the browser sent goes to the audit log and the logs."""
    return "".join(c for c in text if c.isprintable())[:limit]


def subject_of(issuer: str, sub: str) -> str:
    """The audit actor: ``oidc:<issuer>#<sub>``, or ``oidc:<issuer host>#<sub>`` when the
    issuer is too long for the actor column (one issuer is configured, so both are unique)."""
    if not sub.isprintable():
        raise TokenRejected("the provider's subject has characters an audit actor may not")
    for subject in (f"oidc:{issuer}#{sub}", f"oidc:{urlsplit(issuer).netloc}#{sub}"):
        if len(subject) <= SUBJECT_MAX:
            return subject
    raise TokenRejected(f"the provider's subject is longer than {SUBJECT_MAX} characters")


def _identity(provider: OidcProvider, claims: dict[str, Any], subject: str) -> Identity:
    cfg = provider.settings
    role = role_from_claims(claims, cfg.role_claim, cfg.group_roles)
    if role is None:
        raise NoRole(f"{subject} has no Revflow role (claim {cfg.role_claim!r} maps to none)")
    name = next(
        (
            claims[key]
            for key in (cfg.name_claim, "preferred_username", "sub")
            if isinstance(claims.get(key), str) and claims[key]
        ),
        subject,
    )
    shown = printable(str(name), 200) or subject
    return Identity(subject=subject, name=shown, role=role, method=Method.SESSION)
