"""Local login: password, then a TOTP code or a recovery code; lockout after failures.

``check_login`` never raises for a wrong answer: it returns a ``LoginFailure`` so
the caller commits the failure count (and its audit entry) rather than rolling it
back.  What failed is in the audit log; the caller tells the user only that the
login failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit, metrics
from revflow.clock import aware, utcnow
from revflow.db.models import LocalUser
from revflow.security import factors, repository
from revflow.security.identity import Identity, Method, Role
from revflow.security.keyring import Keyring
from revflow.security.settings import SecuritySettings
from revflow.security.users import USERNAME, subject_of

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class LoginFailure:
    reason: str  # for the audit log: unknown user, disabled, locked, password, code


async def check_login(
    session: AsyncSession,
    keyring: Keyring,
    settings: SecuritySettings,
    *,
    username: str,
    password: str,
    code: str,
) -> Identity | LoginFailure:
    """The user's identity if password and code are right; audits either way."""
    name = username.strip().lower()
    user = await repository.lock_user(session, name) if USERNAME.match(name) else None
    if user is None:
        await factors.verify_password(None, password)  # as slow as a real check
        return _fail(session, None, name, "unknown user")
    now = utcnow()
    if user.disabled_at is not None:
        return _fail(session, user, name, "disabled")
    if user.locked_until is not None and aware(user.locked_until) > now:
        return _fail(session, user, name, "locked")
    if not await factors.verify_password(user.password_hash, password):
        return _count_failure(session, user, settings, "password")
    second = await _second_factor(session, keyring, user, code)
    if second is None:
        return _count_failure(session, user, settings, "code")
    if factors.needs_rehash(user.password_hash):
        user.password_hash = await factors.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    metrics.LOGINS.labels("ok").inc()
    if second == "recovery":
        left = len(await repository.unused_recovery_codes(session, user.id))
        audit.record(session, subject_of(name), "login.recovery_code", codes_left=left)
    return Identity(
        subject=subject_of(name), name=name, role=Role(user.role), method=Method.SESSION
    )


async def _second_factor(
    session: AsyncSession, keyring: Keyring, user: LocalUser, code: str
) -> str | None:
    """``totp`` or ``recovery`` if ``code`` is a valid one (and uses it up), else None."""
    code = code.strip()
    seed = keyring.decrypt(user.totp_seed_ciphertext)
    step = factors.totp_step(seed, code, utcnow(), user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        return "totp"
    wanted = factors.recovery_digest(code)
    for rc in await repository.unused_recovery_codes(session, user.id):
        if rc.code_hash == wanted:
            rc.used_at = utcnow()
            return "recovery"
    return None


def _count_failure(
    session: AsyncSession, user: LocalUser, settings: SecuritySettings, reason: str
) -> LoginFailure:
    user.failed_logins += 1
    locked = user.failed_logins >= settings.login_max_failures
    if locked:
        user.locked_until = utcnow() + timedelta(seconds=settings.lockout_s)
        user.failed_logins = 0
        audit.record(
            session, subject_of(user.username), "user.locked", until=user.locked_until.isoformat()
        )
    return _fail(session, user, user.username, reason)


def _fail(session: AsyncSession, user: LocalUser | None, name: str, reason: str) -> LoginFailure:
    metrics.LOGINS.labels("failed").inc()
    actor = subject_of(user.username) if user else ANONYMOUS
    shown = name[:64] if name.isprintable() else repr(name[:64])
    audit.record(session, actor, "login.failed", username=shown, reason=reason, via="local")
    return LoginFailure(reason)
