"""Bearer tokens for connectors: a provider protocol plus an OAuth 2.0 token client.

A connector asks ``await provider.get_token()`` before each request and calls
``provider.invalidate()`` when the target answers 401, so the next attempt fetches
a fresh token.  ``as_token_provider`` accepts a provider, a fixed string, or a
zero-argument callable (sync or async) returning a token, e.g. NetSuite's
JWT-assertion flow implemented elsewhere.

``OAuth2TokenProvider`` implements RFC 6749 grants against a token endpoint:

- ``client_credentials`` (Xero custom connections, SAP BTP/S/4HANA OAuth clients);
- ``refresh_token`` (QuickBooks Online); a rotated ``refresh_token`` in the answer
  replaces the old one and is passed to ``on_refresh_token`` so it can be stored.

Tokens are cached until ``expires_in`` minus ``leeway_s``; concurrent callers share
one refresh.  Token endpoint failures map onto ``connectors.errors``: an
``invalid_client`` / ``invalid_grant`` answer is ``FatalError`` (credentials need
fixing), 429/5xx/transport failures are retryable (asking for a token is safe).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import httpx

from connectors.errors import AmbiguousError, FatalError, RetryableError
from connectors.webhook import error_for_response, error_for_transport

__all__ = [
    "OAuth2TokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
    "as_token_provider",
]


@runtime_checkable
class TokenProvider(Protocol):
    async def get_token(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticTokenProvider:
    """A fixed token (tests, or a token managed outside Revflow)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_token(self) -> str:
        return self.token

    def invalidate(self) -> None:
        return None


class _CallableTokenProvider:
    def __init__(self, fn: Callable[[], str | Awaitable[str]]) -> None:
        self.fn = fn

    async def get_token(self) -> str:
        value = self.fn()
        if inspect.isawaitable(value):
            value = await value
        return str(value)

    def invalidate(self) -> None:
        return None


def as_token_provider(value: Any) -> TokenProvider:
    """Wrap a provider, a string token, or a callable returning a token."""
    if isinstance(value, TokenProvider):
        return value
    if isinstance(value, str):
        return StaticTokenProvider(value)
    if callable(value):
        return _CallableTokenProvider(value)
    raise TypeError(f"not a token provider: {type(value).__name__}")


class OAuth2TokenProvider:
    """Fetch and cache access tokens from an OAuth 2.0 token endpoint."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        grant_type: str = "client_credentials",
        scope: str | None = None,
        refresh_token: str | None = None,
        on_refresh_token: Callable[[str], Any] | None = None,
        auth_method: str = "basic",
        leeway_s: float = 60.0,
        timeout_s: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if grant_type not in ("client_credentials", "refresh_token"):
            raise ValueError(f"unsupported grant_type {grant_type!r}")
        if grant_type == "refresh_token" and not refresh_token:
            raise ValueError("grant_type 'refresh_token' needs a refresh_token")
        if auth_method not in ("basic", "body"):
            raise ValueError("auth_method must be 'basic' or 'body'")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.grant_type = grant_type
        self.scope = scope
        self.refresh_token = refresh_token
        self.on_refresh_token = on_refresh_token
        self.auth_method = auth_method
        self.leeway_s = leeway_s
        self.timeout_s = timeout_s
        self.clock = clock
        self._client = http_client
        self._owns_client = http_client is None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient()
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0

    async def get_token(self) -> str:
        if self._token is not None and self.clock() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is not None and self.clock() < self._expires_at:
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        form: dict[str, str] = {"grant_type": self.grant_type}
        if self.grant_type == "refresh_token" and self.refresh_token:
            form["refresh_token"] = self.refresh_token
        if self.scope:
            form["scope"] = self.scope
        auth: httpx.BasicAuth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if self.auth_method == "basic":
            auth = httpx.BasicAuth(self.client_id, self.client_secret)
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret
        try:
            response = await self.client.post(
                self.token_url,
                data=form,
                auth=auth,
                headers={"accept": "application/json"},
                timeout=self.timeout_s,
            )
        except httpx.TransportError as exc:
            err = error_for_transport(exc)
            if isinstance(err, AmbiguousError):  # a token request is safe to repeat
                raise RetryableError(f"token request: {err.message}") from exc
            raise err from exc
        self.fetches += 1
        if response.status_code in (400, 401):
            try:
                body = response.json()
            except ValueError:
                body = {}
            code = body.get("error", "") if isinstance(body, dict) else ""
            desc = body.get("error_description", "") if isinstance(body, dict) else ""
            raise FatalError(
                f"token request rejected: {code or response.status_code} {desc}".strip(),
                status_code=response.status_code,
                details={"json": body} if body else {"body": response.text[:2000]},
            )
        error = error_for_response(response)
        if error is not None:
            raise error
        try:
            data = response.json()
            token = str(data["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RetryableError("token endpoint answered without an access_token") from exc
        expires_in = float(data.get("expires_in") or 3600)
        self._token = token
        self._expires_at = self.clock() + max(0.0, expires_in - self.leeway_s)
        new_refresh = data.get("refresh_token")
        if new_refresh and new_refresh != self.refresh_token and self.grant_type == "refresh_token":
            self.refresh_token = str(new_refresh)
            if self.on_refresh_token is not None:
                result = self.on_refresh_token(self.refresh_token)
                if inspect.isawaitable(result):
                    await result
        return token
