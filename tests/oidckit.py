"""A real OpenID provider on loopback for the OIDC login tests, and a browser for it.

The provider is the npm package ``oidc-provider`` (certified by the OpenID
Foundation) under the machine's node, installed once into
``~/.cache/revflow/oidc-provider`` and started with ``tests/oidc_provider.mjs``:
one client (Revflow), and accounts whose claims the tests choose.  Logins go
through the package's own interaction forms (login, then consent), which
``Browser`` fills in over HTTP like a person's browser would.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

PACKAGE = "oidc-provider"
VERSION = "9.13.3"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "revflow" / PACKAGE
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")

CLIENT_ID = "revflow-console"
CLIENT_SECRET = "test-only-oidc-client-secret-7Hq2"
REVFLOW = "https://revflow.test"  # the API under test, over ASGI
REDIRECT_URI = f"{REVFLOW}/api/auth/oidc/callback"
AFTER_LOGOUT = f"{REVFLOW}/"

ACCOUNTS: dict[str, dict[str, Any]] = {
    "ada": {"email": "ada@example.com", "groups": ["staff", "revflow-admins"]},
    "otto": {"email": "otto@example.com", "groups": ["revflow-operators"]},
    "nora": {"email": "nora@example.com", "groups": ["staff"]},
}
GROUP_ROLES = {"revflow-admins": "admin", "revflow-operators": "operator"}


def install_provider() -> Path:
    """The folder holding ``node_modules/oidc-provider`` (npm-installed on first use);
    skips the test when node or npm is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the OpenID provider (oidc-provider)")
    manifest = CACHE / "node_modules" / PACKAGE / "package.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("version") == VERSION:
        return CACHE
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", f"{PACKAGE}@{VERSION}"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return CACHE


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]


@contextmanager
def run_provider(id_token_ttl_s: int = 300) -> Iterator[Provider]:
    """Start the provider on a free loopback port; stop it afterwards."""
    package_dir = install_provider()
    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "accounts": ACCOUNTS,
        "id_token_ttl": id_token_ttl_s,
    }
    process = subprocess.Popen(
        [shutil.which("node") or "node", str(SCRIPT), str(package_dir), json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(f"oidc-provider did not start (exit code {process.poll()})")
        yield Provider(issuer=json.loads(line)["issuer"], process=process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class Browser:
    """A person's browser: Revflow's API (over ASGI) and the provider (over loopback),
    each with its own cookies."""

    def __init__(
        self,
        revflow: httpx.AsyncClient,
        provider: httpx.AsyncClient,
        app: httpx.ASGITransport | None = None,
    ) -> None:
        self.revflow = revflow
        self.provider = provider
        self.app = app  # Revflow's transport, for a second browser

    async def follow(self, url: str) -> tuple[httpx.Response | None, str]:
        """Follow the provider's redirects from ``url``: a page it shows (a form), or
        (None, url) once it sends the browser back to Revflow."""
        for _ in range(10):
            if url.startswith(REVFLOW):
                return None, url
            response = await self.provider.get(url)
            if response.status_code not in (302, 303):
                return response, url
            url = str(response.url.join(response.headers["location"]))
        raise AssertionError("too many redirects at the provider")

    async def submit(self, page: httpx.Response, fields: dict[str, str]) -> str:
        """Post the page's form; the URL it redirects to."""
        action = FORM_ACTION.search(page.text)
        assert action, page.text[:500]
        data = dict(HIDDEN.findall(page.text)) | fields
        response = await self.provider.post(str(page.url.join(action.group(1))), data=data)
        assert response.status_code in (302, 303), response.text[:500]
        return str(response.url.join(response.headers["location"]))

    async def to_callback(self, login: str, return_to: str | None = None) -> str:
        """Start a login at Revflow and sign in at the provider as ``login``; the
        callback URL the provider sends the browser back to (not yet visited)."""
        params = {"return_to": return_to} if return_to else {}
        start = await self.revflow.get("/api/auth/oidc/login", params=params)
        assert start.status_code == 303, start.text
        page, url = await self.follow(start.headers["location"])
        while page is not None:
            if 'name="login"' in page.text:
                fields = {"prompt": "login", "login": login, "password": "any"}
            elif 'value="consent"' in page.text:
                fields = {"prompt": "consent"}
            else:
                raise AssertionError(f"unexpected provider page: {page.text[:500]}")
            page, url = await self.follow(await self.submit(page, fields))
        return url

    async def callback(self, url: str) -> httpx.Response:
        return await self.revflow.get(url.removeprefix(REVFLOW))

    async def log_in(self, login: str, return_to: str | None = None) -> httpx.Response:
        return await self.callback(await self.to_callback(login, return_to))


class Tamper(httpx.AsyncBaseTransport):
    """Passes Revflow's calls to the provider through, changing the token endpoint's
    answer with ``edit`` when set (a man in the middle, or a broken provider)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.edit: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.edit is None or not request.url.path.endswith("/token"):
            return response
        body = json.loads(await response.aread())
        body = self.edit(body)
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self.inner.aclose()
