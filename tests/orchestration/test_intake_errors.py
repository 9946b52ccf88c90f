"""Intake against a real database and the sandbox org on loopback: read errors that
waiting will not fix, transient ones, and stopping during a backoff."""

from __future__ import annotations

import asyncio
import time

from revflow.orchestration.intake import READ_INCIDENT
from tests.orgkit import (
    Shop,
    feed,
    incidents,
    make_intake,
    org_events,
    planned,
    settings_for,
    sf_client,
)

# ---- errors waiting will not fix ----------------------------------------------------


async def _until(predicate, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def _intake_refused(org, db, database_url):
    """An order's event in the inbox, the org refusing reads (REQUEST_LIMIT_EXCEEDED),
    and intake running: the order's id, the client, the stop event and intake's task."""
    order_id = Shop(org).order()
    await feed(db, org_events(org))
    org.faults.request_limit_exceeded = True
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(make_intake(db, client, settings).run(stop))
    return order_id, client, stop, task


async def test_a_field_the_org_lacks_is_an_incident_retried_slowly(org, db, database_url):
    """Once reproduced as: an order read failing with INVALID_FIELD retried forever, once
    a minute, with nothing recorded.  Now: one open incident, retried every
    incident_retry_s (new events do not hasten it), resolved when the read works."""
    shop = Shop(org)
    order_id = shop.order()
    await feed(db, org_events(org))
    org.missing_fields = {"Order.PoNumber"}  # e.g. field access revoked from the user
    settings = settings_for(org, database_url, salesforce={"incident_retry_s": 3600.0})
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(intake.run(stop))

    async def opened() -> bool:
        return bool(await incidents(db, "salesforce_permanent"))

    await _until(opened)
    calls = org.usage.by_app["revflow"]
    intake.wakeup.set()  # as the consumer does for every new event
    await asyncio.sleep(2.5)  # a transient error would have been retried twice by now
    assert org.usage.by_app["revflow"] == calls
    [incident] = await incidents(db, "salesforce_permanent")
    assert incident.open_key == READ_INCIDENT and incident.blocking and incident.count == 1
    assert incident.detail["code"] == "INVALID_FIELD"
    assert "No such column 'PoNumber' on entity 'Order'" in incident.detail["message"]
    assert await planned(db) == []
    stop.set()
    await task

    # the field is back; a restarted intake resolves the incident with its first read
    org.missing_fields.clear()
    again = make_intake(db, client, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(again.run(stop))

    async def resolved() -> bool:
        return (await incidents(db, "salesforce_permanent"))[0].resolved_at is not None

    await _until(resolved)
    stop.set()
    await task
    assert await planned(db) == [order_id]
    await client.aclose()


async def test_a_transient_read_failure_is_retried_with_backoff_until_it_works(
    org, db, database_url, caplog
):
    """REQUEST_LIMIT_EXCEEDED on the order read: no incident, retried (tenacity, the
    read backoff) until the org answers again, then the plan is created."""
    order_id, client, stop, task = await _intake_refused(org, db, database_url)

    async def refused_twice() -> bool:
        return org.faults_injected.get("request_limit_exceeded", 0) >= 2

    await _until(refused_twice)
    assert await incidents(db, "salesforce_permanent") == []
    assert await planned(db) == []
    retries = [r for r in caplog.records if r.getMessage() == "reading orders failed; retrying"]
    assert len(retries) >= 2 and "REQUEST_LIMIT_EXCEEDED" in retries[0].error  # type: ignore[attr-defined]
    org.faults.request_limit_exceeded = False

    async def created() -> bool:
        return order_id in await planned(db)

    await _until(created)
    stop.set()
    await task
    await client.aclose()


async def test_a_stop_during_the_read_backoff_ends_the_loop(org, db, database_url):
    _, client, stop, task = await _intake_refused(org, db, database_url)

    async def refused() -> bool:
        return org.faults_injected.get("request_limit_exceeded", 0) >= 1

    await _until(refused)
    stop.set()
    await asyncio.wait_for(task, 10)  # returns, raises nothing
    await client.aclose()
