"""Credentials for the generic REST connector: none, API key, bearer, basic, OAuth2.

``make_auth`` builds one from the action's ``auth`` settings (``type`` and its
options); ``revflow.connectors.rest`` adds its headers to every request and, after a
401, asks ``invalidate`` whether fresh credentials might help.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from revflow.connectors.oauth import OAuth2TokenProvider

__all__ = [
    "ApiKeyAuth",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "OAuth2ClientCredentials",
    "make_auth",
]


class Auth:
    """Adds credentials to a request; ``refresh`` after a 401 says whether to try again."""

    async def headers(self, client: httpx.AsyncClient, timeout_s: float) -> dict[str, str]:
        return {}

    def invalidate(self) -> bool:
        """Forget cached credentials; ``True`` when fresh ones might fix a 401."""
        return False


class NoAuth(Auth):
    pass


@dataclass
class ApiKeyAuth(Auth):
    key: str
    header: str = "X-API-Key"
    prefix: str = ""

    async def headers(self, client: httpx.AsyncClient, timeout_s: float) -> dict[str, str]:
        return {self.header: f"{self.prefix} {self.key}" if self.prefix else self.key}


@dataclass
class BearerAuth(Auth):
    token: str

    async def headers(self, client: httpx.AsyncClient, timeout_s: float) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class BasicAuth(Auth):
    username: str
    password: str

    async def headers(self, client: httpx.AsyncClient, timeout_s: float) -> dict[str, str]:
        pair = f"{self.username}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


class OAuth2ClientCredentials(Auth):
    """The client-credentials grant by ``revflow.connectors.oauth.OAuth2TokenProvider``, with the
    token cached until ``expiry_margin_s`` before it expires (``expires_in``; one hour
    when the server does not say).  Token requests go through the connector's client."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        audience: str | None = None,
        client_auth: str = "body",  # or "basic": client id and secret as HTTP Basic
        expiry_margin_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if client_auth not in ("body", "basic"):
            raise ValueError("oauth2 client_auth must be 'body' or 'basic'")
        if not (token_url and client_id and client_secret):
            raise ValueError("oauth2 auth needs token_url, client_id and client_secret")
        self.provider = OAuth2TokenProvider(
            token_url,
            client_id,
            client_secret,
            scope=scope,
            audience=audience,
            auth_method=client_auth,
            leeway_s=expiry_margin_s,
            clock=clock,
        )

    @property
    def fetches(self) -> int:
        return self.provider.fetches

    async def headers(self, client: httpx.AsyncClient, timeout_s: float) -> dict[str, str]:
        self.provider.bind_client(client)
        self.provider.timeout_s = timeout_s
        return {"Authorization": f"Bearer {await self.provider.get_token()}"}

    def invalidate(self) -> bool:
        self.provider.invalidate()
        return True


def make_auth(settings: Mapping[str, Any] | None) -> Auth:
    """An ``Auth`` from the ``auth`` settings mapping."""
    if not settings:
        return NoAuth()
    options = dict(settings)
    kind = str(options.pop("type", "none")).lower()
    factories: dict[str, Callable[..., Auth]] = {
        "none": NoAuth,
        "api_key": ApiKeyAuth,
        "basic": BasicAuth,
        "bearer": BearerAuth,
        "oauth2": OAuth2ClientCredentials,
        "client_credentials": OAuth2ClientCredentials,
    }
    if kind not in factories:
        raise ValueError(f"unknown auth type {kind!r} (one of: {', '.join(sorted(factories))})")
    try:
        return factories[kind](**options)
    except TypeError as exc:
        raise ValueError(f"auth {kind}: {exc}") from exc
