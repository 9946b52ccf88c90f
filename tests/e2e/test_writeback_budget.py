"""Write-back end to end against the sandbox org over loopback: the API budget pauses
write-back, lookups and the reconcile sweep."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from revflow.api.app import create_app
from revflow.db.database import Database
from revflow.db.models import SalesforceApiUsage
from revflow.ingest.reconcile import Reconciler
from revflow.salesforce.budget import ApiBudget, BudgetExhausted
from revflow.salesforce.lookups import LookupCache
from revflow.salesforce.writeback import WritebackFlusher
from revflow.sandbox.org import SandboxOrg
from revflow.security.identity import Role
from tests import securitykit
from tests.e2e.writebackkit import STATUS, audits, client_for, enqueue, items, sf_settings
from tests.orgkit import Shop, make_intake, settings_for

# -- 2. the API budget -------------------------------------------------------------


async def test_budget_pauses_write_back_and_lookups_then_resumes(
    db: Database, org: SandboxOrg
) -> None:
    oid = Shop(org).order()
    org.usage.daily_limit = 20  # Revflow's budget: 0.5 × 20 = 10 calls
    org.usage.used = 7  # other integrations' calls count in N, not in Revflow's use
    client = client_for(org)
    for _ in range(10):
        await client.query("SELECT Id FROM Account")
    assert client.budget.org_limit == 20 and client.budget.org_used == 17
    assert client.budget.calls == 10 and client.budget.budget == 10
    await enqueue(db, "Order", oid, {STATUS: "In Progress"})
    flusher = WritebackFlusher(db, client)
    assert await flusher.flush_once() == 0
    assert flusher.calls == 0 and [i.state for i in await items(db)] == ["pending"]
    (alert,) = await audits(db, "salesforce.budget_exhausted")
    assert alert.detail["calls"] == 10 and alert.detail["budget"] == 10
    await flusher.flush_once()
    assert len(await audits(db, "salesforce.budget_exhausted")) == 1  # alerted once
    with pytest.raises(BudgetExhausted):
        await LookupCache(client)._query("Account", "Name", ("Id",), ["Acme"])

    # persisted: a restarted process (a fresh budget) knows the day's use
    fresh = ApiBudget(0.5)
    await fresh.sync(db, force=True)
    assert fresh.calls == 10 and fresh.org_limit == 20 and not fresh.allows()

    # the calls roll out of the 24-hour window: work resumes, nothing was lost
    async with db.write() as s:
        await s.execute(
            update(SalesforceApiUsage).values(hour=SalesforceApiUsage.hour - timedelta(hours=25))
        )
    client.budget.sync_interval_s = 0.0
    assert await flusher.flush_once() == 1
    assert org.records["Order"][oid][STATUS] == "In Progress"
    assert await audits(db, "salesforce.budget_resumed")
    await client.aclose()


async def test_usage_endpoint_and_gauge_report_revflow_vs_org(
    db: Database, org: SandboxOrg
) -> None:
    org.usage.daily_limit = 1000
    org.usage.used = 100
    client = client_for(org, share=0.25)
    for _ in range(4):
        await client.query("SELECT Id FROM Account")
    await client.budget.sync(db, force=True)
    api = create_app(db, salesforce=sf_settings(org, share=0.25))
    async with securitykit.client(api, db, Role.VIEWER, base_url="http://revflow") as http:
        usage = (await http.get("/api/salesforce/usage")).json()
        metrics = (await http.get("/metrics")).text
    assert usage["revflow_calls_24h"] == 4 and usage["revflow_calls_today"] == 4
    assert usage["org_used"] == 104 and usage["org_limit"] == 1000
    assert usage["share"] == 0.25 and usage["budget"] == 250 and usage["paused"] is False
    assert "revflow_salesforce_api_revflow_calls 4.0" in metrics
    assert "revflow_salesforce_api_used 104.0" in metrics
    assert "revflow_salesforce_api_budget 250.0" in metrics
    await client.aclose()


async def test_budget_pauses_the_reconcile_sweep(db: Database, org: SandboxOrg) -> None:
    settings = settings_for(org, "sqlite://", reconcile={"interval_s": 0.05})
    org.usage.daily_limit = 4  # budget 2
    client = client_for(org)
    for _ in range(2):
        await client.query("SELECT Id FROM Account")
    made = client.usage.calls_made
    reconciler = Reconciler(db, client, settings, make_intake(db, client, settings))
    stop = asyncio.Event()
    task = asyncio.create_task(reconciler.run(stop))
    for _ in range(200):
        if await audits(db, "salesforce.budget_exhausted"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    (alert,) = await audits(db, "salesforce.budget_exhausted")
    assert alert.detail["work"] == "reconcile"
    assert client.usage.calls_made == made  # no sweep query was made
    await client.aclose()
