"""Passwords (argon2id), TOTP codes (RFC 6238, each used once) and recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from revflow.orchestration.errors import BadRequest
from revflow.security import factors

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


async def test_password_hash_is_argon2id_and_verifies() -> None:
    h = await factors.hash_password("correct horse battery")
    assert h.startswith("$argon2id$") and "correct" not in h
    assert await factors.verify_password(h, "correct horse battery")
    assert not await factors.verify_password(h, "correct horse battery!")
    assert not await factors.verify_password(None, "correct horse battery")  # unknown user
    assert not await factors.verify_password("not a hash", "x")
    with pytest.raises(BadRequest, match="12 to 1024"):
        await factors.hash_password("short")


def test_totp_accepts_the_current_and_adjacent_steps_once() -> None:
    seed = factors.new_totp_seed()
    totp = pyotp.TOTP(seed)
    code = totp.at(T0)
    step = factors.totp_step(seed, code, T0, None)
    assert step == totp.timecode(T0)
    assert factors.totp_step(seed, code, T0, step) is None  # replayed
    earlier = totp.at(T0 - timedelta(seconds=30))
    assert factors.totp_step(seed, earlier, T0, None) == step - 1  # clock drift
    assert factors.totp_step(seed, totp.at(T0 - timedelta(seconds=90)), T0, None) is None
    assert factors.totp_step(seed, "12345", T0, None) is None
    assert factors.totp_step(seed, "abcdef", T0, None) is None


def test_recovery_codes_are_random_and_compared_loosely() -> None:
    codes = factors.new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c) == 19 and c.count("-") == 3 for c in codes)
    c = codes[0]
    assert factors.recovery_digest(c) == factors.recovery_digest(c.upper().replace("-", " "))
    assert factors.recovery_digest(c) != factors.recovery_digest(codes[1])


def test_totp_uri_names_issuer_and_user() -> None:
    uri = factors.totp_uri(factors.new_totp_seed(), "alice", "Revflow")
    assert uri.startswith("otpauth://totp/Revflow:alice?") and "issuer=Revflow" in uri
