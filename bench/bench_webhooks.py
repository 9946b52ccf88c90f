"""Signed webhook deliveries to a local receiver (the sandbox ERP): rate and CPU per callout.

    python -m bench.bench_webhooks [--deliveries 3000] [--concurrency 64] [--repeat 3]
                                   [--client shared|own]

Each delivery is signed (Standard Webhooks, HMAC-SHA256), sent over a loopback
socket, verified by the receiver and answered with a document number.  The receiver
runs in its own process, so both figures are the sender's (Revflow's connector):
deliveries/s, and CPU µs per callout (this process's CPU time over the run, after a
warm-up that opens the connections).  CPU is the figure to compare on a shared
machine; wall-clock rates move with the neighbours.

``--client shared``: the connector is given an httpx client like the service's shared
one (``max_connections=50``, what the service passed it before); ``own``: the
connector's own aiohttp pool (what ``WebhookConnector`` uses when given no client,
as the service now builds it).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
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


async def _deliver(
    connector: WebhookConnector, first: int, count: int, concurrency: int
) -> tuple[float, float]:
    """Send ``count`` deliveries, at most ``concurrency`` at once: (wall s, CPU s)."""
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

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def bench(
    url: str, secret: str, deliveries: int, concurrency: int, client: str, repeat: int
) -> list[tuple[float, float]]:
    shared = None
    if client == "shared":  # as app/service.py builds it
        shared = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50))
    connector = WebhookConnector(url, [secret], http_client=shared)
    try:
        await _deliver(connector, 0, concurrency * 4, concurrency)  # warm-up: connections
        runs = []
        for r in range(repeat):
            runs.append(await _deliver(connector, (r + 1) * deliveries, deliveries, concurrency))
        return runs
    finally:
        await connector.aclose()
        if shared is not None:
            await shared.aclose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--client", choices=("shared", "own"), default="shared")
    args = ap.parse_args()
    secret = generate_secret()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    receiver = multiprocessing.Process(target=_serve, args=(secret, ports), daemon=True)
    receiver.start()
    port = ports.get(timeout=30)
    url = f"http://127.0.0.1:{port}/webhooks/erp"
    try:
        runs = asyncio.run(
            bench(url, secret, args.deliveries, args.concurrency, args.client, args.repeat)
        )
    finally:
        receiver.terminate()
    cpu_us = [cpu / args.deliveries * 1e6 for _, cpu in runs]
    for wall, cpu in runs:
        print(
            f"webhooks: client={args.client} deliveries={args.deliveries} "
            f"concurrency={args.concurrency} elapsed_s={wall:.2f} "
            f"deliveries_per_s={args.deliveries / wall:.0f} "
            f"cpu_us_per_callout={cpu / args.deliveries * 1e6:.0f}"
        )
    print(
        f"webhooks: client={args.client} cpu_us_per_callout median={statistics.median(cpu_us):.0f}"
        f" min={min(cpu_us):.0f} max={max(cpu_us):.0f} (runs={len(runs)})"
    )


if __name__ == "__main__":
    main()
