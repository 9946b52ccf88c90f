"""Local users: the stored row holds no secret in the clear; key rotation keeps the
TOTP seed readable; changes are audited and refused with clear errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select

from revflow.clock import frozen, utcnow
from revflow.db.models import AuditEntry, LocalUser, RecoveryCode
from revflow.orchestration.errors import BadRequest, Conflict, NotFound
from revflow.security import users
from revflow.security.identity import Identity, Role
from revflow.security.keyring import Keyring, generate_key, is_token
from revflow.security.login import check_login
from revflow.security.settings import SecuritySettings
from revflow.vault.rotation import ColumnKeys, columns, rotate_page

PASSWORD = "correct horse battery staple"


def seed_of(e: users.Enrolment) -> str:
    return parse_qs(urlparse(e.totp_uri).query)["secret"][0]


async def test_the_row_keeps_only_hashes_and_ciphertext(db) -> None:
    ring = Keyring([generate_key()])
    async with db.write() as s:
        e = await users.create_user(
            s, ring, username="alice", role=Role.ADMIN, password=PASSWORD, actor="root"
        )
    async with db.read() as s:
        row = (await s.scalars(select(LocalUser))).one()
        codes = (await s.scalars(select(RecoveryCode))).all()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert is_token(row.totp_seed_ciphertext) and seed_of(e) not in row.totp_seed_ciphertext
    assert ring.decrypt(row.totp_seed_ciphertext) == seed_of(e)
    assert len(codes) == 10
    stored = {c.code_hash for c in codes}
    assert not stored & set(e.recovery_codes)


async def test_key_rotation_rewraps_the_seed_and_login_still_works(db) -> None:
    old_key, new_key = generate_key(), generate_key()
    old = Keyring([old_key])
    async with db.write() as s:
        e = await users.create_user(
            s, old, username="alice", role=Role.OPERATOR, password=PASSWORD, actor="root"
        )
    new = Keyring([new_key, old_key])
    (col,) = [c for c in columns() if c.table.name == "local_users"]
    tally = ColumnKeys(col.name)
    async with db.write() as s:
        await rotate_page(s, new, col, None, 100, tally)
    assert tally.rotated == 1
    newest_only = Keyring([new_key])  # the old key is gone after the rotation
    with frozen():
        async with db.write() as s:
            who = await check_login(
                s,
                newest_only,
                SecuritySettings(),
                username="alice",
                password=PASSWORD,
                code=pyotp.TOTP(seed_of(e)).at(utcnow()),
            )
    assert isinstance(who, Identity) and who.subject == "user:alice"


async def test_user_changes_are_refused_clearly_and_audited(db) -> None:
    ring = Keyring([generate_key()])
    async with db.write() as s:
        await users.create_user(
            s, ring, username="bob", role=Role.VIEWER, password=PASSWORD, actor="root"
        )
    async with db.write() as s:
        with pytest.raises(Conflict, match="exists"):
            await users.create_user(
                s, ring, username="bob", role=Role.VIEWER, password=PASSWORD, actor="root"
            )
    for bad in ("", "Bob", "a b", "x" * 65, "user:\r"):
        with pytest.raises(BadRequest, match="username"):
            users.check_username(bad)
    async with db.write() as s:
        with pytest.raises(NotFound):
            await users.set_role(s, "carol", Role.ADMIN, actor="root")
        assert await users.set_role(s, "bob", Role.ADMIN, actor="root")
        assert not await users.set_role(s, "bob", Role.ADMIN, actor="root")
        e = await users.reset_second_factor(s, ring, "bob", actor="root")
        assert len(e.recovery_codes) == 10
    async with db.read() as s:
        actions = [(a.actor, a.action) for a in (await s.scalars(select(AuditEntry))).all()]
        codes = (await s.scalars(select(RecoveryCode))).all()
    assert actions == [("root", "user.create"), ("root", "user.role"), ("root", "user.reset_2fa")]
    assert len(codes) == 10  # the first set was replaced
