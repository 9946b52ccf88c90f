"""Security headers on every answer: routes, refusals and middleware answers alike."""

from __future__ import annotations

import httpx
import pytest

from revflow.api.app import create_app
from revflow.api.headers import CSP
from revflow.api.http_settings import HttpSettings
from revflow.security.identity import Role
from tests.securitykit import make_key

ALWAYS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _client(app, base_url: str = "http://t", client=("127.0.0.1", 5000)) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=client), base_url=base_url
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/api/plans/1", 401),  # refused: no credentials
        ("GET", "/api/plans/abc", 401),
        ("POST", "/api/auth/login", 422),
    ],
)
async def test_every_answer_has_the_headers_and_no_hsts_over_http(db, method, path, status):
    async with _client(create_app(db)) as api:
        r = await api.request(method, path, json={} if method == "POST" else None)
    assert r.status_code == status
    assert {k: r.headers.get(k) for k in ALWAYS} == ALWAYS
    assert "strict-transport-security" not in r.headers


async def test_a_413_from_the_body_limit_has_them_too(db):
    async with _client(create_app(db, max_body_bytes=10)) as api:
        r = await api.post("/api/auth/login", content=b"x" * 100)
    assert r.status_code == 413 and r.headers["content-security-policy"] == CSP


async def test_csp_allows_only_this_origin_and_no_inline_script():
    directives = dict(d.split(" ", 1) for d in CSP.split("; "))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


async def test_hsts_over_https_only_and_switchable(db):
    key = await make_key(db, Role.VIEWER)
    async with _client(create_app(db), base_url="https://t") as api:
        r = await api.get("/api/fallout", headers=key.headers)
    assert r.status_code == 200
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    app = create_app(db, http=HttpSettings(hsts_max_age_s=0))
    async with _client(app, base_url="https://t") as api:
        assert "strict-transport-security" not in (await api.get("/healthz")).headers


async def test_swagger_ui_is_off_and_the_document_is_served(db):
    key = await make_key(db, Role.VIEWER)
    async with _client(create_app(db)) as api:
        assert (await api.get("/docs")).status_code == 404
        assert (await api.get("/redoc")).status_code == 404
        r = await api.get("/openapi.json", headers=key.headers)
    assert r.status_code == 200 and r.json()["info"]["title"] == "Revflow"
