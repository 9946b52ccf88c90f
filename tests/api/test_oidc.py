"""OpenID Connect login against a real OpenID provider (oidc-provider under node).

The browser signs in through the provider's own forms; Revflow discovers the
provider, exchanges the code with PKCE, checks the ID token against the
provider's keys and maps the groups from userinfo to a role.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select

from revflow import clock
from revflow.api.app import create_app
from revflow.db.models import AuditEntry, AuthSession, OidcLogin
from revflow.security.oidc.provider import OidcProvider
from revflow.security.oidc.settings import OidcSettings
from revflow.security.sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from tests.oidckit import (
    AFTER_LOGOUT,
    CLIENT_ID,
    CLIENT_SECRET,
    GROUP_ROLES,
    REVFLOW,
    Browser,
    Provider,
    Tamper,
    run_provider,
)

ID_TOKEN_TTL_S = 300


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with run_provider(id_token_ttl_s=ID_TOKEN_TTL_S) as running:
        yield running


def oidc_settings(issuer: str, **overrides: object) -> OidcSettings:
    values: dict[str, object] = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_base_url": REVFLOW,
        "scopes": ["openid", "email", "groups"],
        "group_roles": GROUP_ROLES,
        "login_timeout_s": 3600,
    }
    return OidcSettings.model_validate(values | overrides)


@pytest.fixture
def tamper() -> Tamper:
    return Tamper()


@pytest.fixture
async def browser(db, provider: Provider, tamper: Tamper) -> AsyncIterator[Browser]:
    app = create_app(db, oidc=OidcProvider(oidc_settings(provider.issuer), transport=tamper))
    asgi = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=asgi, base_url=REVFLOW) as revflow,
        httpx.AsyncClient() as idp,
    ):
        yield Browser(revflow, idp, app=asgi)
    await tamper.aclose()


async def audit(db, action: str) -> list[AuditEntry]:
    async with db.read() as s:
        q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await s.scalars(q)).all())


async def sessions(db) -> list[AuthSession]:
    async with db.read() as s:
        return list((await s.scalars(select(AuthSession))).all())


async def test_a_person_in_a_mapped_group_gets_a_session_with_that_role(
    db, provider: Provider, browser: Browser
) -> None:
    answer = await browser.log_in("otto", return_to="/api/fallout")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/api/fallout"
    me = await browser.revflow.get("/api/auth/me")
    assert me.json() == {
        "subject": f"oidc:{provider.issuer}#otto",
        "name": "otto@example.com",
        "role": "operator",
        "method": "session",
    }
    assert (await browser.revflow.get("/api/fallout")).status_code == 200
    [row] = await sessions(db)
    assert (row.subject, row.name, row.role) == (
        f"oidc:{provider.issuer}#otto",
        "otto@example.com",
        "operator",
    )
    [login] = await audit(db, "login")
    assert login.actor == row.subject and login.detail["via"] == "oidc"
    async with db.read() as s:  # the login under way is used up
        assert (await s.scalars(select(OidcLogin))).all() == []


async def test_the_strongest_mapped_group_wins_and_unsafe_return_to_is_ignored(
    db, browser: Browser
) -> None:
    answer = await browser.log_in("ada", return_to="https://evil.example/phish")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    assert (await browser.revflow.get("/api/auth/me")).json()["role"] == "admin"


async def test_a_person_without_a_mapped_group_is_refused_and_audited(
    db, provider: Provider, browser: Browser
) -> None:
    answer = await browser.log_in("nora")
    assert answer.status_code == 403
    assert "has no Revflow role" in answer.json()["detail"]
    assert SESSION_COOKIE not in browser.revflow.cookies
    assert await sessions(db) == []
    assert (await browser.revflow.get("/api/auth/me")).status_code == 401
    [refused] = await audit(db, "login.refused")
    assert refused.actor == f"oidc:{provider.issuer}#nora"
    assert refused.detail["via"] == "oidc"


async def test_a_callback_with_another_state_is_refused(db, browser: Browser) -> None:
    url = await browser.to_callback("otto")
    query = parse_qs(urlsplit(url).query)
    assert query["state"] and query["code"] and query["iss"]
    forged = url.replace(f"state={query['state'][0]}", "state=not-the-state-we-sent")
    answer = await browser.callback(forged)
    assert answer.status_code == 400
    assert "unknown or already used login state" in answer.json()["detail"]
    assert await sessions(db) == []
    [failed] = await audit(db, "login.failed")
    assert failed.actor == "oidc:unknown"


async def test_a_callback_from_another_browser_is_refused(
    db, provider: Provider, browser: Browser
) -> None:
    """Login CSRF: an attacker's own code and state, replayed in the victim's browser."""
    url = await browser.to_callback("otto")
    async with httpx.AsyncClient(transport=browser.app, base_url=REVFLOW) as victim:
        answer = await victim.get(url.removeprefix(REVFLOW))
    assert answer.status_code == 400
    assert "not started in this browser" in answer.json()["detail"]
    # the state was used up by that attempt: the attacker's browser cannot use it either
    assert (await browser.callback(url)).status_code == 400
    assert await sessions(db) == []


async def test_a_used_callback_cannot_log_in_again(db, browser: Browser) -> None:
    url = await browser.to_callback("otto")
    assert (await browser.callback(url)).status_code == 303
    again = await browser.callback(url)
    assert again.status_code == 400
    assert len(await sessions(db)) == 1


def _flip_claim(id_token: str, **claims: str) -> str:
    """The token with its payload changed and the provider's signature kept."""
    header, payload, signature = id_token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = base64.urlsafe_b64encode(json.dumps(body | claims).encode()).rstrip(b"=")
    return f"{header}.{changed.decode()}.{signature}"


