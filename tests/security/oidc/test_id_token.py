"""ID token checks, on tokens signed here with a key of the test's own.

The login tests run the same checks against a real provider's tokens; these cover
the claims a well-behaved provider never gets wrong.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from revflow.security.oidc.errors import TokenRejected
from revflow.security.oidc.id_token import UnknownKey, allowed_algorithms, verify_id_token

ISSUER = "https://login.example.com"
CLIENT = "revflow"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
PUBLISHED = KeySet.import_key_set({"keys": [KEY.as_dict(private=False)]})


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "u-42",
        "aud": CLIENT,
        "iat": int(NOW.timestamp()) - 10,
        "exp": int(NOW.timestamp()) + 300,
        "nonce": "n-1",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def sign(body: dict[str, Any], key: Any = KEY, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, body, key, algorithms=[alg])


def verify(token: str, *, access_token: str | None = None, leeway_s: float = 60) -> dict[str, Any]:
    return verify_id_token(
        token,
        PUBLISHED,
        issuer=ISSUER,
        client_id=CLIENT,
        nonce="n-1",
        access_token=access_token,
        algorithms=["RS256"],
        now=NOW,
        leeway_s=leeway_s,
    )


def test_a_good_token_gives_its_claims() -> None:
    assert verify(sign(claims()))["sub"] == "u-42"
    assert verify(sign(claims(aud=[CLIENT, "other"], azp=CLIENT)))["sub"] == "u-42"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://evil.example.com"}, "'iss'"),
        ({"aud": "another-client"}, "'aud'"),
        ({"aud": [CLIENT, "other"]}, "azp"),  # several audiences: azp must name us
        ({"aud": [CLIENT, "other"], "azp": "other"}, "'azp'"),
        ({"nonce": "n-2"}, "'nonce'"),
        ({"nonce": None}, "nonce"),
        ({"sub": None}, "sub"),
        ({"exp": int(NOW.timestamp()) - 61}, "expired"),
        ({"iat": "yesterday"}, "'iat'"),
    ],
)
def test_a_claim_that_fails_is_named(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenRejected) as refused:
        verify(sign(claims(**changes)))
    assert refused.value.detail.startswith("ID token refused")
    assert reason in refused.value.detail


def test_expiry_allows_the_leeway() -> None:
    token = sign(claims(exp=int(NOW.timestamp()) - 30))
    assert verify(token, leeway_s=60)["sub"] == "u-42"
    with pytest.raises(TokenRejected, match="expired"):
        verify(token, leeway_s=10)


def test_at_hash_must_match_the_access_token() -> None:
    digest = hashlib.sha256(b"the-access-token").digest()[:16]
    at_hash = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    token = sign(claims(at_hash=at_hash))
    assert verify(token, access_token="the-access-token")["sub"] == "u-42"
    with pytest.raises(TokenRejected, match="at_hash"):
        verify(token, access_token="another-access-token")


def test_a_signature_by_another_key_with_the_same_kid_is_refused() -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(TokenRejected, match="bad_signature"):
        verify(sign(claims(), key=impostor))


def test_an_unknown_key_id_asks_for_the_keys_again() -> None:
    rotated = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    with pytest.raises(UnknownKey):
        verify(sign(claims(), key=rotated, kid="k2"))


def test_symmetric_and_unlisted_algorithms_are_refused() -> None:
    # HS256 verifies with a shared secret (the client secret): never accepted
    oct_key = OctKey.import_key(b"the-client-secret-of-32-bytes-or-more", {"kid": "k1"})
    with pytest.raises(TokenRejected):
        verify(sign(claims(), key=oct_key, alg="HS256"))
    ec_key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    with pytest.raises(TokenRejected):
        verify(sign(claims(), key=ec_key, alg="ES256"))  # the provider publishes RS256 only


def test_garbage_is_refused() -> None:
    for token in ("", "a.b", "a.b.c", "not a token at all"):
        with pytest.raises(TokenRejected):
            verify(token)


def test_only_asymmetric_algorithms_the_provider_offers_are_allowed() -> None:
    offered = {"id_token_signing_alg_values_supported": ["HS256", "RS256", "none", "ES256"]}
    assert allowed_algorithms(offered) == ["RS256", "ES256"]
    assert allowed_algorithms({}) == ["RS256"]
