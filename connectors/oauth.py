"""Bearer tokens for connectors: a provider protocol plus an OAuth 2.0 token client.

A connector asks ``await provider.get_token()`` before each request and calls
``provider.invalidate()`` when the target answers 401, so the next attempt fetches
a fresh token.  ``as_token_provider`` accepts a provider, a fixed string, or a
zero-argument callable (sync or async) returning a token, e.g. NetSuite's
JWT-assertion flow implemented elsewhere.

``OAuth2TokenProvider`` implements RFC 6749 grants against a token endpoint:

- ``client_credentials`` (Xero custom connections, SAP BTP/S/4HANA OAuth clients);
- ``client_credentials`` with a signed JWT as client authentication (RFC 7523,
  ``auth_method="assertion"``: NetSuite's machine-to-machine flow);
- ``refresh_token`` (QuickBooks Online, NetSuite); a rotated ``refresh_token`` in the answer
  replaces the old one and is passed to ``on_refresh_token`` so it can be stored.

Tokens are cached until ``expires_in`` minus ``leeway_s``; concurrent callers share
one refresh.  Token endpoint failures map onto ``revflow.connectors.errors`` by
``revflow.connectors.http_errors``, with two token rules: 400/401/403 (``invalid_client``,
``invalid_grant``, ...) and an answer without an ``access_token`` are ``FatalError``
(credentials or settings need fixing); a transport failure is never ambiguous (asking
for a token changes nothing), so 429/5xx/timeouts are retryable.  Every message
starts with ``OAuth token request``.

The generic REST connector's ``oauth2`` auth is this provider too
(``revflow.connectors.rest_auth``); it shares the connector's HTTP client through
``bind_client``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import httpx

from revflow.connectors.errors import FatalError
from revflow.connectors.http_errors import MAX_BODY_CHARS, classify_response, classify_transport

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "OAuth2TokenProvider",
    "StaticTokenProvider",
    "TokenProvider",
    "as_token_provider",
]


CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


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
        audience: str | None = None,
        refresh_token: str | None = None,
        on_refresh_token: Callable[[str], Any] | None = None,
        auth_method: str = "basic",
        client_assertion: Callable[[], str] | None = None,
        leeway_s: float = 60.0,
        timeout_s: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if grant_type not in ("client_credentials", "refresh_token"):
            raise ValueError(f"unsupported grant_type {grant_type!r}")
        if grant_type == "refresh_token" and not refresh_token:
            raise ValueError("grant_type 'refresh_token' needs a refresh_token")
        if auth_method not in ("basic", "body", "assertion"):
            raise ValueError("auth_method must be 'basic', 'body' or 'assertion'")
        if (auth_method == "assertion") != (client_assertion is not None):
            raise ValueError("auth_method 'assertion' goes with a client_assertion")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.grant_type = grant_type
        self.scope = scope
        self.audience = audience
        self.refresh_token = refresh_token
        self.on_refresh_token = on_refresh_token
        self.auth_method = auth_method
        self.client_assertion = client_assertion
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

    def bind_client(self, client: httpx.AsyncClient) -> None:
        """Use ``client`` (not owned, not closed here) unless one was given already."""
        if self._client is None:
            self._client = client
            self._owns_client = False

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
        if self.audience:
            form["audience"] = self.audience
        auth: httpx.BasicAuth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if self.client_assertion is not None:  # RFC 7523: a signed JWT instead of a secret
            form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            form["client_assertion"] = self.client_assertion()
        elif self.auth_method == "basic":
            auth = httpx.BasicAuth(self.client_id, self.client_secret)
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret
        self.fetches += 1
        try:
            response = await self.client.post(
                self.token_url,
                data=form,
                auth=auth,
                headers={"accept": "application/json"},
                timeout=self.timeout_s,
            )
        except httpx.TransportError as exc:
            # a token request changes nothing, so even a dropped one is safe to repeat
            raise classify_transport(exc, safe=True, prefix="OAuth token request failed: ") from exc
        if response.status_code in (400, 401, 403):
            raise _refused(response)
        error = classify_response(response, prefix="OAuth token request failed: ")
        if error is not None:
            raise error
        try:
            data = response.json()
            token = data["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise FatalError(
                f"OAuth token answer has no access_token: {response.text[:200]}",
                status_code=response.status_code,
            ) from exc
        if not isinstance(token, str) or not token:
            raise FatalError("OAuth token answer has an empty access_token")
        try:
            expires_in = float(data.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600.0
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


def _refused(response: httpx.Response) -> FatalError:
    """A token endpoint's refusal (bad client or grant): the credentials need fixing."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code = desc = ""
    if isinstance(body, dict):
        code, desc = str(body.get("error") or ""), str(body.get("error_description") or "")
    said = f"{code} {desc}".strip() or response.text[:200] or response.reason_phrase
    return FatalError(
        f"OAuth token request refused: HTTP {response.status_code}: {said}",
        status_code=response.status_code,
        details={"json": body} if body is not None else {"body": response.text[:MAX_BODY_CHARS]},
    )
