"""End to end over real loopback sockets: sandbox org -> CometD -> Revflow -> sandbox ERP
-> write-back -> the Order records in the sandbox org."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from revflow.demo import REVFLOW_APP, DemoEnvironment

pytestmark = pytest.mark.e2e

ORDERS = 50


async def run(env: DemoEnvironment, n: int = ORDERS) -> list[str]:
    ids = await env.create_orders(n)
    await env.activate(ids)
    assert await env.wait_until_done(ids, timeout_s=120, final=("Completed",)), (
        f"not all orders completed: {[env.order_status(i) for i in ids].count('Completed')}/{n}"
    )
    return ids


def assert_exactly_one_document_per_order(env: DemoEnvironment, ids: list[str]) -> None:
    stats = env.erp.stats()
    accepted = [d for d in env.erp.deliveries if d.status < 300]
    for doc_type in ("sales_order", "invoice"):
        per_order: dict[str, int] = {}
        for d in accepted:
            if d.type and d.type.startswith(doc_type):
                per_order[d.order_id or ""] = per_order.get(d.order_id or "", 0) + 1
        assert per_order == dict.fromkeys(ids, 1), f"{doc_type}: {per_order}"
    assert stats["duplicate_documents"] == []


@pytest.mark.parametrize("single_currency", [None, "GBP"], ids=["multicurrency", "one-currency"])
async def test_orders_flow_to_erp_and_back(database_url, single_currency):
    """Against a multicurrency org (orders in EUR) and against an org with one currency
    and no CurrencyIsoCode field at all, as most orgs are: the documents carry the
    org's currency."""
    async with DemoEnvironment(
        database_url=database_url, seed=1, single_currency=single_currency
    ) as env:
        ids = await run(env)
        assert_exactly_one_document_per_order(env, ids)
        orders = env.org.records["Order"]
        for oid in ids:
            assert orders[oid]["ERP_Order_Number__c"].startswith("SO-")
            assert orders[oid]["Fulfillment_Error__c"] in (None, "")
        currencies = {d.data.get("currency") for d in env.erp.documents.values()}
        assert currencies == {single_currency or "EUR"}
        # write-back is batched: far fewer REST calls than orders
        calls = env.org.usage.by_app[REVFLOW_APP]
        assert calls < ORDERS, calls


async def test_exactly_one_accepted_delivery_when_erp_fails_first_attempts(database_url):
    overrides = {"worker": {"initial_interval_s": 0.05, "maximum_interval_s": 0.5}}
    async with DemoEnvironment(
        database_url=database_url,
        seed=2,
        erp_fail_first_attempts=True,
        settings_overrides=overrides,
    ) as env:
        ids = await run(env)
        assert_exactly_one_document_per_order(env, ids)
        stats = env.erp.stats()
        assert stats["failed"] >= 2 * ORDERS  # every first attempt of both documents failed


async def test_erp_failing_a_share_of_deliveries(database_url):
    overrides = {"worker": {"initial_interval_s": 0.05, "maximum_interval_s": 0.5}}
    async with DemoEnvironment(
        database_url=database_url, seed=3, erp_fail_share=0.3, settings_overrides=overrides
    ) as env:
        ids = await run(env)
        assert_exactly_one_document_per_order(env, ids)
        assert env.erp.stats()["failed"] > 0


async def test_api_shows_the_plan(database_url):
    async with DemoEnvironment(database_url=database_url, seed=4, serve_api=True) as env:
        ids = await run(env, 3)
        server = env.revflow._server  # type: ignore[union-attr]
        port = server.servers[0].sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=env.api_headers
        ) as api:
            body = (await api.get(f"/api/orders/{ids[0]}")).json()
            assert body["plans"][0]["state"] == "completed"
            assert [s["key"] for s in body["plans"][0]["steps"]] == [
                "validate",
                "create_sales_order",
                "create_invoice",
            ]
            assert (await api.get("/api/orders/not-an-id")).status_code == 400
            assert (await api.get("/api/orders/801000000000000AAA")).status_code == 404
            assert (await api.get("/healthz")).json() == {"status": "ok"}
            assert (await api.get("/readyz")).status_code == 200
            assert "revflow_steps_executed_total" in (await api.get("/metrics")).text


async def test_validation_failure_holds_until_the_order_is_fixed(database_url):
    """A rule failure puts the plan on hold with the rule's text on the Order; it is not
    retried until the order changes, and then it is, without an operator."""
    async with DemoEnvironment(database_url=database_url, seed=5) as env:
        (good, bad) = await env.create_orders(2)
        await env._rest("PATCH", f"sobjects/Order/{bad}", json={"PoNumber": "PO#42!"})
        await env.activate([good, bad])
        assert await env.wait_until_done([good], timeout_s=60, final=("Completed",))
        assert await env.wait_until_done([bad], timeout_s=60, final=("On Hold",))
        order = env.org.records["Order"][bad]
        assert "rule 'pattern' failed on PoNumber" in order["Fulfillment_Error__c"]
        assert env.erp.stats()["documents"]["sales_order"].get(bad) is None
        # nothing changes, nothing is retried: the ERP sees nothing for it
        await asyncio.sleep(1.0)
        assert env.order_status(bad) == "On Hold"
        # the user fixes the PO number: the plan continues by itself
        await env._rest("PATCH", f"sobjects/Order/{bad}", json={"PoNumber": "PO-42"})
        assert await env.wait_until_done([bad], timeout_s=60, final=("Completed",))
        assert env.erp.stats()["documents"]["sales_order"][bad] == 1
