"""OAuth 2.0 server-to-server flows: JWT bearer and client credentials.

``TokenProvider.token()`` returns the cached token response and fetches a new one
when asked to ``refresh``.  Salesforce returns neither ``expires_in`` nor a refresh
token for these flows, so a token is kept until the org rejects it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from revflow.config import AuthFlow, SalesforceSettings
from revflow.salesforce.errors import AuthError


@dataclass(frozen=True)
class Token:
    access_token: str
    instance_url: str
    identity_url: str
    raw: dict[str, Any]

    @property
    def org_id(self) -> str:
        """The 00D... segment of the identity URL (Pub/Sub's ``tenantid``)."""
        parts = self.identity_url.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 else ""


class TokenProvider:
    def __init__(self, settings: SalesforceSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=settings.timeout_s)
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    def _token_url(self) -> str:
        # client credentials must use the My Domain URL; JWT may use login/test
        base = (
            self.settings.instance_url
            if self.settings.auth is AuthFlow.CLIENT_CREDENTIALS
            else (self.settings.login_url or self.settings.instance_url)
        )
        return base.rstrip("/") + "/services/oauth2/token"

    def _request_body(self) -> dict[str, str]:
        s = self.settings
        if s.auth is AuthFlow.JWT:
            claims = {
                "iss": s.client_id,
                "sub": s.username,
                "aud": s.login_url.rstrip("/"),
                "exp": int(time.time()) + 180,
            }
            assertion = jwt.encode(claims, s.key_pem(), algorithm="RS256")
            return {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            }
        return {
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
        }

    async def token(self, refresh: bool = False, stale: Token | None = None) -> Token:
        """The current token; with ``refresh`` a new one unless another task already did."""
        async with self._lock:
            if self._token is not None and not refresh:
                return self._token
            if refresh and stale is not None and self._token is not None and self._token != stale:
                return self._token  # someone refreshed while we waited
            self._token = await self._fetch()
            return self._token

    async def _fetch(self) -> Token:
        try:
            resp = await self._http.post(self._token_url(), data=self._request_body())
        except httpx.HTTPError as exc:
            raise AuthError(f"token endpoint {self._token_url()} unreachable: {exc}") from exc
        self.fetches += 1
        body = _json(resp)
        if resp.status_code != 200 or "access_token" not in body:
            desc = body.get("error_description") or body.get("error") or resp.text[:200]
            raise AuthError(f"Salesforce refused the {self.settings.auth.value} flow: {desc}")
        return Token(
            access_token=body["access_token"],
            instance_url=body.get("instance_url") or self.settings.instance_url,
            identity_url=body.get("id", ""),
            raw=body,
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
