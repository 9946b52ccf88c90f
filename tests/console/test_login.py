"""The console's login form, logout, the login redirect, CSRF and role refusals, its
static files (our CSS, htmx from its PyPI package), all over the real app."""

from __future__ import annotations

from sqlalchemy import select

from revflow.db.models import AuditEntry
from revflow.security.identity import Role
from revflow.security.sessions import SESSION_COOKIE
from tests.consolekit import TOKEN, browser, console_app, log_in, logged_in, make_user


async def test_a_page_without_a_session_redirects_to_the_login_form(db) -> None:
    app = console_app(db)
    async with browser(app) as web:
        r = await web.get("/console", params={"region": "FR"})
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login?next=/console%3Fregion%3DFR"
        htmx = await web.get("/console", headers={"HX-Request": "true"})
        assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/console/login")
        form = await web.get(r.headers["location"])
    assert form.status_code == 200
    assert '<html lang="en">' in form.text and 'for="password"' in form.text
    assert 'name="next" value="/console?region=FR"' in form.text
    assert "identity provider" not in form.text  # no OIDC configured


async def test_login_lands_on_next_and_shows_who_is_logged_in(db) -> None:
    app = console_app(db)
    totp = await make_user(app, db, "vera", Role.VIEWER)
    async with browser(app) as web:
        r = await log_in(web, "vera", totp, next_path="/console?region=FR")
        assert r.status_code == 303 and r.headers["location"] == "/console?region=FR"
        page = await web.get("/console")
    assert page.status_code == 200
    assert "vera" in page.text and 'aria-current="page"' in page.text
    assert 'href="#main"' in page.text  # the skip link
    async with db.read() as s:
        logins = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "login"))).all()
    assert [(a.actor, a.detail["via"]) for a in logins] == [("user:vera", "console")]


async def test_a_wrong_code_shows_the_form_again_with_an_error(db) -> None:
    app = console_app(db)
    await make_user(app, db, "vera", Role.VIEWER)
    async with browser(app) as web:
        form = await web.get("/console/login")
        token = TOKEN.search(form.text)
        assert token
        data = {"username": "vera", "password": "x", "code": "000000"}
        r = await web.post("/console/login", data={**data, "login_token": token.group(1)})
        assert r.status_code == 401 and "Login failed" in r.text and 'role="alert"' in r.text
        assert SESSION_COOKIE not in web.cookies
        # a form posted without the token its page set (another site's form) is refused
        web.cookies.clear()
        r = await web.post("/console/login", data={**data, "login_token": token.group(1)})
        assert r.status_code == 400 and "expired" in r.text


async def test_next_cannot_send_the_browser_to_another_site(db) -> None:
    app = console_app(db)
    totp = await make_user(app, db, "vera", Role.VIEWER)
    async with browser(app) as web:
        r = await log_in(web, "vera", totp, next_path="//evil.example/console")
    assert r.status_code == 303 and r.headers["location"] == "/console"


async def test_logout_needs_the_csrf_header_and_ends_the_session(db) -> None:
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        token = web.headers.pop("X-CSRF-Token")
        refused = await web.post("/console/logout")
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.text
        assert "text/html" in refused.headers["content-type"]
        assert (await web.get("/console")).status_code == 200  # still logged in
        r = await web.post("/console/logout", headers={"X-CSRF-Token": token})
        assert r.status_code == 204 and r.headers["HX-Redirect"] == "/console/login"
        assert (await web.get("/console")).status_code == 303


async def test_a_role_too_weak_gets_a_403_page(db) -> None:
    app = console_app(db)
    async with logged_in(app, db, Role.METRICS) as web:
        r = await web.get("/console")
    assert r.status_code == 403 and "viewer" in r.text and "<html" in r.text


async def test_oidc_is_offered_when_configured(db) -> None:
    from pydantic import SecretStr

    from revflow.security.oidc.provider import OidcProvider
    from revflow.security.oidc.settings import OidcSettings

    settings = OidcSettings(
        issuer="http://127.0.0.1:9",
        client_id="revflow",
        client_secret=SecretStr("x"),
        redirect_base_url="https://revflow.test",
    )
    app = console_app(db, oidc=OidcProvider(settings))
    async with browser(app) as web:
        form = await web.get("/console/login", params={"next": "/console/orders"})
    assert 'href="/api/auth/oidc/login?return_to=/console/orders"' in form.text


async def test_static_files_are_served_from_here(db) -> None:
    app = console_app(db)
    async with browser(app) as web:
        css = await web.get("/console/static/console.css")
        htmx = await web.get("/console/static/vendor/htmx/htmx.min.js")
    assert css.status_code == 200 and ":focus-visible" in css.text
    assert htmx.status_code == 200 and "htmx" in htmx.text and len(htmx.content) > 10_000
    assert "javascript" in htmx.headers["content-type"]


async def test_every_console_route_sends_strangers_to_login_and_refuses_weak_roles(db) -> None:
    """Pages added later are covered too: each is walked from the app's route table."""
    import re

    from revflow.security.routes import route_roles

    app = console_app(db)
    routes = [r for r in route_roles(app) if r.path.startswith("/console")]
    guarded = [r for r in routes if r.role is not None]
    assert {(r.method, r.path) for r in routes if r.role is None} == {
        ("GET", "/console/login"),
        ("POST", "/console/login"),
    }
    assert len(guarded) >= 3
    async with browser(app) as stranger:
        for r in guarded:
            path = re.sub(r"\{\w+\}", "1", r.path)
            answer = await stranger.request(r.method, path)
            assert answer.status_code == 303, (r.method, r.path)
            assert answer.headers["location"].startswith("/console/login?next=")
    async with logged_in(app, db, Role.METRICS) as weak:
        for r in guarded:
            if r.role == Role.METRICS:
                continue
            answer = await weak.request(r.method, re.sub(r"\{\w+\}", "1", r.path))
            assert answer.status_code == 403, (r.method, r.path)
            assert str(r.role) in answer.text
