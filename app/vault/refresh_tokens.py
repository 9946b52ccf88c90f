"""OAuth refresh tokens that the provider rotates (QuickBooks Online, Xero) survive restarts.

The configured refresh token only starts the chain: each refresh answers with a new
one and the old one stops working, so the newest is stored (encrypted) and used from
then on.  ``bind_refresh_tokens`` does that for every connector whose token provider
uses the refresh-token grant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revflow import audit
from revflow.config import ConfigError
from revflow.connectors.oauth import OAuth2TokenProvider
from revflow.db.database import Database
from revflow.vault import store


def secret_name(connector: str) -> str:
    return f"connector:{connector}:refresh_token"


def _provider(connector: Any) -> OAuth2TokenProvider | None:
    seen = set()
    while connector is not None and id(connector) not in seen:  # guards wrap connectors
        seen.add(id(connector))
        provider = getattr(connector, "token_provider", None)
        if isinstance(provider, OAuth2TokenProvider):
            return provider if provider.grant_type == "refresh_token" else None
        connector = getattr(connector, "inner", None)
    return None


async def bind(db: Database, connector: str, provider: OAuth2TokenProvider) -> bool:
    """Use the stored refresh token of ``connector`` (if any) and store each new one.

    True when a stored token replaced the configured one.
    """
    name = secret_name(connector)
    async with db.read() as s:
        stored = await store.get(s, name)
    if stored:
        provider.refresh_token = stored

    async def keep(token: str) -> None:
        async with db.write() as s:
            await store.put(s, name, token)
            audit.record(s, "system", "secret.refresh_token_rotated", connector=connector)

    provider.on_refresh_token = keep
    return bool(stored)


async def bind_refresh_tokens(
    db: Database, connectors: Mapping[str, Any], *, keyring_configured: bool
) -> list[str]:
    """``bind`` every connector with a refresh-token provider; the names bound.

    Without a keyring the rotated token could not be kept: ``ConfigError``.
    """
    found = {name: p for name, c in connectors.items() if (p := _provider(c)) is not None}
    if found and not keyring_configured:
        raise ConfigError(
            f"connector {sorted(found)[0]!r} rotates its OAuth refresh token; set "
            "REVFLOW_KEYRING__KEYS or REVFLOW_KEYRING__KEYS_FILE so Revflow can keep it"
        )
    for name, provider in found.items():
        await bind(db, name, provider)
    return sorted(found)
