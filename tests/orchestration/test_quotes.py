"""Quote intake against a real database and the sandbox org on loopback: which Quote
events start a plan, echoes, changed lines retrying validation, gap and overflow
events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from revflow.db.database import Database
from revflow.db.models import EventStatus, Plan, Step, WritebackItem
from revflow.orchestration.intake import Intake
from revflow.orchestration.quotes import QuoteIntake, reached_status
from revflow.plans.files import load_plan_file
from revflow.resources import shipped
from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, SandboxOrg
from revflow.sandbox.records import RecordStore
from tests.orgkit import (
    MAPPINGS,
    feed,
    header_event,
    inbox,
    incidents,
    make_intake,
    org_events,
    planned,
    settings_for,
    sf_client,
)

QUOTE_PLAN = load_plan_file(shipped("plans") / "quote_to_erp.yaml")


@dataclass
class Quotes:
    """Accounts, products and Quotes made in the org as a Salesforce user would."""

    store: RecordStore
    account: str
    product: str

    def quote(self, status: str = "Draft", lines: int = 1) -> str:
        qid = self.store.create(
            "Quote",
            {"Name": "Q", "AccountId": self.account, "Status": status, "CurrencyIsoCode": "EUR"},
            user_id=DEMO_USER_ID,
        )
        for _ in range(lines):
            self.line(qid)
        return qid

    def line(self, quote_id: str) -> str:
        values = {
            "QuoteId": quote_id,
            "Product2Id": self.product,
            "Quantity": 2.0,
            "UnitPrice": 9.0,
            "ListPrice": 10.0,
        }
        return self.store.create("QuoteLineItem", values, user_id=DEMO_USER_ID)

    def set(self, sobject: str, record_id: str, user_id: str = DEMO_USER_ID, **values: Any) -> None:
        self.store.update(sobject, record_id, values, user_id=user_id)


@pytest.fixture
async def env(
    org: SandboxOrg, db: Database, database_url: str
) -> AsyncIterator[tuple[Quotes, Intake]]:
    settings = settings_for(org, database_url, quotes={"enabled": True})
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    intake.quotes = QuoteIntake(db, client, settings, QUOTE_PLAN, lambda: MAPPINGS, intake.lookups)
    store = RecordStore(org)
    account = store.create(
        "Account",
        {"Name": "Acme", "AccountNumber": "ACC-1", "BillingCountry": "DE"},
        user_id=DEMO_USER_ID,
    )
    product = store.create(
        "Product2", {"Name": "Widget", "ProductCode": "W-1"}, user_id=DEMO_USER_ID
    )
    yield Quotes(store, account, product), intake
    await client.aclose()


async def run(org: SandboxOrg, db: Database, intake: Intake, after: int = 0) -> int:
    """Feed the org's events after replay id ``after`` and handle them; the tip."""
    events = org_events(org, after)
    await feed(db, events)
    while await intake.process_batch():
        pass
    return max((e.replay_id for e in org.events.all_events()), default=0)


async def steps_of(db: Database, record_id: str) -> dict[str, str]:
    async with db.read() as s:
        q = select(Step.key, Step.state).join(Plan).where(Plan.order_id == record_id)
        return {r.key: r.state for r in (await s.execute(q)).all()}


