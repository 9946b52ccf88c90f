"""Paced calls against the sandbox org over loopback: an idle write-back sends the first
status at once, and the intake reads trickled activations (and Quote approvals) in one
query.  The org counts Revflow's calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from revflow.config import AuthFlow, SalesforceSettings
from revflow.db.database import Database
from revflow.orchestration.intake import Intake
from revflow.orchestration.quotes import QuoteIntake
from revflow.plans.files import load_plan_file
from revflow.resources import shipped
from revflow.salesforce import outbox
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.budget import ApiBudget
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.pacing import CallPacer
from revflow.salesforce.writeback import WritebackFlusher
from revflow.sandbox.org import DEMO_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore
from tests.orgkit import MAPPINGS, Shop, feed, make_intake, org_events, planned, settings_for

STATUS = "Fulfillment_Status__c"
QUOTE_PLAN = load_plan_file(shipped("plans") / "quote_to_erp.yaml")
Arrival = Callable[[], Awaitable[str]]


def paced_client(org: SandboxOrg, pacer: CallPacer) -> SalesforceClient:
    if "ck" not in org.apps:
        org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    settings = SalesforceSettings(
        instance_url=org.instance_url,
        auth=AuthFlow.CLIENT_CREDENTIALS,
        client_id="ck",
        client_secret=SecretStr("s3cret"),
    )
    return SalesforceClient(
        TokenProvider(settings), "62.0", "revflow", budget=ApiBudget(pacer=pacer)
    )


def revflow_calls(org: SandboxOrg) -> int:
    return org.usage.by_app.get("revflow", 0)


async def status_of(org: SandboxOrg, order_id: str) -> str | None:
    return (org.records.get("Order", {}).get(order_id) or {}).get(STATUS)


async def enqueue(db: Database, order_id: str, status: str) -> None:
    async with db.write() as s:
        outbox.enqueue(s, "Order", order_id, {STATUS: status}, f"rf-{order_id}")


async def test_an_idle_write_back_sends_at_once_and_a_busy_one_batches(org, db):
    shop = Shop(org)
    a, b, c = (shop.order(activate=False) for _ in range(3))
    # a fresh process is idle; one call of credit, none earned by time in this test
    pacer = CallPacer(calls_per_order=0.5, burst=1.0, refill_s=1e9, max_wait_s=3600)
    client = paced_client(org, pacer)
    flusher = WritebackFlusher(db, client, max_delay_s=2.0)
    await enqueue(db, a, "In Progress")
    before = revflow_calls(org)
    assert await flusher.flush_once() == 1  # nothing to coalesce with: sent at once
    assert await status_of(org, a) == "In Progress"
    assert revflow_calls(org) - before == 1

    await enqueue(db, b, "In Progress")
    await enqueue(db, c, "In Progress")
    calls = revflow_calls(org)
    assert await flusher.flush_once() == 0  # no credit left: the part-full call waits
    assert revflow_calls(org) == calls and await status_of(org, b) is None
    pacer.earn(2, 0.0)  # two orders arrive: a call's credit
    assert await flusher.flush_once() == 2  # both records in one call
    assert revflow_calls(org) - calls == 1
    assert [await status_of(org, o) for o in (b, c)] == ["In Progress"] * 2
    await client.aclose()


def arrival(org: SandboxOrg, db: Database, make: Callable[[], str]) -> Arrival:
    """A coroutine that makes a record reach a trigger status and feeds its events."""

    async def arrives() -> str:
        tip = max((e.replay_id for e in org.events.all_events()), default=0)
        record = make()
        await feed(db, org_events(org, after=tip))
        return record

    return arrives


async def assert_trickle_read_in_one_query(
    org: SandboxOrg, db: Database, intake: Intake, arrives: Arrival
) -> None:
    """With a quarter call earned per record: the first (idle) is read at once from the
    stored call, its own quarter is kept (``CallPacer``: earned credit is kept beyond
    the burst), the next two wait, and the third completes a call that reads all three."""
    first = await arrives()
    before = revflow_calls(org)
    assert await intake.process_batch() > 0  # idle: read at once
    assert await planned(db) == [first]
    assert revflow_calls(org) - before == 1

    trickled: list[str] = []
    calls = revflow_calls(org)
    for n in range(2):  # each earns a quarter call: with the first's, not enough yet
        trickled.append(await arrives())
        assert await intake.process_batch() == 0, n
    assert revflow_calls(org) == calls and await planned(db) == [first]
    trickled.append(await arrives())  # the third completes a call's credit
    assert await intake.process_batch() > 0
    assert sorted(await planned(db)) == sorted([first, *trickled])
    assert revflow_calls(org) - calls == 1  # one query for the three


async def test_intake_reads_trickled_activations_in_one_query(org, db, database_url):
    pacer = CallPacer(calls_per_order=0.25, burst=1.0, refill_s=1e9, max_wait_s=3600)
    client = paced_client(org, pacer)
    intake = make_intake(db, client, settings_for(org, database_url))
    await assert_trickle_read_in_one_query(org, db, intake, arrival(org, db, Shop(org).order))
    await client.aclose()


async def test_intake_handles_echoes_at_once_while_reads_wait(org, db, database_url):
    shop = Shop(org)
    pacer = CallPacer(burst=1.0, refill_s=1e9, max_wait_s=3600)
    pacer.spend(1, 0.0)  # no credit: reads must wait
    settings = settings_for(org, database_url)
    client = paced_client(org, pacer)
    intake = make_intake(db, client, settings)
    oid = shop.order(activate=False)
    tip = org.events.all_events()[-1].replay_id
    shop.store.update("Order", oid, {"Description": "edited"}, user_id="005000000000002AAA")
    await feed(db, org_events(org, after=tip))
    assert await intake.process_batch() > 0  # no order read needed: handled at once
    await client.aclose()


async def test_intake_reads_trickled_quote_approvals_in_one_query(org, db, database_url):
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"}, user_id=DEMO_USER_ID)

    def approve() -> str:  # a Quote created Approved reaches a trigger status
        values = {"Name": "Q", "AccountId": account, "Status": "Approved"}
        return store.create("Quote", {**values, "CurrencyIsoCode": "EUR"}, user_id=DEMO_USER_ID)

    pacer = CallPacer(calls_per_order=0.25, burst=1.0, refill_s=1e9, max_wait_s=3600)
    settings = settings_for(org, database_url, quotes={"enabled": True})
    client = paced_client(org, pacer)
    intake = make_intake(db, client, settings)
    intake.quotes = QuoteIntake(db, client, settings, QUOTE_PLAN, lambda: MAPPINGS, intake.lookups)
    arrives = arrival(org, db, approve)

    await assert_trickle_read_in_one_query(org, db, intake, arrives)
    await arrives()  # the read spent the credit: the next Quote waits again
    assert await intake.process_batch() == 0
    await client.aclose()
