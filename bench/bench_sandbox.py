"""The sandbox org's own CPU per order as the org grows (no HTTP, no Revflow).

    python -m bench.bench_sandbox [--orders 1000,10000] [--repeat 3]

A fixed workload on ``RecordStore``: create N orders with 3 lines each, then in
chunks of 200 (as the capacity bench and Revflow do) activate them, read them with
their lines in one ``Id IN`` query and mark them Completed.  It prints CPU
milliseconds per order for the creation and for the rest; flat from 1,000 to
10,000 orders means no step grows with the org's size.  The org's HTTP layer,
change-event delivery and the ERP are not in it: ``bench_capacity`` measures all
of the sandbox's CPU in a real run.
"""

from __future__ import annotations

import argparse
import time

from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.soql import run_query

CHUNK = 200
LINES = 3


def one_run(orders: int) -> tuple[float, float]:
    """CPU ms per order: (creating, activating + reading + completing)."""
    store = RecordStore(SandboxOrg())
    account = store.create("Account", {"Name": "Acme"})
    product = store.create("Product2", {"Name": "Widget"})
    started = time.process_time()
    with store.transaction() as txn:
        ids = [
            store.create(
                "Order",
                {"AccountId": account, "EffectiveDate": "2026-12-01", "Status": "Draft"},
                txn=txn,
            )
            for _ in range(orders)
        ]
        for oid in ids:
            for n in range(LINES):
                line = {"OrderId": oid, "Product2Id": product, "Quantity": n + 1, "UnitPrice": 10}
                store.create("OrderItem", line, txn=txn)
    created = time.process_time()
    for start in range(0, orders, CHUNK):
        chunk = ids[start : start + CHUNK]
        with store.transaction() as txn:
            for oid in chunk:
                store.update("Order", oid, {"Status": "Activated"}, txn=txn)
        quoted = ", ".join(f"'{oid}'" for oid in chunk)
        found = run_query(
            store,
            "SELECT Id, Status, (SELECT Id, Quantity, UnitPrice FROM OrderItems) "
            f"FROM Order WHERE Id IN ({quoted})",
        )
        assert found["totalSize"] == len(chunk)
        with store.transaction() as txn:
            for oid in chunk:
                store.update("Order", oid, {"Fulfillment_Status__c": "Completed"}, txn=txn)
    done = time.process_time()
    return 1000 * (created - started) / orders, 1000 * (done - created) / orders


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for orders in (int(n) for n in args.orders.split(",")):
        for _ in range(args.repeat):
            create_ms, flow_ms = one_run(orders)
            print(
                f"sandbox: orders={orders} create_cpu_ms_per_order={create_ms:.3f} "
                f"flow_cpu_ms_per_order={flow_ms:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
