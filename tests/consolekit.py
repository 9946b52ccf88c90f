"""Console test helpers: local users of each role, and browsers (httpx clients keeping
cookies) logged in through the console's own login form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
from fastapi import FastAPI

from revflow.api.app import create_app
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.security import users
from revflow.security.identity import Role
from revflow.security.keyring import Keyring, generate_key
from revflow.security.sessions import CSRF_COOKIE

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def console_app(db: Database, keyring: Keyring | None = None, **kwargs: object) -> FastAPI:
    return create_app(db, keyring=keyring or Keyring([generate_key()]), **kwargs)  # type: ignore[arg-type]


def keyring_of(app: FastAPI) -> Keyring:
    keyring = app.state.security.keyring
    assert isinstance(keyring, Keyring)
    return keyring


async def make_user(app: FastAPI, db: Database, name: str, role: Role) -> pyotp.TOTP:
    """A local user with ``PASSWORD``; returns its authenticator."""
    async with db.write() as s:
        e = await users.create_user(
            s, keyring_of(app), username=name, role=role, password=PASSWORD, actor="tests"
        )
    return pyotp.TOTP(parse_qs(urlparse(e.totp_uri).query)["secret"][0])


def browser(app: FastAPI) -> httpx.AsyncClient:
    """A client over HTTPS (the session cookies are Secure) that does not follow redirects."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://t")


async def log_in(
    web: httpx.AsyncClient, name: str, totp: pyotp.TOTP, next_path: str = "/console"
) -> httpx.Response:
    form = await web.get("/console/login", params={"next": next_path})
    found = TOKEN.search(form.text)
    assert found, form.text
    return await web.post(
        "/console/login",
        data={
            "username": name,
            "password": PASSWORD,
            "code": totp.at(utcnow()),
            "login_token": found.group(1),
            "next": next_path,
        },
    )


@asynccontextmanager
async def logged_in(
    app: FastAPI, db: Database, role: Role = Role.VIEWER, name: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser logged in as a new local user of ``role``; sends the CSRF header."""
    who = name or f"{role}1"
    totp = await make_user(app, db, who, role)
    async with browser(app) as web:
        r = await log_in(web, who, totp)
        assert r.status_code == 303, r.text
        web.headers["X-CSRF-Token"] = web.cookies[CSRF_COOKIE]
        yield web
