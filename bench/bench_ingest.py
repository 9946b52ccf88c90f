"""Events per second from the sandbox org into Revflow's inbox, per transport.

    python -m bench.bench_ingest [--events 5000] [--transport cometd|pubsub]
                                 [--database-url URL]

Fills the org's event bus with Order change events (real record updates), then
runs the consumer alone (no intake, no worker) from the earliest retained event and
times how long it takes until every event is recorded in the inbox, each batch in
one transaction with its replay id.  Without a URL it runs on a scratch SQLite file; a
PostgreSQL URL names the server: the run uses a scratch database beside the named one
and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from typing import Any

from sqlalchemy import func, select

from bench.scratch import scratch_database
from revflow.config import load_settings
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.db.models import ReceivedEvent
from revflow.ingest.consumer import EventConsumer
from revflow.salesforce.auth import TokenProvider
from revflow.sandbox.org import INTEGRATION_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.server import start_org


def fill(org: SandboxOrg, events: int) -> None:
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Bench"}, user_id=INTEGRATION_USER_ID)
    orders = [
        store.create(
            "Order",
            {"AccountId": account, "Status": "Draft", "EffectiveDate": "2026-12-01"},
            user_id=INTEGRATION_USER_ID,
        )
        for _ in range(max(1, events // 10))
    ]
    existing = len(org.events.all_events(["/data/OrderChangeEvent"]))
    for i in range(max(0, events - existing)):  # each update is one change event
        store.update(
            "Order",
            orders[i % len(orders)],
            {"Description": f"rev {i}"},
            user_id=INTEGRATION_USER_ID,
        )


async def bench(events: int, transport: str, url: str) -> dict[str, Any]:
    org = SandboxOrg()
    org.faults.cometd_timeout_s = 5
    org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="cs"))
    server = await start_org(org)
    pubsub = None
    ingest: dict[str, Any] = {"transport": transport, "initial_replay": "earliest"}
    if transport == "pubsub":
        from revflow.sandbox.pubsub import start_pubsub

        pubsub = await start_pubsub(org)
        ingest.update(pubsub_endpoint=pubsub.target, pubsub_tls=False)
    fill(org, events)
    total = len(org.events.all_events(["/data/OrderChangeEvent"]))
    settings = load_settings(
        database_url=url,
        ingest=ingest,
        salesforce={
            "instance_url": org.instance_url,
            "auth": "client_credentials",
            "client_id": "ck",
            "client_secret": "cs",
        },
    )
    db = Database(url)
    consumer = EventConsumer(db, TokenProvider(settings.salesforce), settings)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run(stop))
    while True:
        async with db.read() as s:
            n = await s.scalar(select(func.count()).select_from(ReceivedEvent))
        assert n is not None  # count(*) always returns a row
        if n >= total:
            break
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.wait_for(task, 30)
    await db.dispose()
    if pubsub is not None:
        await pubsub.close()
    await server.close()
    return {"events": total, "elapsed_s": round(elapsed, 3), "events_per_s": round(total / elapsed)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--transport", choices=["cometd", "pubsub"], default="cometd")
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    with scratch_database(args.database_url, "ingest") as url:
        upgrade(url)
        r = asyncio.run(bench(args.events, args.transport, url))
    db = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(
        f"ingest: transport={args.transport} database={db} events={r['events']} "
        f"elapsed_s={r['elapsed_s']} events_per_s={r['events_per_s']}"
    )


if __name__ == "__main__":
    main()
