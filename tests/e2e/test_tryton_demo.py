"""End to end with a real ERP: sandbox org -> Revflow -> a real Tryton server.

The counts come from Tryton itself (sales per reference = Salesforce Order id).
"""

from __future__ import annotations

import pytest

pytest.importorskip("trytond")

from revflow.demo import DemoEnvironment, run_demo  # noqa: E402

pytestmark = pytest.mark.e2e


async def test_demo_against_tryton_completes_without_duplicates(database_url):
    overrides = {"worker": {"initial_interval_s": 0.2, "maximum_interval_s": 2.0}}
    async with DemoEnvironment(
        database_url=database_url, seed=3, erp="tryton", settings_overrides=overrides
    ) as env:
        ids = await env.create_orders(5)
        await env.activate(ids)
        assert await env.wait_until_done(ids, timeout_s=120, final=("Completed", "Failed"))
        summary = env.summary(ids, 1.0)

        assert [env.order_status(i) for i in ids] == ["Completed"] * 5, [
            env.order_error(i) for i in ids
        ]
        assert summary.erp_deliveries == 5
        assert summary.duplicate_deliveries == 0
        assert env.tryton is not None
        sales = env.tryton.sales_by_reference()
        orders = env.org.records["Order"]
        for oid in ids:
            (number,) = sales[oid]
            assert orders[oid]["ERP_Order_Number__c"] == number
            assert number.startswith("SO-")
        invoices = env.tryton.rpc(
            "model.account.invoice.search_read", [], 0, None, None, ["state", "number"]
        )
        assert sorted(i["state"] for i in invoices) == ["posted"] * 5


async def test_run_demo_with_tryton_summary_counts_tryton_sales(tmp_path):
    summary = await run_demo(2, timeout_s=120, erp="tryton", seed=4, amend=1)
    assert (summary.completed, summary.duplicate_deliveries) == (2, 0)
    # the amended order's newest Tryton sale holds its amended lines (or it was refused)
    assert summary.amended + summary.amend_refused == 1
    assert summary.erp_deliveries >= 2  # a revision made after the first sale adds one


async def test_quotes_beside_orders_become_tryton_quotations(database_url):
    async with DemoEnvironment(database_url=database_url, seed=9, erp="tryton", quotes=True) as env:
        order_ids = await env.create_orders(2)
        quote_ids = await env.create_quotes(3)
        await env.activate(order_ids)
        await env.approve(quote_ids)
        assert await env.wait_until_done(order_ids, timeout_s=120, final=("Completed",))
        assert await env.wait_for(quote_ids, env.quote_synced, 120), [
            env.quote_error(q) for q in quote_ids
        ]
        assert env.tryton is not None
        rows = env.tryton.rpc(
            "model.sale.sale.search_read",
            [("reference", "in", quote_ids)],
            0,
            None,
            None,
            ["reference", "number", "state"],
        )
        assert sorted(r["reference"] for r in rows) == sorted(quote_ids)  # one sale each
        assert {r["state"] for r in rows} == {"quotation"}
        for row in rows:
            assert env.quote_erp_number(row["reference"]) == row["number"]
