"""A 405 names every method the path has, also when two routes serve it."""

from __future__ import annotations

import httpx

from revflow.api.app import create_app
from revflow.security.identity import Role
from tests.securitykit import make_key


async def test_a_path_with_get_and_post_routes_allows_both(db) -> None:
    key = await make_key(db, Role.ADMIN)
    transport = httpx.ASGITransport(app=create_app(db))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        both = await api.options("/api/plans/1/comments", headers=key.headers)
        single = await api.delete("/api/plans/1", headers=key.headers)
        unknown = await api.get("/api/nowhere", headers=key.headers)
    assert both.status_code == 405 and both.headers["Allow"] == "GET, POST"
    assert both.json() == {"detail": "Method Not Allowed"}
    assert single.status_code == 405 and single.headers["Allow"] == "GET"
    assert unknown.status_code == 404 and "Allow" not in unknown.headers
