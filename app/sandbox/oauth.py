"""The sandbox org's OAuth 2.0 token endpoint: JWT bearer and client-credentials flows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509

from revflow.sandbox.org import ConnectedApp, SandboxOrg

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthError(Exception):
    """An OAuth error answered as HTTP 400 ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _jwt_app(org: SandboxOrg, assertion: str) -> ConnectedApp:
    """Validate a JWT bearer assertion; return the connected app it authenticates."""
    try:
        claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    app = org.apps.get(str(claims.get("iss", "")))
    if app is None:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if header.get("alg") != "RS256" or not app.certificate_pem:
        raise OAuthError("invalid_grant", "invalid assertion")
    try:
        cert = x509.load_pem_x509_certificate(app.certificate_pem.encode())
        jwt.decode(
            assertion,
            cert.public_key(),  # type: ignore[arg-type]
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except (jwt.PyJWTError, ValueError):
        raise OAuthError("invalid_grant", "invalid assertion") from None
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    allowed = {*LOGIN_AUDIENCES, org.instance_url.rstrip("/")} - {""}
    if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in audiences):
        raise OAuthError("invalid_grant", "audience is invalid")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise OAuthError("invalid_grant", "invalid assertion")
    if exp <= time.time():
        raise OAuthError("invalid_grant", "expired authorization code")
    if claims.get("sub") != app.username:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return app


def _client_credentials_app(
    org: SandboxOrg, form: dict[str, str], authorization: str | None
) -> ConnectedApp:
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if authorization and authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
            client_id, _, secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "invalid client credentials") from None
    app = org.apps.get(client_id or "")
    if (
        app is None
        or app.consumer_secret is None
        or not hmac.compare_digest(app.consumer_secret, secret or "")
    ):
        raise OAuthError("invalid_client", "invalid client credentials")
    return app


def token_response(org: SandboxOrg, app: ConnectedApp) -> dict[str, str]:
    """Issue a session and build the token endpoint's success body."""
    session = org.issue_token(app, app.run_as_user_id)
    identity = f"https://login.salesforce.com/id/{org.org_id}/{session.user_id}"
    issued_at = str(int(session.issued_at * 1000))
    key = (app.consumer_secret or app.consumer_key).encode()
    signature = base64.b64encode(
        hmac.new(key, (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    return {
        "access_token": session.token,
        "instance_url": org.instance_url,
        "id": identity,
        "token_type": "Bearer",
        "scope": "api",
        "issued_at": issued_at,
        "signature": signature,
    }


def add_oauth_routes(app: web.Application, org: SandboxOrg) -> None:
    """Register ``POST /services/oauth2/token`` on ``app``."""

    async def token(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        grant = form.get("grant_type", "")
        try:
            if grant == JWT_GRANT:
                connected = _jwt_app(org, form.get("assertion", ""))
            elif grant == "client_credentials":
                connected = _client_credentials_app(org, form, request.headers.get("Authorization"))
            else:
                raise OAuthError("unsupported_grant_type", "grant type not supported")
        except OAuthError as exc:
            return web.json_response(
                {"error": exc.error, "error_description": exc.description}, status=exc.status
            )
        return web.json_response(token_response(org, connected))

    app.router.add_post("/services/oauth2/token", token)
