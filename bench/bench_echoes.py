"""CPU of the main process per echo: a write-back's own change event, received and
stored by the consumer, then whatever the intake does with it.

    python -m bench.bench_echoes [--echoes 4000] [--repeat 3] [--database-url URL]

Every status write-back comes back as an Order change event tagged with Revflow's
Call Options client; at the standard plan that is a few per order.  The bench feeds
synthetic echoes (the write-back flusher's shape: 200 records per transaction) to
``EventConsumer.handle_batch`` in batches of 200, and after each batch runs the
intake until its inbox is empty, as ``revflow run`` would once woken.  It prints
this process's CPU milliseconds per 1,000 echoes (``time.process_time``: the
database server's share is not in it), for the consumer and the intake apart.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from typing import Any

from bench.scratch import scratch_database
from revflow.config import load_settings
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.ingest.consumer import EventConsumer
from revflow.orchestration.intake import Intake
from revflow.plans.definitions import order_fulfillment
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.client import SalesforceClient

CHANNEL = "/data/OrderChangeEvent"
PER_CALL = 200  # records per write-back call: one Salesforce transaction


def echo(n: int) -> dict[str, Any]:
    """The change event of one record of a write-back call, as CometD delivers it."""
    header = {
        "entityName": "Order",
        "recordIds": [f"801{n:015d}"],
        "changeType": "UPDATE",
        "changeOrigin": "com/salesforce/api/rest/62.0;client=revflow",
        "transactionKey": f"tx-{n // PER_CALL}",
        "sequenceNumber": n % PER_CALL + 1,
        "commitTimestamp": 1_767_276_000_000 + n,
        "commitNumber": 1_124_590_988_100 + n,
        "commitUser": "005000000000001AAA",
        "changedFields": ["Fulfillment_Status__c", "LastModifiedDate"],
    }
    payload = {
        "ChangeEventHeader": header,
        "Fulfillment_Status__c": "Completed",
        "LastModifiedDate": "2026-12-04T12:00:00.000Z",
    }
    return {"channel": CHANNEL, "data": {"payload": payload, "event": {"replayId": n + 1}}}


async def one_run(url: str, echoes: int, offset: int) -> tuple[float, float]:
    """(consumer, intake) CPU seconds for ``echoes`` echoes."""
    settings = load_settings(
        database_url=url,
        ingest={"channels": [CHANNEL]},
        salesforce={
            "instance_url": "http://127.0.0.1:9",  # never called: echoes read nothing
            "auth": "client_credentials",
            "client_id": "unused",
            "client_secret": "unused",
        },
    )
    db = Database(url)
    client = SalesforceClient(TokenProvider(settings.salesforce), "62.0", "revflow")
    consumer = EventConsumer(db, None, settings)  # type: ignore[arg-type]
    definition = order_fulfillment(settings.order_mapping, settings.invoice_mapping)
    intake = Intake(db, client, settings, definition, dict)
    consumer_s = intake_s = 0.0
    for start in range(offset, offset + echoes, PER_CALL):
        batch = [echo(n) for n in range(start, min(start + PER_CALL, offset + echoes))]
        t0 = time.process_time()
        await consumer.handle_batch(batch, fenced=False)
        t1 = time.process_time()
        while await intake.process_batch():
            pass
        t2 = time.process_time()
        consumer_s += t1 - t0
        intake_s += t2 - t1
    await client.aclose()
    await db.dispose()
    return consumer_s, intake_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--echoes", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    with scratch_database(args.database_url, "echoes") as url:
        upgrade(url)
        asyncio.run(one_run(url, PER_CALL, 10**9))  # warm-up: caches, prepared statements
        for i in range(args.repeat):
            consumer_s, intake_s = asyncio.run(one_run(url, args.echoes, i * args.echoes))
            per_k = 1e6 / args.echoes  # seconds -> ms per 1,000 echoes
            print(
                f"echoes: n={args.echoes} consumer_cpu_ms_per_1000={consumer_s * per_k:.0f} "
                f"intake_cpu_ms_per_1000={intake_s * per_k:.0f} "
                f"total_cpu_ms_per_1000={(consumer_s + intake_s) * per_k:.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
