"""Every route in the OpenAPI document refuses a caller without credentials (401) and
one whose role is too weak (403); docs/security.md lists each route with its role."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from revflow.api.app import create_app
from revflow.db.models import AuditEntry
from revflow.security.identity import Role
from revflow.security.oidc.provider import OidcProvider
from revflow.security.oidc.settings import OidcSettings
from revflow.security.routes import route_roles
from tests.securitykit import make_key

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/callbacks/{source}"),  # Standard Webhooks signatures instead
    ("GET", "/api/alerts/ack"),  # a signed, expiring link in an alert message instead
    ("POST", "/api/alerts/ack/confirm"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/auth/oidc/login"),
    ("GET", "/api/auth/oidc/callback"),
}
SAMPLES = {
    "alert_id": "1",
    "plan_id": "1",
    "key": "so",
    "order_id": "801000000000001AAA",
    "connector": "erp",
}
DOC = Path(__file__).parents[2] / "docs" / "security.md"


def app(db):
    # OIDC configured so its routes are walked too (port 9: nothing listens, nothing is read)
    oidc = OidcSettings(
        issuer="http://127.0.0.1:9",
        client_id="revflow",
        client_secret=SecretStr("x"),
        redirect_base_url="https://revflow.test",
    )
    return create_app(db, webhooks={"erp": "http://127.0.0.1:9/hook"}, oidc=OidcProvider(oidc))


def operations(spec: dict) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLES.get(m.group(1), "x"), path)


async def call(api: httpx.AsyncClient, method: str, path: str, headers=None) -> httpx.Response:
    body: dict[str, object] | None = {} if method != "GET" else None
    return await api.request(method, concrete(path), json=body, headers=headers or {})


async def test_every_documented_route_needs_credentials_and_a_role(db) -> None:
    application = app(db)
    # the console's HTML pages are not in the document: tests/console checks them
    roles = {
        (r.method, r.path): r.role
        for r in route_roles(application)
        if not r.path.startswith("/console")
    }
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        spec = (await api.get("/openapi.json")).json()
        ops = operations(spec)
        assert len(ops) >= 20 and set(ops) == set(roles)  # the document has every route
        keys = {role: await make_key(db, role) for role in Role}
        checked_403 = 0
        for method, path in ops:
            if (method, path) in PUBLIC:
                assert roles[(method, path)] is None
                continue
            needed = roles[(method, path)]
            assert needed is not None, f"{method} {path} needs no role"
            assert (await call(api, method, path)).status_code == 401, (method, path)
            bad = {"Authorization": "Bearer rfk_000000000000_" + "A" * 43}
            assert (await call(api, method, path, bad)).status_code == 401, (method, path)
            weaker = [r for r in Role if not r.allows(needed)]
            if weaker:
                r = await call(api, method, path, keys[weaker[-1]].headers)
                assert r.status_code == 403, (method, path, r.text)
                assert needed in r.json()["detail"]
                checked_403 += 1
            r = await call(api, method, path, keys[needed].headers)
            assert r.status_code not in (401, 403), (method, path, r.text)
            responses = spec["paths"][path][method.lower()]["responses"]
            assert {"401", "403"} <= set(responses), (method, path)
    guarded = len(ops) - len(PUBLIC)
    assert checked_403 == guarded - 4  # all but /metrics, /api/auth/me and logouts (any role)
    async with db.read() as s:
        refused = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "access.refused"))
        ).all()
    assert len(refused) == 2 * guarded + checked_403  # every refusal is audited
    assert {a.detail["status"] for a in refused} == {401, 403}


def test_docs_list_every_route_with_its_role(db) -> None:
    table = re.findall(r"^\| `(\w+) ([^`]+)` \| (\w+) \|", DOC.read_text(), re.M)
    documented = {(m, p): role for m, p, role in table}
    actual = {(r.method, r.path): str(r.role or "none") for r in route_roles(app(db))}
    assert documented == actual


@pytest.mark.parametrize("header", ["Basic YWxpY2U6eA==", "Bearer ", "Bearer rfk_x", "rfk_x"])
async def test_other_credentials_are_401(db, header) -> None:
    transport = httpx.ASGITransport(app=app(db))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        r = await api.get("/api/fallout", headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["detail"]


async def test_credentials_cannot_be_checked_without_the_database_is_a_503() -> None:
    from revflow.db.database import Database

    gone = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")  # nothing listens
    try:
        transport = httpx.ASGITransport(app=create_app(gone))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            headers = {"Authorization": "Bearer rfk_000000000000_" + "A" * 43}
            r = await api.get("/api/fallout", headers=headers)
            anonymous = await api.get("/api/fallout")
    finally:
        await gone.dispose()
    assert r.status_code == 503 and "database is unavailable" in r.json()["detail"]
    assert anonymous.status_code == 503  # the refusal could not be audited
