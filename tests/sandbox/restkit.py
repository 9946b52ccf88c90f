"""The sandbox org's REST API on a loopback server, logged in: the ``env`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from revflow.sandbox.oauth import add_oauth_routes
from revflow.sandbox.org import ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.rest import add_rest_routes

V = "/services/data/v62.0"
APP = ConnectedApp(name="revflow", consumer_key="ck-revflow", consumer_secret="cs")


@dataclass
class Env:
    org: SandboxOrg
    client: httpx.AsyncClient
    account: str
    product: str

    @property
    def store(self) -> RecordStore:
        return RecordStore(self.org)

    async def login(self) -> None:
        response = await self.client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": APP.consumer_key,
                "client_secret": "cs",
            },
        )
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def order_body(self, **extra: Any) -> dict[str, Any]:
        return {"AccountId": self.account, "EffectiveDate": "2026-01-01", **extra}

    def events(self, channel: str = "/data/OrderChangeEvent") -> list[dict[str, Any]]:
        return [e.payload for e in self.org.events.all_events([channel])]


@pytest.fixture(name="env")
async def rest_env() -> AsyncIterator[Env]:
    org = SandboxOrg()
    org.add_app(APP)
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"})
    product = store.create("Product2", {"Name": "Widget", "ProductCode": "W-1"})
    app = web.Application()
    add_oauth_routes(app, org)
    add_rest_routes(app, org)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    org.instance_url = f"http://localhost:{server.port}"
    async with httpx.AsyncClient(base_url=org.instance_url) as client:
        environment = Env(org, client, account, product)
        await environment.login()
        yield environment
    await server.close()