async def test_a_tampered_id_token_is_refused(db, browser: Browser, tamper: Tamper) -> None:
    tamper.edit = lambda body: body | {"id_token": _flip_claim(body["id_token"], sub="ada")}
    answer = await browser.log_in("otto")
    assert answer.status_code == 401
    assert answer.json()["detail"] == "ID token refused: bad_signature"
    assert await sessions(db) == []
    [failed] = await audit(db, "login.failed")
    assert failed.detail["reason"] == "ID token refused: bad_signature"


async def test_an_id_token_without_a_signature_is_refused(
    db, browser: Browser, tamper: Tamper
) -> None:
    def unsigned(body: dict[str, str]) -> dict[str, str]:
        _, payload, _ = body["id_token"].split(".")
        none = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        return body | {"id_token": f"{none}.{payload}."}

    tamper.edit = unsigned
    answer = await browser.log_in("otto")
    assert answer.status_code == 401
    assert answer.json()["detail"].startswith("ID token refused")
    assert await sessions(db) == []


async def test_an_expired_id_token_is_refused(db, browser: Browser) -> None:
    url = await browser.to_callback("otto")
    leeway_s = OidcSettings().leeway_s
    with clock.frozen(clock.utcnow() + timedelta(seconds=ID_TOKEN_TTL_S + leeway_s + 30)):
        answer = await browser.callback(url)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "ID token refused: The token is expired"
    assert await sessions(db) == []


async def test_a_login_that_took_too_long_is_refused(db, provider: Provider) -> None:
    app = create_app(db, oidc=OidcProvider(oidc_settings(provider.issuer, login_timeout_s=60)))
    asgi = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=asgi, base_url=REVFLOW) as revflow,
        httpx.AsyncClient() as idp,
    ):
        browser = Browser(revflow, idp)
        url = await browser.to_callback("otto")
        with clock.frozen(clock.utcnow() + timedelta(seconds=61)):
            answer = await browser.callback(url)
    assert answer.status_code == 400
    assert answer.json()["detail"] == "the login took too long; start it again"


async def test_the_provider_saying_no_is_refused(db, browser: Browser) -> None:
    start = await browser.revflow.get("/api/auth/oidc/login")
    page, _ = await browser.follow(start.headers["location"])
    assert page is not None
    abort = str(page.url).rstrip("/") + "/abort"
    _, url = await browser.follow(abort)
    answer = await browser.callback(url)
    assert answer.status_code == 401
    assert "refused the login: access_denied" in answer.json()["detail"]
    [failed] = await audit(db, "login.failed")
    assert "access_denied" in failed.detail["reason"]


