"""NetSuite tokens from settings: the M2M signed assertion and the refresh-token grant."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from revflow.connectors import CallContext, build_connector
from revflow.connectors.errors import FatalError
from revflow.connectors.netsuite_auth import assertion_signer

BASE = "https://1234567-sb1.suitetalk.api.netsuite.com"
TOKEN_URL = f"{BASE}/services/rest/auth/oauth2/v1/token"
RECORD = f"{BASE}/services/rest/record/v1/salesOrder/eid:SF-1"
PAYLOAD = {
    "external_id": "SF-1",
    "customer": "107",
    "lines": [{"sku": "99", "quantity": 1, "unit_price": "5"}],
}


def ctx(action: str = "sales_order.create") -> CallContext:
    return CallContext("plan-1:so", "corr-1", 1, action, 5.0)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def upsert_route() -> respx.Route:
    return respx.put(RECORD).mock(
        return_value=httpx.Response(
            204, headers={"location": f"{BASE}/services/rest/record/v1/salesOrder/4711"}
        )
    )


@respx.mock
async def test_m2m_flow_signs_an_assertion_and_uses_the_token(key: rsa.RSAPrivateKey) -> None:
    token = respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})
    )
    upsert = upsert_route()
    conn = build_connector(
        "ns",
        {
            "type": "netsuite",
            "account_id": "1234567_SB1",
            "client_id": "ns-client",
            "certificate_id": "cert-42",
            "private_key": pem(key),
        },
    )
    try:
        assert (await conn.call("sales_order.create", PAYLOAD, ctx())).external_id == "4711"
        await conn.call("sales_order.create", PAYLOAD, ctx())  # the token is cached
    finally:
        await conn.aclose()

    assert token.call_count == 1
    form = parse_qs(token.calls[0].request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    assert "client_secret" not in form and "authorization" not in token.calls[0].request.headers
    assertion = form["client_assertion"][0]
    header = jwt.get_unverified_header(assertion)
    assert (header["alg"], header["kid"], header["typ"]) == ("PS256", "cert-42", "JWT")
    claims = jwt.decode(assertion, key.public_key(), algorithms=["PS256"], audience=TOKEN_URL)
    assert claims["iss"] == "ns-client" and claims["scope"] == ["rest_webservices"]
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert upsert.calls[0].request.headers["authorization"] == "Bearer at-1"


@respx.mock
async def test_refresh_token_grant_and_a_refusal_is_fatal() -> None:
    token = respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(400, json={"error": "invalid_grant"})
    )
    conn = build_connector(
        "ns",
        {
            "type": "netsuite",
            "account_id": "1234567_SB1",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "rt-1",
        },
    )
    try:
        with pytest.raises(FatalError, match="invalid_grant"):
            await conn.call("sales_order.create", PAYLOAD, ctx())
        with pytest.raises(FatalError, match="no action 'invoice.create'"):
            await conn.call("invoice.create", PAYLOAD, ctx("invoice.create"))
    finally:
        await conn.aclose()
    form = parse_qs(token.calls[0].request.content.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["rt-1"]
    assert token.calls[0].request.headers["authorization"].startswith("Basic ")


def test_a_key_that_is_no_key_is_refused_at_build() -> None:
    with pytest.raises(ValueError, match="netsuite connector 'ns': private_key is not a usable"):
        build_connector(
            "ns",
            {
                "type": "netsuite",
                "account_id": "1",
                "client_id": "c",
                "certificate_id": "k",
                "private_key": "not a pem",
            },
        )


def test_each_assertion_is_fresh(key: rsa.RSAPrivateKey) -> None:
    sign = assertion_signer("c", "k", pem(key), TOKEN_URL, clock=lambda: 1_700_000_000)
    first, second = sign(), sign()
    assert first != second  # a new jti each time: NetSuite refuses a replayed assertion
