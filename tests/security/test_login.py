"""Local login over a real socket: password and TOTP, session cookies, CSRF, timeouts,
logout, recovery codes, lockout and the login rate limit; each audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
from sqlalchemy import select

from revflow.api.app import create_app
from revflow.clock import advance, frozen, utcnow
from revflow.db.models import AuditEntry, AuthSession
from revflow.security import users
from revflow.security.identity import Role
from revflow.security.keyring import Keyring, generate_key
from revflow.security.settings import SecuritySettings
from tests.plankit import insert_plan, make_worker
from tests.securitykit import serve

PASSWORD = "correct horse battery staple"
# over plain-HTTP loopback the test client would not send Secure cookies back
SETTINGS = SecuritySettings(
    cookie_secure=False, session_idle_s=600, session_absolute_s=3600, login_max_failures=3
)


class Alice:
    def __init__(self, enrolment: users.Enrolment, recovery: list[str]) -> None:
        seed = parse_qs(urlparse(enrolment.totp_uri).query)["secret"][0]
        self.totp = pyotp.TOTP(seed)
        self.recovery = recovery

    def code(self) -> str:
        return self.totp.at(utcnow())


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([generate_key()])


@pytest.fixture
async def alice(db, keyring) -> Alice:
    async with db.write() as s:
        e = await users.create_user(
            s, keyring, username="alice", role=Role.OPERATOR, password=PASSWORD, actor="root"
        )
    return Alice(e, e.recovery_codes)


@pytest.fixture
async def base_url(db, keyring) -> AsyncIterator[str]:
    async with serve(create_app(db, security=SETTINGS, keyring=keyring)) as url:
        yield url


async def login(api: httpx.AsyncClient, code: str, password: str = PASSWORD) -> httpx.Response:
    body = {"username": "alice", "password": password, "code": code}
    return await api.post("/api/auth/login", json=body)


async def audit(db) -> list[tuple[str, str, dict]]:
    async with db.read() as s:
        rows = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(a.actor, a.action, a.detail) for a in rows]


async def test_login_session_csrf_and_logout(db, alice, base_url) -> None:
    pid = await insert_plan(db, [{"key": "check", "kind": "manual"}])
    await make_worker(db).run_until_idle()
    with frozen():
        async with httpx.AsyncClient(base_url=base_url) as api:
            assert (await api.get("/api/auth/me")).status_code == 401
            r = await login(api, alice.code())
            assert r.status_code == 200, r.text
            assert r.json()["subject"] == "user:alice" and r.json()["role"] == "operator"
            me = (await api.get("/api/auth/me")).json()
            assert me == {
                "subject": "user:alice",
                "name": "alice",
                "role": "operator",
                "method": "session",
            }
            csrf, token = api.cookies["revflow_csrf"], api.cookies["revflow_session"]
            url = f"/api/plans/{pid}/steps/check/complete"
            r = await api.post(url, json={})
            assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
            r = await api.post(url, json={}, headers={"X-CSRF-Token": "forged"})
            assert r.status_code == 403
            r = await api.post(url, json={}, headers={"X-CSRF-Token": csrf})
            assert r.status_code == 200, r.text
            trail = (await api.get(f"/api/plans/{pid}/audit")).json()
            assert any(e["actor"] == "user:alice" for e in trail if e["action"].startswith("op"))
            r = await api.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
            assert r.status_code == 204
            assert "revflow_session" not in api.cookies
    async with httpx.AsyncClient(base_url=base_url, cookies={"revflow_session": token}) as api:
        assert (await api.get("/api/auth/me")).status_code == 401  # the old cookie is dead
    actions = [(actor, action) for actor, action, _ in await audit(db)]
    assert ("user:alice", "login") in actions and ("user:alice", "logout") in actions
    refused = [d for _, action, d in await audit(db) if action == "access.refused"]
    assert [d["reason"] for d in refused] == ["no credentials", "csrf", "csrf", "session ended"]


async def test_cookies_are_secure_httponly_samesite_by_default(db, alice, keyring) -> None:
    app = create_app(db, keyring=keyring)  # default settings: Secure cookies
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as api:
        r = await login(api, alice.code())
    cookies = {c.split("=")[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    session, csrf = cookies["revflow_session"], cookies["revflow_csrf"]
    assert "httponly" in session and "secure" in session and "samesite=lax" in session
    assert "httponly" not in csrf and "secure" in csrf and "samesite=strict" in csrf
    async with db.read() as s:
        row = (await s.scalars(select(AuthSession))).one()
    token = r.cookies["revflow_session"]
    assert token not in (row.token_hash, row.csrf_hash)  # only hashes are kept


async def test_idle_and_absolute_timeouts_end_the_session(db, alice, base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as api:
        with frozen():
            assert (await login(api, alice.code())).status_code == 200
            advance(590)
            assert (await api.get("/api/auth/me")).status_code == 200  # resets idle
            advance(590)
            assert (await api.get("/api/auth/me")).status_code == 200
            advance(601)
            assert (await api.get("/api/auth/me")).status_code == 401  # idle
            advance(30)
            assert (await login(api, alice.code())).status_code == 200
            for _ in range(6):
                advance(590)
                assert (await api.get("/api/auth/me")).status_code == 200
            advance(100)  # 3640 s after login, never idle
            r = await api.get("/api/auth/me")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    async with db.read() as s:
        ended = (await s.scalars(select(AuthSession).order_by(AuthSession.id))).all()
    assert [e.ended_reason for e in ended] == ["idle", "expired"]


async def test_wrong_answers_fail_alike_and_lock_the_user(db, alice, base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as api:
        with frozen():
            wrong_code = await login(api, "000000" if alice.code() != "000000" else "111111")
            wrong_password = await login(api, alice.code(), password="nope" * 4)
            assert wrong_code.status_code == wrong_password.status_code == 401
            assert wrong_code.json() == wrong_password.json()
            unknown = await api.post(
                "/api/auth/login", json={"username": "mallory", "password": "x", "code": "1"}
            )
            assert unknown.status_code == 401 and unknown.json() == wrong_code.json()
            assert (await login(api, "123456")).status_code == 401  # third failure: locked
            advance(31)
            r = await login(api, alice.code())  # right answers, but locked
            assert r.status_code == 401
            advance(SETTINGS.lockout_s)
            assert (await login(api, alice.code())).status_code == 200
    reasons = [(d["reason"], a) for a, action, d in await audit(db) if action == "login.failed"]
    assert reasons == [
        ("code", "user:alice"),
        ("password", "user:alice"),
        ("unknown user", "anonymous"),
        ("code", "user:alice"),
        ("locked", "user:alice"),
    ]
    assert any(action == "user.locked" for _, action, _ in await audit(db))


async def test_a_totp_code_and_a_recovery_code_work_once(db, alice, base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as api:
        with frozen():
            code = alice.code()
            assert (await login(api, code)).status_code == 200
            assert (await login(api, code)).status_code == 401  # replayed in the same step
            rc = alice.recovery[0]
            assert (await login(api, rc.upper())).status_code == 200
            assert (await login(api, rc)).status_code == 401
    used = [d for a, action, d in await audit(db) if action == "login.recovery_code"]
    assert used == [{"codes_left": 9}]


async def test_disabled_users_cannot_log_in_and_lose_their_sessions(db, alice, base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as api:
        with frozen():
            assert (await login(api, alice.code())).status_code == 200
            async with db.write() as s:
                await users.set_role(s, "alice", Role.VIEWER, actor="root")
            assert (await api.get("/api/auth/me")).status_code == 401  # role change: log in again
            advance(30)
            r = await login(api, alice.code())
            assert r.json()["role"] == "viewer"
            async with db.write() as s:
                await users.set_disabled(s, "alice", True, actor="root")
            advance(30)
            assert (await login(api, alice.code())).status_code == 401
    changes = [(a, action, d) for a, action, d in await audit(db) if action.startswith("user.")]
    assert (
        "root",
        "user.role",
        {"user": "user:alice", "before": "operator", "after": "viewer"},
    ) in changes


async def test_login_is_rate_limited_per_client(db, keyring) -> None:
    app = create_app(db, security=SecuritySettings(login_rate_per_minute=3), keyring=keyring)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as api:
        body = {"username": "nobody", "password": "x", "code": "1"}
        statuses = [(await api.post("/api/auth/login", json=body)).status_code for _ in range(4)]
        r = await api.post("/api/auth/login", json=body)
    assert statuses == [401, 401, 401, 429]
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


async def test_login_without_a_keyring_is_a_503(db) -> None:
    async with serve(create_app(db)) as url, httpx.AsyncClient(base_url=url) as api:
        r = await api.post("/api/auth/login", json={"username": "a", "password": "b", "code": "1"})
    assert r.status_code == 503 and "REVFLOW_KEYRING__KEYS" in r.json()["detail"]
