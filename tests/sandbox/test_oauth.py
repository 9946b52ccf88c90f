"""The token endpoint: JWT bearer (signature, aud, exp, sub) and client credentials."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from revflow.sandbox.oauth import JWT_GRANT, add_oauth_routes
from revflow.sandbox.org import INTEGRATION_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.rest import add_rest_routes


def make_key_and_cert() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "revflow-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


KEY_PEM, CERT_PEM = make_key_and_cert()
OTHER_KEY_PEM, _ = make_key_and_cert()
APP = ConnectedApp(
    name="revflow",
    consumer_key="3MVG9-revflow",
    consumer_secret="s3cret",
    certificate_pem=CERT_PEM,
    username="integration@revflow.sandbox",
)


@pytest.fixture
async def server() -> AsyncIterator[tuple[SandboxOrg, httpx.AsyncClient]]:
    org = SandboxOrg()
    org.add_app(APP)
    app = web.Application()
    add_oauth_routes(app, org)
    add_rest_routes(app, org)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    org.instance_url = f"http://localhost:{test_server.port}"
    async with httpx.AsyncClient(base_url=org.instance_url) as client:
        yield org, client
    await test_server.close()


def assertion(key: str = KEY_PEM, **overrides: Any) -> str:
    claims = {
        "iss": APP.consumer_key,
        "sub": APP.username,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256")


async def jwt_token(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/services/oauth2/token", data={"grant_type": JWT_GRANT, "assertion": token}
    )


async def test_jwt_bearer_success(server: tuple[SandboxOrg, httpx.AsyncClient]) -> None:
    org, client = server
    response = await jwt_token(client, assertion())
    assert response.status_code == 200
    body = response.json()
    assert body["instance_url"] == org.instance_url and body["token_type"] == "Bearer"
    assert body["id"] == f"https://login.salesforce.com/id/{org.org_id}/{INTEGRATION_USER_ID}"
    assert {"access_token", "scope", "issued_at", "signature"} <= body.keys()
    assert "refresh_token" not in body
    me = await client.get(
        "/services/data/v62.0/limits", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200


@pytest.mark.parametrize("aud", ["https://test.salesforce.com", "INSTANCE", ["x", "INSTANCE"]])
async def test_jwt_accepted_audiences(
    server: tuple[SandboxOrg, httpx.AsyncClient], aud: Any
) -> None:
    org, client = server

    def fix(a: str) -> str:
        return org.instance_url if a == "INSTANCE" else a

    aud = [fix(a) for a in aud] if isinstance(aud, list) else fix(aud)
    assert (await jwt_token(client, assertion(aud=aud))).status_code == 200


@pytest.mark.parametrize(
    ("token_kwargs", "error", "description"),
    [
        ({"key": OTHER_KEY_PEM}, "invalid_grant", "invalid assertion"),
        ({"aud": "https://evil.example.com"}, "invalid_grant", "audience is invalid"),
        ({"exp": 1_000_000}, "invalid_grant", "expired authorization code"),
        ({"sub": "someone@else.example"}, "invalid_grant", "user hasn't approved this consumer"),
        ({"iss": "unknown-key"}, "invalid_client_id", "client identifier invalid"),
    ],
)
async def test_jwt_errors(
    server: tuple[SandboxOrg, httpx.AsyncClient],
    token_kwargs: dict[str, Any],
    error: str,
    description: str,
) -> None:
    _, client = server
    response = await jwt_token(client, assertion(**token_kwargs))
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


async def test_jwt_garbage_assertion(server: tuple[SandboxOrg, httpx.AsyncClient]) -> None:
    _, client = server
    response = await jwt_token(client, "not.a.jwt")
    assert response.status_code == 400
    assert response.json()["error_description"] == "invalid assertion"
    hs = jwt.encode(
        {"iss": APP.consumer_key}, "secret-secret-secret-secret-32by", algorithm="HS256"
    )
    assert (await jwt_token(client, hs)).json()["error_description"] == "invalid assertion"


async def test_client_credentials_in_body_and_basic(
    server: tuple[SandboxOrg, httpx.AsyncClient],
) -> None:
    org, client = server
    body = await client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": APP.consumer_key,
            "client_secret": "s3cret",
        },
    )
    assert body.status_code == 200 and body.json()["instance_url"] == org.instance_url
    basic = base64.b64encode(f"{APP.consumer_key}:s3cret".encode()).decode()
    response = await client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    assert response.json()["access_token"] in org.sessions


async def test_client_credentials_wrong_secret(
    server: tuple[SandboxOrg, httpx.AsyncClient],
) -> None:
    _, client = server
    for data in (
        {"client_id": APP.consumer_key, "client_secret": "nope"},
        {"client_id": "nobody", "client_secret": "s3cret"},
        {},
    ):
        response = await client.post(
            "/services/oauth2/token", data={"grant_type": "client_credentials", **data}
        )
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_client",
            "error_description": "invalid client credentials",
        }


async def test_unsupported_grant(server: tuple[SandboxOrg, httpx.AsyncClient]) -> None:
    _, client = server
    response = await client.post("/services/oauth2/token", data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
