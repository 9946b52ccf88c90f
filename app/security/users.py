"""Local users, for teams without an identity provider: created and managed from the
CLI, each with an argon2id password, a mandatory TOTP second factor and recovery codes.

The TOTP seed is stored encrypted by the keyring (``REVFLOW_KEYRING__KEYS``); the
recovery codes as SHA-256 hashes.  A role change, a new password, a new second
factor and disabling a user end that user's sessions.  Every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import utcnow
from revflow.db.models import LocalUser, RecoveryCode
from revflow.orchestration.errors import BadRequest, Conflict, NotFound
from revflow.security import factors, repository
from revflow.security.identity import Role
from revflow.security.keyring import Keyring

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class Enrolment:
    """What a user is given once: the authenticator URI and the recovery codes."""

    user: LocalUser
    totp_uri: str
    recovery_codes: list[str]


def subject_of(username: str) -> str:
    return f"user:{username}"


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise BadRequest("a username has 1 to 64 characters: lower-case letters, digits, . _ @ -")
    return username


async def get_user(session: AsyncSession, username: str) -> LocalUser:
    user = await repository.user_by_name(session, username)
    if user is None:
        raise NotFound(f"no local user {username[:64]!r}")
    return user


async def create_user(
    session: AsyncSession,
    keyring: Keyring,
    *,
    username: str,
    role: Role,
    password: str,
    actor: str,
    issuer: str = "Revflow",
) -> Enrolment:
    """Create a user with a new TOTP seed and recovery codes (audited ``user.create``)."""
    check_username(username)
    if await repository.user_by_name(session, username) is not None:
        raise Conflict(f"local user {username} exists already")
    seed = factors.new_totp_seed()
    user = LocalUser(
        username=username,
        password_hash=await factors.hash_password(password),
        role=str(Role(role)),
        totp_seed_ciphertext=keyring.encrypt(seed),
        failed_logins=0,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(user)
    await session.flush()
    codes = await _issue_recovery_codes(session, user)
    audit.record(session, actor, "user.create", user=subject_of(username), role=user.role)
    return Enrolment(user, factors.totp_uri(seed, username, issuer), codes)


async def list_users(session: AsyncSession) -> Sequence[LocalUser]:
    return await repository.list_users(session)


async def set_role(session: AsyncSession, username: str, role: Role, *, actor: str) -> bool:
    """Change a user's role (audited ``user.role``, sessions ended); False if unchanged."""
    user = await get_user(session, username)
    before = user.role
    if before == str(Role(role)):
        return False
    user.role = str(Role(role))
    await _end_sessions(session, user, "role changed")
    audit.record(
        session, actor, "user.role", user=subject_of(username), before=before, after=user.role
    )
    return True


async def set_password(session: AsyncSession, username: str, password: str, *, actor: str) -> None:
    user = await get_user(session, username)
    user.password_hash = await factors.hash_password(password)
    await _end_sessions(session, user, "password changed")
    audit.record(session, actor, "user.password", user=subject_of(username))


async def reset_second_factor(
    session: AsyncSession, keyring: Keyring, username: str, *, actor: str, issuer: str = "Revflow"
) -> Enrolment:
    """A new TOTP seed and new recovery codes (the old ones stop working)."""
    user = await get_user(session, username)
    seed = factors.new_totp_seed()
    user.totp_seed_ciphertext = keyring.encrypt(seed)
    user.totp_last_step = None
    codes = await _issue_recovery_codes(session, user)
    await _end_sessions(session, user, "second factor reset")
    audit.record(session, actor, "user.reset_2fa", user=subject_of(username))
    return Enrolment(user, factors.totp_uri(seed, username, issuer), codes)


async def new_recovery_codes(session: AsyncSession, username: str, *, actor: str) -> list[str]:
    """Replace a user's recovery codes."""
    user = await get_user(session, username)
    codes = await _issue_recovery_codes(session, user)
    audit.record(session, actor, "user.recovery_codes", user=subject_of(username))
    return codes


async def set_disabled(session: AsyncSession, username: str, disabled: bool, *, actor: str) -> bool:
    """Disable (sessions ended, logins refused) or enable a user; False if unchanged."""
    user = await get_user(session, username)
    if (user.disabled_at is not None) == disabled:
        return False
    user.disabled_at = utcnow() if disabled else None
    if disabled:
        await _end_sessions(session, user, "disabled")
    action = "user.disable" if disabled else "user.enable"
    audit.record(session, actor, action, user=subject_of(username))
    return True


async def unlock(session: AsyncSession, username: str, *, actor: str) -> None:
    """Clear a lockout after repeated failed logins."""
    user = await get_user(session, username)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor, "user.unlock", user=subject_of(username))


async def _issue_recovery_codes(session: AsyncSession, user: LocalUser) -> list[str]:
    await repository.drop_recovery_codes(session, user.id)
    codes = factors.new_recovery_codes()
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=factors.recovery_digest(c)) for c in codes
    )
    return codes


async def _end_sessions(session: AsyncSession, user: LocalUser, reason: str) -> None:
    await repository.end_sessions_of(session, subject_of(user.username), utcnow(), reason[:32])
