"""The secrets a local user proves: argon2id passwords, TOTP codes, recovery codes.

Pure functions of their inputs (and the clock): no database.  Password hashing runs
in a thread (argon2id costs ~50 ms of CPU by design).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import secrets
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from revflow.orchestration.errors import BadRequest
from revflow.security.tokens import digest

PASSWORD_MIN = 12
PASSWORD_MAX = 1024
RECOVERY_CODES = 10
TOTP_DRIFT_STEPS = 1  # accept the code of the previous and next 30-second step too

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters
# a hash to verify against when the user is unknown, so the answer takes as long
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_password_policy(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise BadRequest(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")


async def hash_password(password: str) -> str:
    check_password_policy(password)
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an unknown user (None) costs as long and fails."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password[:PASSWORD_MAX])
        except (VerificationError, InvalidHashError):
            return False

    ok = await asyncio.to_thread(verify)
    return ok and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_totp_seed() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def totp_uri(seed: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (as a QR code) or takes typed."""
    return pyotp.TOTP(seed).provisioning_uri(name=username, issuer_name=issuer)


def totp_step(seed: str, code: str, at: datetime, after_step: int | None) -> int | None:
    """The time step ``code`` is valid for (within the drift), if later than
    ``after_step`` (a code is used once); else None."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(seed)
    now_step = totp.timecode(at)
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like ``k3vq-7pxa-m2rt-9wce`` (80 random bits each)."""
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_digest(code: str) -> str:
    """The stored form of a recovery code; spaces, dashes and case do not matter."""
    return digest(code.replace("-", "").replace(" ", "").lower())
