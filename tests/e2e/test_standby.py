"""Two full Revflow services on one PostgreSQL database: the second stands by (no
order reads, no write-back calls) while the first holds the intake and write-back
leases, then takes over when it stops."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from revflow.db.database import Database
from revflow.demo import DemoEnvironment
from revflow.ingest.leases import ChannelLeases
from revflow.ingest.singleton import INTAKE_LEASE, WRITEBACK_LEASE
from revflow.orchestration import intake as intake_module
from revflow.service import Revflow
from tests.conftest import PG_URL
from tests.e2e.test_pipeline import assert_exactly_one_document_per_order

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not PG_URL, reason="two processes on one database need PostgreSQL"),
]

ORDERS = 20


async def holders(database_url: str) -> tuple[str | None, str | None]:
    """Who holds the intake lease, and who the write-back's."""
    db = Database(database_url)
    try:
        held = await ChannelLeases(db, "-", [INTAKE_LEASE], 1).holders()
    finally:
        await db.dispose()
    return held.get(INTAKE_LEASE), held.get(WRITEBACK_LEASE)


async def test_a_second_revflow_run_stands_by_then_takes_over(database_url, monkeypatch):
    reads: Counter[str] = Counter()
    real = intake_module.fetch_orders

    async def counted(client: Any, ids: list[str], fields: Any) -> dict[str, Any]:
        reads.update(ids)
        return await real(client, ids, fields)

    monkeypatch.setattr(intake_module, "fetch_orders", counted)
    overrides = {"ingest": {"lease_s": 2.0}}
    async with DemoEnvironment(
        database_url=database_url, seed=23, settings_overrides=overrides
    ) as env:
        assert env.revflow is not None and env.settings is not None
        active, standby = env.revflow, Revflow(env.settings, serve_api=False)
        await standby.start()
        env.revflow = standby  # the environment stops the survivor
        ids = await env.create_orders(ORDERS)
        first, second = ids[: ORDERS // 2], ids[ORDERS // 2 :]
        await env.activate(first)
        assert await env.wait_until_done(first, timeout_s=120, final=("Completed",))
        assert await holders(database_url) == (active.consumer.owner,) * 2
        assert standby.flusher.calls == 0  # the statuses went out in the active's calls
        await active.stop()  # releases its leases: the standby takes them at its next check
        await env.activate(second)
        assert await env.wait_until_done(second, timeout_s=120, final=("Completed",))
        assert await holders(database_url) == (standby.consumer.owner,) * 2
        assert standby.flusher.calls > 0
    assert reads == Counter(ids)  # each order read from Salesforce once, by one process
    assert_exactly_one_document_per_order(env, ids)
