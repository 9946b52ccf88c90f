"""``revflow demo --serve``: keep Revflow and the sandbox running with the console open.

The demo creates one local admin, ``demo``, with a random password, a TOTP seed and
recovery codes, and prints them with the console's URL.  Nothing new is opened to
the network: it is an ordinary local user (password and second factor, lockout,
audit), its password shown once on the terminal of whoever started the demo, and its
database is the demo's.  Sign in with a recovery code (each works once) or add the
TOTP secret to an authenticator app.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from revflow.db.database import Database
from revflow.security import users
from revflow.security.identity import Role
from revflow.security.keyring import Keyring

USERNAME = "demo"


@dataclass(frozen=True)
class ConsoleLogin:
    url: str
    username: str
    password: str
    totp_secret: str
    recovery_codes: list[str]
    notes: tuple[str, ...] = ()  # e.g. where the demo's alerts went

    def lines(self) -> list[str]:
        return [
            f"console: {self.url}",
            f"  username: {self.username}   password: {self.password}",
            f"  code: one of {', '.join(self.recovery_codes[:3])} (each works once),",
            f"        or a TOTP code for the secret {self.totp_secret}",
            *self.notes,
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def console_settings(port: int, keyring_key: str) -> dict[str, Any]:
    """Settings for a served console: a keyring for local users, the API's port, and
    session cookies without ``Secure`` (the demo serves plain HTTP on loopback)."""
    return {
        "keyring": {"keys": keyring_key},
        "security": {"cookie_secure": False},
        "api_host": "127.0.0.1",
        "api_port": port,
    }


async def create_console_user(database_url: str, keyring_key: str, port: int) -> ConsoleLogin:
    """The demo's admin, in the demo's database."""
    password = secrets.token_urlsafe(12)
    db = Database(database_url)
    try:
        async with db.write() as s:
            e = await users.create_user(
                s,
                Keyring([keyring_key]),
                username=USERNAME,
                role=Role.ADMIN,
                password=password,
                actor="revflow-demo",
            )
    finally:
        await db.dispose()
    seed = parse_qs(urlparse(e.totp_uri).query)["secret"][0]
    return ConsoleLogin(
        f"http://127.0.0.1:{port}/console", USERNAME, password, seed, e.recovery_codes
    )
