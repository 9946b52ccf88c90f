"""Checking an ID token from the code flow (OpenID Connect Core 3.1.3.7).

The signature is checked against the provider's published keys (joserfc, which
authlib uses), then the claims by authlib's ``CodeIDToken``: ``iss`` is the
configured issuer, ``aud`` holds our client id (``azp`` too when there are more
audiences), ``exp``/``iat`` are current within the leeway, ``nonce`` is the one
this login sent, and ``at_hash``, when present, matches the access token.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from revflow.security.oidc.errors import TokenRejected

# symmetric algorithms would verify with the client secret; Revflow trusts the
# provider's published keys only
ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
ASYMMETRIC |= {"EdDSA", "Ed25519"}


class UnknownKey(Exception):
    """The token names a key id the key set lacks (the provider may have rotated)."""


def allowed_algorithms(metadata: dict[str, Any]) -> list[str]:
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    return [alg for alg in offered if alg in ASYMMETRIC]


def verify_id_token(
    id_token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None,
    algorithms: Collection[str],
    now: datetime,
    leeway_s: float,
) -> dict[str, Any]:
    """The ID token's claims once every check passed; else ``TokenRejected`` saying which."""
    registry = JWSRegistry(algorithms=list(algorithms), strict_check_header=False)
    try:
        token = jwt.decode(id_token, keys, registry=registry)
    except InvalidKeyIdError as exc:
        raise UnknownKey(str(exc)) from None
    except JoseError as exc:
        raise TokenRejected(f"ID token refused: {exc.error or type(exc).__name__}") from None
    except ValueError:
        raise TokenRejected("ID token refused: not a signed JWT") from None
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
    }
    params = {"nonce": nonce, "client_id": client_id, "access_token": access_token}
    claims = CodeIDToken(token.claims, token.header, options, params)
    try:
        claims.validate(now=int(now.timestamp()), leeway=int(leeway_s))
    except JoseError as exc:
        raise TokenRejected(f"ID token refused: {exc.description or exc.error}") from None
    return dict(claims)
