"""Cut PostgreSQL away from a running Revflow for ~10 s: it reports not ready, naming its
loops, and when the database is back every order still ends Completed, each ERP
document created once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from revflow.demo import DemoEnvironment
from tests.conftest import PG_URL
from tests.e2e.test_pipeline import assert_exactly_one_document_per_order

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not PG_URL,
        reason="a database outage needs a database server to cut away: "
        "set REVFLOW_TEST_DATABASE_URL to a PostgreSQL database",
    ),
]

ORDERS = 40
OUTAGE_S = 10.0


def restarts(loop: str) -> float:
    return REGISTRY.get_sample_value("revflow_loop_restarts_total", {"loop": loop}) or 0.0


async def api_client(env: DemoEnvironment) -> httpx.AsyncClient:
    assert env.revflow is not None and env.revflow._server is not None
    server = env.revflow._server
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=10, headers=env.api_headers
    )


def down(body: dict[str, Any]) -> set[str]:
    loops = next(c for c in body["checks"] if c["name"] == "loops")
    return set(loops["data"]["down"])


async def readyz_until(
    api: httpx.AsyncClient, status: int, timeout_s: float, naming: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """/readyz's body once it answers ``status`` with ``naming`` among the loops down."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await api.get("/readyz")
        body: dict[str, Any] = response.json()
        if response.status_code == status and naming <= down(body):
            return body
        assert time.monotonic() < deadline, (status, naming, response.text)
        await asyncio.sleep(0.2)


async def test_database_outage_mid_run_loses_nothing_and_doubles_nothing(database_url):
    async with DemoEnvironment(
        database_url=database_url, seed=41, serve_api=True, database_proxy=True
    ) as env:
        assert env.proxy is not None
        loops = ("worker", "worker_commits", "intake", "consumer", "writeback")
        before = {loop: restarts(loop) for loop in loops}
        async with await api_client(env) as api:
            assert (await api.get("/readyz")).status_code == 200
            ids = await env.create_orders(ORDERS)
            first, second = ids[: ORDERS // 2], ids[ORDERS // 2 :]
            await env.activate(first)
            for _ in range(400):  # mid-run: some orders have a status, not all are done
                await asyncio.sleep(0.05)
                if any(env.order_status(i) for i in first):
                    break
            cut_at = time.monotonic()
            await env.proxy.cut()
            await env.activate(second)  # activated while the database is away

            # the loops that touch the database all the time are down, and named
            body = await readyz_until(api, 503, OUTAGE_S, naming=frozenset({"worker", "intake"}))
            checks = {c["name"]: c for c in body["checks"]}
            assert not checks["database"]["ok"]
            assert "database unavailable: ConnectionRefusedError" in body["detail"]
            assert "loops down: " in body["detail"] and "worker" in body["detail"]
            assert (await api.get("/healthz")).status_code == 200  # alive, only not ready

            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
            await env.proxy.restore()
            assert await env.wait_until_done(ids, timeout_s=180, final=("Completed",)), [
                env.order_status(i) for i in ids
            ]
            body = await readyz_until(api, 200, timeout_s=60)
            assert all(c["ok"] for c in body["checks"])
        assert_exactly_one_document_per_order(env, ids)
        assert env.proxy.cuts == 1
        # the loops that touch the database every moment failed and were restarted
        assert restarts("worker") > before["worker"]
        assert restarts("intake") > before["intake"]
