"""API keys: shown once, stored as a hash, expired and revoked, last use recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from revflow.clock import aware, frozen
from revflow.db.models import ApiKey, AuditEntry
from revflow.orchestration.errors import BadRequest, Conflict, NotFound
from revflow.security import keys
from revflow.security.identity import Role


async def test_a_key_is_stored_only_as_a_hash_and_authenticates(db) -> None:
    async with db.write() as s:
        new = await keys.create_key(s, name="ci", role=Role.OPERATOR, actor="root")
    secret_part = new.secret.rsplit("_", 1)[1]
    async with db.read() as s:
        row = (await s.scalars(select(ApiKey))).one()
        check = await keys.check_key(s, new.secret)
    assert secret_part not in (row.secret_hash, row.prefix, row.name)
    assert row.expires_at is None
    assert isinstance(check, keys.KeyCheck)
    assert check.identity.subject == f"key:{row.prefix}" and check.identity.role is Role.OPERATOR
    assert check.identity.method == "api_key" and check.touch  # never used yet


async def test_wrong_expired_and_revoked_keys_are_refused(db) -> None:
    with frozen() as t0:
        async with db.write() as s:
            new = await keys.create_key(
                s, name="ci", role=Role.VIEWER, actor="root", expires_in=timedelta(days=1)
            )
        prefix = new.row.prefix
        async with db.read() as s:
            other = "B" if new.secret.endswith("A") else "A"
            assert await keys.check_key(s, new.secret[:-1] + other) == "unknown"
            assert await keys.check_key(s, f"rfk_{prefix}_" + "x" * 43) == "unknown"
            assert await keys.check_key(s, "Bearer nonsense") == "malformed"
    with frozen(t0 + timedelta(days=1, seconds=1)):
        async with db.read() as s:
            assert await keys.check_key(s, new.secret) == "expired"
    async with db.write() as s:
        await keys.revoke_key(s, f"key:{prefix}", actor="root")
    async with db.read() as s:
        assert await keys.check_key(s, new.secret) == "revoked"
    async with db.write() as s:
        with pytest.raises(Conflict):
            await keys.revoke_key(s, prefix, actor="root")
        with pytest.raises(NotFound):
            await keys.revoke_key(s, "000000000000", actor="root")


async def test_creation_and_revocation_are_audited_without_the_secret(db) -> None:
    async with db.write() as s:
        new = await keys.create_key(s, name="ci", role=Role.ADMIN, actor="root")
        await keys.revoke_key(s, new.row.prefix, actor="bob")
    async with db.read() as s:
        rows = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(a.actor, a.action) for a in rows] == [("root", "key.create"), ("bob", "key.revoke")]
    assert all(new.secret.rsplit("_", 1)[1] not in str(a.detail) for a in rows)


@pytest.mark.parametrize(
    "text, expected",
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))],
)
def test_durations(text, expected) -> None:
    assert keys.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "5y", "-1d", "1.5d", "d"])
def test_bad_durations_and_roles_are_bad_requests(text) -> None:
    with pytest.raises(BadRequest, match="duration"):
        keys.parse_duration(text)
    with pytest.raises(BadRequest, match="not a role"):
        keys.parse_role("root")


async def test_last_used_is_recorded_through_the_api(db) -> None:
    from revflow.api.app import create_app
    from tests.securitykit import client

    with frozen() as t0:
        async with client(create_app(db), db, Role.VIEWER) as api:
            assert (await api.get("/api/fallout")).status_code == 200
        async with db.read() as s:
            row = (await s.scalars(select(ApiKey))).one()
    assert aware(row.last_used_at) == t0
