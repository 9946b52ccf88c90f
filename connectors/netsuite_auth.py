"""NetSuite's OAuth 2.0 tokens from settings: machine-to-machine or refresh token.

- Client credentials (machine to machine): each token request carries a JWT signed
  with the private key of the certificate mapped to the integration: header ``kid`` =
  the certificate id, ``alg`` PS256 (or PS384/PS512/ES256/ES384/ES512); claims ``iss`` =
  client id, ``scope`` (``rest_webservices``), ``aud`` = the token endpoint, ``iat``,
  ``exp`` (at most an hour later), sent as ``client_assertion`` with
  ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``.
- Authorization code grant: ``refresh_token`` with ``client_id`` and ``client_secret``
  (HTTP Basic), the refresh token kept when NetSuite rotates it.

The token endpoint is ``https://<account>.suitetalk.api.netsuite.com/services/rest/
auth/oauth2/v1/token``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from revflow.connectors.oauth import OAuth2TokenProvider

__all__ = ["assertion_signer", "token_provider", "token_url"]

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
ASSERTION_LIFETIME_S = 300  # NetSuite accepts up to an hour


def token_url(base_url: str) -> str:
    return base_url.rstrip("/") + TOKEN_PATH


def assertion_signer(
    client_id: str,
    certificate_id: str,
    private_key_pem: str,
    audience: str,
    *,
    scope: str = "rest_webservices",
    algorithm: str = "PS256",
    clock: Callable[[], float] = time.time,
) -> Callable[[], str]:
    """A function that signs a fresh client assertion for each token request."""
    try:
        key = jwt.get_algorithm_by_name(algorithm).prepare_key(private_key_pem)
    except (ValueError, TypeError, NotImplementedError, jwt.PyJWTError) as exc:
        raise ValueError(f"private_key is not a usable {algorithm} key: {exc}") from None
    if not hasattr(key, "sign"):  # a public key or certificate was given
        raise ValueError(f"private_key is not a usable {algorithm} key: not a private key")

    def sign() -> str:
        now = int(clock())
        claims = {
            "iss": client_id,
            "scope": [s.strip() for s in scope.split(",") if s.strip()],
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": certificate_id})

    return sign


def token_provider(base_url: str, options: dict[str, Any]) -> OAuth2TokenProvider | None:
    """An OAuth provider from (and popping) the token options, or None when none are set."""
    keys = ("client_id", "client_secret", "refresh_token", "certificate_id", "private_key")
    given: Mapping[str, Any] = {k: options.pop(k, None) for k in keys}
    url = options.pop("token_url", None) or token_url(base_url)
    scope = options.pop("scope", None) or "rest_webservices"
    algorithm = options.pop("algorithm", None) or "PS256"
    on_refresh = options.pop("on_refresh_token", None)
    client_id = given["client_id"]
    if client_id and given["certificate_id"] and given["private_key"]:
        sign = assertion_signer(
            client_id,
            given["certificate_id"],
            given["private_key"],
            url,
            scope=scope,
            algorithm=algorithm,
        )
        return OAuth2TokenProvider(
            url, client_id, "", auth_method="assertion", client_assertion=sign
        )
    if client_id and given["client_secret"] and given["refresh_token"]:
        return OAuth2TokenProvider(
            url,
            client_id,
            given["client_secret"],
            grant_type="refresh_token",
            refresh_token=given["refresh_token"],
            on_refresh_token=on_refresh,
        )
    return None
