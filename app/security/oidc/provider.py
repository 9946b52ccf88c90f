"""The company's OpenID provider, as Revflow's client (authlib over httpx).

Discovery (``<issuer>/.well-known/openid-configuration``) and the key set are read
once and kept for ``metadata_ttl_s``; a token signed by a key id not in the set
makes Revflow read the keys again once (the provider rotated them).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client.errors import OAuthError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# authlib 1.x prefers the httpx2 package and warns (on every start) when it falls back
# to httpx, which Revflow uses everywhere; the fallback is supported until authlib 2
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", "The httpx module is deprecated", category=AuthlibDeprecationWarning
    )
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from revflow.security.oidc.errors import ProviderError
from revflow.security.oidc.settings import OidcSettings


class OidcProvider:
    def __init__(
        self, settings: OidcSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        # tests hand in a transport to see or change what crosses the wire
        self._transport = transport
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._read_at = 0.0

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.settings.timeout_s, transport=self._transport)

    def _oauth(self) -> AsyncOAuth2Client:
        s = self.settings
        return AsyncOAuth2Client(
            client_id=s.client_id,
            client_secret=s.secret(),
            scope=" ".join(s.scopes),
            redirect_uri=s.redirect_uri,
            code_challenge_method="S256",
            timeout=s.timeout_s,
            transport=self._transport,
        )

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderError(f"identity provider unreachable ({what}): {exc!r}") from None
        if response.status_code != 200:
            raise ProviderError(f"identity provider answered {response.status_code} ({what})")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(f"identity provider's {what} is not a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The discovery document; its issuer must be the configured one (Discovery 4.3)."""
        fresh = time.monotonic() - self._read_at < self.settings.metadata_ttl_s
        if self._metadata is not None and fresh:
            return self._metadata
        issuer = self.settings.issuer
        url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        data = await self._get_json(url, "discovery")
        if data.get("issuer") != issuer:
            raise ProviderError(
                f"discovery names issuer {data.get('issuer')!r}, not the configured {issuer!r}"
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise ProviderError(f"discovery document lacks {key}")
        self._metadata, self._keys, self._read_at = data, None, time.monotonic()
        return data

    async def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys (JWKS)."""
        metadata = await self.metadata()
        if self._keys is None or refresh:
            data = await self._get_json(metadata["jwks_uri"], "key set")
            try:
                self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise ProviderError(f"identity provider's key set is not valid: {exc}") from None
        return self._keys

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        """Where to send the browser: the code flow with PKCE (S256), state and nonce."""
        metadata = await self.metadata()
        async with self._oauth() as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
            )
        return str(url)

    async def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """The token response for ``code`` (client_secret_basic, with the PKCE verifier)."""
        metadata = await self.metadata()
        try:
            async with self._oauth() as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=code_verifier
                )
        except OAuthError as exc:
            raise ProviderError(f"token request refused: {exc.error}") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"identity provider unreachable (token): {exc!r}") from None
        except ValueError:
            raise ProviderError("identity provider's token answer is not JSON") from None
        if not isinstance(token.get("id_token"), str):
            raise ProviderError("token answer has no id_token (is openid among the scopes?)")
        return dict(token)

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """The userinfo claims, or nothing when the provider has no userinfo endpoint."""
        metadata = await self.metadata()
        url = metadata.get("userinfo_endpoint")
        if not isinstance(url, str):
            return {}
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise ProviderError(f"identity provider unreachable (userinfo): {exc!r}") from None
        if response.status_code != 200:
            raise ProviderError(f"identity provider answered {response.status_code} (userinfo)")
        try:
            data = response.json()
        except ValueError:
            raise ProviderError("userinfo is not JSON (signed userinfo is not supported)") from None
        return data if isinstance(data, dict) else {}

    async def logout_url(self) -> str | None:
        """RP-initiated logout at the provider, back to Revflow afterwards; None if unsupported."""
        try:
            metadata = await self.metadata()
        except ProviderError:
            return None
        end = metadata.get("end_session_endpoint")
        if not isinstance(end, str):
            return None
        params = {
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": self.settings.after_logout_url,
        }
        return str(httpx.URL(end).copy_merge_params(params))
