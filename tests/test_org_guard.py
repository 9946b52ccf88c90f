"""The org check's start-up retries and reload hook, against the sandbox org."""

from __future__ import annotations

import asyncio

import pytest

from revflow.db.database import Database
from revflow.org_guard import RELOAD_INCIDENT, OrgGuard
from revflow.salesforce.org_check import OrgCheckError, OrgShape
from revflow.sandbox.org import SandboxOrg
from tests.orgkit import MAPPINGS, incidents, settings_for, sf_client

USED = ("order_to_sales_order", "order_to_invoice")


def guard(org: SandboxOrg, db: Database, database_url: str, shapes: list[OrgShape]) -> OrgGuard:
    settings = settings_for(org, database_url)
    return OrgGuard(db, sf_client(settings), settings, USED, shapes.append, start_delay_s=0.01)


async def test_an_org_that_refuses_every_call_stops_start_up(org, db, database_url) -> None:
    org.faults.request_limit_exceeded = True
    shapes: list[OrgShape] = []
    g = guard(org, db, database_url, shapes)
    with pytest.raises(OrgCheckError) as caught:
        await g.at_start(MAPPINGS)
    [problem] = caught.value.problems
    assert problem.file == "REVFLOW_SALESFORCE__INSTANCE_URL"
    assert "REQUEST_LIMIT_EXCEEDED" in problem.message
    assert org.faults_injected["request_limit_exceeded"] == 5  # tried, then gave up
    assert shapes == []
    await g.check.client.aclose()


async def test_start_up_waits_for_an_org_that_recovers(org, db, database_url) -> None:
    org.single_currency = "DKK"
    org.faults.request_limit_exceeded = True
    shapes: list[OrgShape] = []
    g = guard(org, db, database_url, shapes)
    task = asyncio.create_task(g.at_start(MAPPINGS))
    for _ in range(2000):
        if org.faults_injected.get("request_limit_exceeded"):
            break
        await asyncio.sleep(0.005)
    org.faults.request_limit_exceeded = False
    assert (await asyncio.wait_for(task, 30)).currency == "DKK"
    assert shapes == [OrgShape("DKK")]
    await g.check.client.aclose()


async def test_a_reload_the_org_cannot_serve_is_refused_then_accepted(
    org, db, database_url
) -> None:
    shapes: list[OrgShape] = []
    g = guard(org, db, database_url, shapes)
    org.missing_fields = {"OrderItem.Quantity"}
    problems = await g.on_reload(dict(MAPPINGS))
    assert problems and all("Quantity" in p.message for p in problems)
    [incident] = await incidents(db, "org_check")
    assert incident.open_key == RELOAD_INCIDENT and not incident.blocking
    assert shapes == []
    org.missing_fields.clear()
    assert await g.on_reload(dict(MAPPINGS)) == []
    [incident] = await incidents(db, "org_check")
    assert incident.resolved_at is not None and shapes == [OrgShape(None)]
    await g.check.client.aclose()