async def writes(db: Database, record_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with db.read() as s:
        q = select(WritebackItem).where(WritebackItem.record_id == record_id)
        return [(w.sobject, w.fields) for w in (await s.scalars(q)).all()]


async def test_a_quote_reaching_a_configured_status_gets_one_plan(env, org, db) -> None:
    quotes, intake = env
    draft, review, approved = quotes.quote(), quotes.quote(), quotes.quote()
    tip = await run(org, db, intake)
    assert await planned(db) == []  # Draft Quotes and their lines start nothing
    quotes.set("Quote", review, Status="Needs Review")
    quotes.set("Quote", approved, Status="Approved")
    tip = await run(org, db, intake, tip)
    assert await planned(db) == [approved]
    assert await steps_of(db, approved) == {"validate": "ready", "create_erp_quote": "pending"}
    # "In Progress" goes onto the Quote, through the outbox
    assert await writes(db, approved) == [
        ("Quote", {"Fulfillment_Status__c": "In Progress", "Fulfillment_Error__c": None})
    ]
    quotes.set("Quote", approved, Status="Accepted")  # a trigger too, but planned already
    quotes.set("Quote", draft, Status="Accepted")
    await run(org, db, intake, tip)
    assert await planned(db) == [approved, draft]
    notes = {e.note for e in await inbox(db) if e.entity == "Quote"}
    assert "plan already exists" in notes


async def test_revflows_own_quote_writes_are_echoes(env, org, db) -> None:
    quotes, intake = env
    qid = quotes.quote(status="Approved")
    tip = await run(org, db, intake)
    quotes.set(
        "Quote", qid, user_id=INTEGRATION_USER_ID, Fulfillment_Status__c="Completed"
    )  # only Revflow's own field changed: an echo by fields
    await run(org, db, intake, tip)
    last = (await inbox(db))[-1]
    assert last.entity == "Quote"
    assert (last.status, last.note) == (
        EventStatus.SKIPPED,
        "echo of Revflow's own write (echo_fields)",
    )


async def test_a_changed_line_retries_validation_that_waits_for_data(env, org, db) -> None:
    quotes, intake = env
    qid = quotes.quote(status="Approved", lines=0)  # approved before it had a line
    tip = await run(org, db, intake)
    assert await planned(db) == [qid]
    async with db.write() as s:  # the worker ran validate: it failed for want of lines
        step = (
            await s.scalars(
                select(Step).join(Plan).where(Plan.order_id == qid, Step.key == "validate")
            )
        ).one()
        assert "a quote needs at least one line item" in step.input["errors"][0]
        plan = await s.get(Plan, step.plan_id)
        assert plan is not None
        step.state, step.error, plan.state = "failed", "invalid", "on_hold"
    line = quotes.line(qid)  # a CREATE event carries the QuoteId
    tip = await run(org, db, intake, tip)
    assert (await steps_of(db, qid))["validate"] == "ready"
    async with db.read() as s:
        step = (
            await s.scalars(
                select(Step).join(Plan).where(Plan.order_id == qid, Step.key == "validate")
            )
        ).one()
    assert step.input["errors"] == []
    # an UPDATE of a line names no Quote: it is looked up while a Quote plan waits
    async with db.write() as s:
        step = (await s.scalars(select(Step).where(Step.id == step.id))).one()
        plan = await s.get(Plan, step.plan_id)
        assert plan is not None
        step.state, plan.state = "failed", "on_hold"
    before = org.usage.used
    quotes.set("QuoteLineItem", line, Quantity=3.0)
    await run(org, db, intake, tip)
    assert (await steps_of(db, qid))["validate"] == "ready"
    assert org.usage.used - before >= 2  # the line's Quote, then the Quote itself


async def test_line_updates_cost_no_call_when_no_quote_waits_for_data(env, org, db) -> None:
    quotes, intake = env
    qid = quotes.quote()
    tip = await run(org, db, intake)
    line = next(iter(org.records["QuoteLineItem"]))
    before = org.usage.used
    quotes.set("QuoteLineItem", line, Quantity=4.0)
    quotes.set("Quote", qid, Description="edited")
    await run(org, db, intake, tip)
    assert org.usage.used == before
    assert await planned(db) == []


async def test_gap_and_overflow_events_recover_quotes(env, org, db) -> None:
    quotes, intake = env
    gapped, overflowed, draft = quotes.quote("Approved"), quotes.quote("Accepted"), quotes.quote()
    line = next(k for k, v in org.records["QuoteLineItem"].items() if v["QuoteId"] == draft)
    await feed(
        db,
        [
            header_event("GAP_UPDATE", "Quote", [gapped], replay_id=1),
            header_event("GAP_OVERFLOW", "Quote", [], replay_id=2, commit_ms=0),
            header_event("GAP_UPDATE", "QuoteLineItem", [line], replay_id=3),
            header_event("GAP_DELETE", "Quote", ["0Q05e00000zzzzzAAA"], replay_id=4),
        ],
    )
    while await intake.process_batch():
        pass
    assert sorted(await planned(db)) == sorted([gapped, overflowed])  # draft: not a trigger
    found = [(i.kind, i.entity, i.recovery) for i in await incidents(db)]
    assert ("gap", "Quote", "re-read 1 Quote(s) over REST; 1 plan(s) created") in found
    assert any(k == "overflow" and r and r.endswith("2 plan(s) created") for k, _, r in found)
    assert any(e == "QuoteLineItem" and "re-read the Quotes of 1" in (r or "") for _, e, r in found)
    assert any(r and r.startswith("noted: Quote record(s) deleted") for _, _, r in found)


def test_reached_status_needs_the_status_to_change_to_a_trigger() -> None:
    def event(change_type: str, changed: list[str], **payload: Any) -> Any:
        e = header_event(change_type, "Quote", ["0Q0x"], changedFields=changed)
        e.payload.update(payload)
        return e

    statuses = ["Approved", "Accepted"]
    assert reached_status(event("CREATE", [], Status="Approved"), statuses)
    assert reached_status(event("UPDATE", ["Status"], Status="Accepted"), statuses)
    assert not reached_status(event("UPDATE", ["Name"], Status="Approved"), statuses)
    assert not reached_status(event("UPDATE", ["Status"], Status="Denied"), statuses)
    assert not reached_status(event("CREATE", [], Status="Draft"), statuses)
