"""Signed webhook deliveries per second to a local receiver (the sandbox ERP).

    python -m bench.bench_webhooks [--deliveries 3000] [--concurrency 64]

Each delivery is signed (Standard Webhooks, HMAC-SHA256), sent over a loopback
socket, verified by the receiver and answered with a document number.  The receiver
runs in its own process, so the figure is the sender's (Revflow's connector) rate.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

import httpx

from revflow.connectors.base import CallContext
from revflow.connectors.signing import generate_secret
from revflow.connectors.webhook import WebhookConnector
from revflow.sandbox.erp import SandboxErp
from revflow.sandbox.server import start_erp


def _serve(secret: str, port_out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        server = await start_erp(SandboxErp(secrets=[secret]))
        port_out.put(server.port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def bench(url: str, secret: str, deliveries: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        connector = WebhookConnector(url, [secret], http_client=http)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            ctx = CallContext(
                idempotency_key=f"bench-{i}",
                correlation_id=f"c-{i}",
                attempt=1,
                action="sales_order.create",
                timeout_s=30,
            )
            async with gate:
                await connector.call("sales_order.create", {"external_id": f"801{i:012d}AAA"}, ctx)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(deliveries)))
        return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    secret = generate_secret()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    receiver = multiprocessing.Process(target=_serve, args=(secret, ports), daemon=True)
    receiver.start()
    port = ports.get(timeout=30)
    try:
        elapsed = asyncio.run(
            bench(
                f"http://127.0.0.1:{port}/webhooks/erp", secret, args.deliveries, args.concurrency
            )
        )
    finally:
        receiver.terminate()
    print(
        f"webhooks: deliveries={args.deliveries} concurrency={args.concurrency} "
        f"elapsed_s={elapsed:.2f} deliveries_per_s={args.deliveries / elapsed:.0f}"
    )


if __name__ == "__main__":
    main()
