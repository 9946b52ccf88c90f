"""The intake tests' ``env`` fixture (a shop and an intake) and the org's event tip."""

from __future__ import annotations

import pytest

from revflow.sandbox.org import SandboxOrg
from tests.orgkit import (
    Shop,
    make_intake,
    settings_for,
    sf_client,
)


@pytest.fixture(name="env")
async def intake_env(org, db, database_url):
    """(shop, intake) with default settings; rebuild the intake for other settings."""
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    yield Shop(org), make_intake(db, client, settings)
    await client.aclose()


def tip(org: SandboxOrg) -> int:
    events = org.events.all_events()
    return events[-1].replay_id if events else 0
