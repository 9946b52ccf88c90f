"""A rotated OAuth refresh token is stored encrypted and used after a restart.

The token endpoint is served on loopback and behaves as Intuit's does: each refresh
answers with a new refresh token, and a used one is refused with ``invalid_grant``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from revflow.config import ConfigError
from revflow.connectors.errors import FatalError
from revflow.connectors.oauth import OAuth2TokenProvider
from revflow.db import encrypted
from revflow.db.database import Database
from revflow.db.models import AuditEntry
from revflow.security.keyring import Keyring, generate_key
from revflow.vault import store
from revflow.vault.refresh_tokens import bind_refresh_tokens, secret_name


class TokenEndpoint:
    def __init__(self) -> None:
        self.valid = {"rt-configured"}
        self.seen: list[str] = []

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        used = str(form.get("refresh_token"))
        self.seen.append(used)
        if form.get("grant_type") != "refresh_token" or used not in self.valid:
            return web.json_response({"error": "invalid_grant"}, status=400)
        self.valid.discard(used)
        fresh = f"rt-{secrets.token_hex(8)}"
        self.valid.add(fresh)
        return web.json_response(
            {"access_token": secrets.token_hex(8), "expires_in": 3600, "refresh_token": fresh}
        )


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[TokenEndpoint, str]]:
    ep = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/oauth2/v1/tokens/bearer", ep.token)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield ep, str(server.make_url("/oauth2/v1/tokens/bearer"))
    await server.close()


class Connector:  # what bind looks at: a connector holding its token provider
    def __init__(self, provider: OAuth2TokenProvider) -> None:
        self.token_provider = provider


def provider(url: str, http: httpx.AsyncClient) -> OAuth2TokenProvider:
    return OAuth2TokenProvider(
        url, "cid", "csecret", grant_type="refresh_token", refresh_token="rt-configured",
        http_client=http,
    )  # fmt: skip


async def test_refresh_token_survives_a_restart(
    db: Database, endpoint: tuple[TokenEndpoint, str]
) -> None:
    ep, url = endpoint
    encrypted.configure(Keyring([generate_key()]))
    async with httpx.AsyncClient() as http:
        first = provider(url, http)
        assert await bind_refresh_tokens(db, {"qbo": Connector(first)}, keyring_configured=True)
        await first.get_token()
        rotated = first.refresh_token
        assert rotated != "rt-configured" and rotated in ep.valid

        # a restart: the configured token was used up; the stored one carries on
        again = provider(url, http)
        await bind_refresh_tokens(db, {"qbo": Connector(again)}, keyring_configured=True)
        await again.get_token()
        assert ep.seen == ["rt-configured", rotated]

        # without the store, the configured token is refused: what the store prevents
        unbound = provider(url, http)
        with pytest.raises(FatalError, match="invalid_grant"):
            await unbound.get_token()

    async with db.read() as s:
        assert await store.get(s, secret_name("qbo")) == again.refresh_token
        entries = (await s.scalars(select(AuditEntry))).all()
    assert [e.action for e in entries] == ["secret.refresh_token_rotated"] * 2
    assert all(rotated not in str(e.detail) for e in entries)


async def test_refresh_token_connector_needs_a_keyring(db: Database) -> None:
    async with httpx.AsyncClient() as http:
        conn = Connector(provider("http://127.0.0.1:9/token", http))
        with pytest.raises(ConfigError, match="'qbo' rotates its OAuth refresh token"):
            await bind_refresh_tokens(db, {"qbo": conn}, keyring_configured=False)
        # a client-credentials provider has nothing to keep
        cc = OAuth2TokenProvider("http://127.0.0.1:9/token", "c", "s", http_client=http)
        assert await bind_refresh_tokens(db, {"x": Connector(cc)}, keyring_configured=False) == []