async def test_logout_ends_the_session_here_and_at_the_provider(
    db, provider: Provider, browser: Browser
) -> None:
    assert (await browser.log_in("otto")).status_code == 303
    csrf = browser.revflow.cookies[CSRF_COOKIE]
    token = browser.revflow.cookies[SESSION_COOKIE]
    # without the CSRF header the session may not log out (a forged form post)
    assert (await browser.revflow.post("/api/auth/oidc/logout")).status_code == 403
    answer = await browser.revflow.post("/api/auth/oidc/logout", headers={CSRF_HEADER: csrf})
    assert answer.status_code == 200, answer.text
    logout_url = answer.json()["logout_url"]
    assert logout_url.startswith(f"{provider.issuer}/session/end?")
    query = parse_qs(urlsplit(logout_url).query)
    assert query == {"client_id": [CLIENT_ID], "post_logout_redirect_uri": [AFTER_LOGOUT]}
    [row] = await sessions(db)
    assert row.ended_reason == "logout"
    [logout] = await audit(db, "logout")
    assert logout.actor == f"oidc:{provider.issuer}#otto"
    # the cookies are gone, and the old session token no longer works
    assert SESSION_COOKIE not in browser.revflow.cookies
    browser.revflow.cookies.set(SESSION_COOKIE, token, domain="revflow.test")
    again = await browser.revflow.post("/api/auth/oidc/logout", headers={CSRF_HEADER: csrf})
    assert again.status_code == 401

    # at the provider: confirm the logout; it sends the browser back to Revflow
    page, _ = await browser.follow(logout_url)
    assert page is not None and "sign-out" in page.text
    back = await browser.submit(page, {"logout": "yes"})
    _, landed = await browser.follow(back)
    assert landed == AFTER_LOGOUT
    # the provider's session is over: the next login asks for the password again
    start = await browser.revflow.get("/api/auth/oidc/login")
    page, _ = await browser.follow(start.headers["location"])
    assert page is not None and 'name="login"' in page.text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_provider_answers_502(db) -> None:
    issuer = f"http://127.0.0.1:{_closed_port()}"
    app = create_app(db, oidc=OidcProvider(oidc_settings(issuer)))
    asgi = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=asgi, base_url=REVFLOW) as revflow:
        answer = await revflow.get("/api/auth/oidc/login")
    assert answer.status_code == 502
    assert "identity provider unreachable (discovery)" in answer.json()["detail"]


async def test_the_routes_are_absent_without_a_provider(db) -> None:
    app = create_app(db)
    asgi = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=asgi, base_url=REVFLOW) as revflow:
        assert (await revflow.get("/api/auth/oidc/login")).status_code == 404


async def test_a_discovery_document_naming_another_issuer_is_refused(db, provider) -> None:
    app = create_app(db, oidc=OidcProvider(oidc_settings(provider.issuer + "/")))
    asgi = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=asgi, base_url=REVFLOW) as revflow:
        answer = await revflow.get("/api/auth/oidc/login")
    assert answer.status_code == 502
    assert answer.json()["detail"] == (
        f"discovery names issuer {provider.issuer!r}, not the configured {provider.issuer + '/'!r}"
    )


async def test_keys_from_before_a_rotation_are_read_again(db, provider: Provider) -> None:
    """Revflow holds a key set without the key the provider signs with now."""
    oidc = OidcProvider(oidc_settings(provider.issuer))
    await oidc.metadata()
    old = RSAKey.generate_key(2048, parameters={"kid": "retired"})
    oidc._keys = KeySet.import_key_set({"keys": [old.as_dict(private=False)]})
    app = create_app(db, oidc=oidc)
    asgi = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=asgi, base_url=REVFLOW) as revflow,
        httpx.AsyncClient() as idp,
    ):
        answer = await Browser(revflow, idp).log_in("otto")
    assert answer.status_code == 303, answer.text
    assert oidc._keys is not None and "retired" not in {k.kid for k in oidc._keys}
