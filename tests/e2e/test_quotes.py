"""Quotes beside Orders, end to end over real loopback sockets: the sandbox org emits
Quote and QuoteLineItem change events (CometD or Pub/Sub), Revflow plans approved
Quotes with the shipped quote_to_erp plan, the sandbox ERP creates one quotation per
Quote, and status, ERP quote number and errors land on the Quote records."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from revflow.db.models import Plan, ReceivedEvent
from revflow.demo import REVFLOW_APP, DemoEnvironment
from revflow.sandbox.org import DEMO_USER_ID
from revflow.sandbox.records import RecordStore
from revflow.sandbox.validation import ValidationRule

pytestmark = pytest.mark.e2e

ORDERS = 20
QUOTES = 20


def documents(env: DemoEnvironment, doc_type: str) -> dict[str, int]:
    """Accepted deliveries of ``doc_type`` per Salesforce record id."""
    per: dict[str, int] = {}
    for d in env.erp.deliveries:
        if d.status < 300 and d.type == f"{doc_type}.create":
            per[d.order_id or ""] = per.get(d.order_id or "", 0) + 1
    return per


@pytest.mark.parametrize("transport", ["cometd", "pubsub"])
async def test_quotes_sync_beside_orders(database_url: str, transport: str) -> None:
    async with DemoEnvironment(
        database_url=database_url, seed=5, transport=transport, quotes=True
    ) as env:
        order_ids = await env.create_orders(ORDERS)
        quote_ids = await env.create_quotes(QUOTES)
        await env.activate(order_ids)
        await env.approve(quote_ids)
        assert await env.wait_until_done(order_ids, timeout_s=120, final=("Completed",))
        assert await env.wait_for(quote_ids, env.quote_synced, timeout_s=120), [
            (env.quote_status(q), env.quote_error(q)) for q in quote_ids
        ]
        # Accepted is a trigger status too, but a Quote with a plan is not planned again
        await env.approve(quote_ids[:5], status="Accepted")
        for doc_type, ids in (("sales_order", order_ids), ("quote", quote_ids)):
            assert documents(env, doc_type) == dict.fromkeys(ids, 1), doc_type
        assert env.erp.stats()["duplicate_documents"] == []
        quotes = env.org.records["Quote"]
        lines = env.org.records["QuoteLineItem"]
        for qid in quote_ids:
            assert quotes[qid]["ERP_Quote_Number__c"].startswith("QT-")
            assert quotes[qid]["Fulfillment_Error__c"] in (None, "")
            doc = env.erp.documents[quotes[qid]["ERP_Quote_Number__c"]]
            assert doc.data["quote_number"] == quotes[qid]["QuoteNumber"]
            own = [ln for ln in lines.values() if ln["QuoteId"] == qid]
            assert len(doc.data["lines"]) == len(own)
        orders = env.org.records["Order"]
        assert all(orders[o]["ERP_Order_Number__c"].startswith("SO-") for o in order_ids)
        # the write-back is batched and coalesced for Quotes too
        calls = env.org.usage.by_app[REVFLOW_APP]
        assert calls < ORDERS + QUOTES, calls
        revflow = env.revflow
        assert revflow is not None
        async with revflow.db.read() as s:
            plans = (await s.scalars(select(Plan).where(Plan.order_id.in_(quote_ids)))).all()
        assert {p.definition for p in plans} == {"quote_to_erp"}
        assert len(plans) == QUOTES
        # Revflow's own writes onto the Quotes come back as change events: echoes
        assert await _echoed(env)


async def _echoed(env: DemoEnvironment, timeout_s: float = 30.0) -> bool:
    """Whether an event about a Quote was skipped as Revflow's own write, waiting for it."""
    revflow = env.revflow
    assert revflow is not None

    async def seen() -> bool:
        async with revflow.db.read() as s:
            q = select(ReceivedEvent.note).where(ReceivedEvent.entity == "Quote")
            notes = (await s.scalars(q)).all()
        return any(n and n.startswith("echo of Revflow's own write") for n in notes)

    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await seen():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def test_a_quote_approved_without_lines_waits_for_them(database_url: str) -> None:
    """Validation fails (the mapping needs a line): the Quote shows On Hold and why;
    adding a line is a change of the Quote's data, so validation runs again."""
    async with DemoEnvironment(database_url=database_url, seed=6, quotes=True) as env:
        [template] = await env.create_quotes(1)  # for its account and a product
        store = RecordStore(env.org)
        line = next(iter(env.org.records["QuoteLineItem"].values()))
        account = env.org.records["Quote"][template]["AccountId"]
        qid = store.create(
            "Quote",
            {"Name": "Bare", "AccountId": account, "Status": "Approved", "CurrencyIsoCode": "EUR"},
            user_id=DEMO_USER_ID,
        )
        assert await env.wait_for([qid], lambda q: env.quote_status(q) == "On Hold", 60)
        assert "a quote needs at least one line item" in (env.quote_error(qid) or "")
        store.create(
            "QuoteLineItem",
            {
                "QuoteId": qid,
                "Product2Id": line["Product2Id"],
                "Quantity": 2.0,
                "UnitPrice": 10.0,
                "ListPrice": 10.0,
            },
            user_id=DEMO_USER_ID,
        )
        assert await env.wait_for([qid], env.quote_synced, 60), env.quote_error(qid)
        assert env.quote_error(qid) in (None, "")
        assert documents(env, "quote") == {qid: 1}


async def test_quotes_in_other_statuses_get_no_plan_and_refusals_show(database_url: str) -> None:
    """Only the configured statuses start a plan; a Quote whose Completed the org's
    validation rule refuses shows the refusal in its error field."""
    async with DemoEnvironment(database_url=database_url, seed=8, quotes=True) as env:
        reviewed, refused = await env.create_quotes(2)
        env.org.faults.validation_rules.append(
            ValidationRule("Fulfillment_Status__c", "Completed", sobject="Quote", records=[refused])
        )
        await env.approve([reviewed], status="Needs Review")
        await env.approve([refused])
        assert await env.wait_for(
            [refused],
            lambda q: (env.quote_error(q) or "").startswith("Salesforce refused the update"),
            60,
        ), env.quote_error(refused)
        assert env.quote_status(refused) != "Completed"
        # the ERP quote exists; its number was refused with the status, and the notice says so
        assert "ERP_Quote_Number__c = 'QT-" in (env.quote_error(refused) or "")
        assert env.quote_status(reviewed) is None
        assert documents(env, "quote") == {refused: 1}
        await env.approve([reviewed])  # approved after review: now it syncs
        assert await env.wait_for([reviewed], env.quote_synced, 60)
