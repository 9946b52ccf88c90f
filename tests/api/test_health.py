"""/healthz is liveness; /readyz lists named checks and answers 503 naming what fails."""

from __future__ import annotations

import asyncio

import httpx

from revflow.aio import Beat
from revflow.api.app import create_app
from revflow.api.health import CheckResult, lease_check, loops_check
from revflow.db.database import Database
from revflow.ingest.leases import ChannelLeases
from revflow.ingest.singleton import INTAKE_LEASE, WRITEBACK_LEASE
from revflow.plans.retry import RetryPolicy
from revflow.sandbox.tcp_proxy import TcpProxy
from revflow.supervisor import Supervisor
from tests.conftest import PG_URL


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")  # type: ignore[arg-type]


async def test_ready_lists_every_check(db: Database) -> None:
    async def extra() -> CheckResult:
        return CheckResult("incidents", True)

    async with client(create_app(db, readiness=[extra])) as api:
        response = await api.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ready"
        assert [(c["name"], c["ok"]) for c in body["checks"]] == [
            ("database", True),
            ("incidents", True),
        ]
        assert (await api.get("/healthz")).json() == {"status": "ok"}


async def test_a_failing_loop_makes_readyz_503_naming_it(db: Database) -> None:
    stop = asyncio.Event()

    async def healthy(stop: asyncio.Event, beat: Beat) -> None:
        while not stop.is_set():
            beat()
            await asyncio.sleep(0.01)

    async def failing(stop: asyncio.Event, beat: Beat) -> None:
        raise ConnectionResetError("connection reset by peer")

    supervisor = Supervisor(RetryPolicy(initial_interval_s=60, jitter=0))
    supervisor.add("intake", healthy, interval_s=0.1)
    supervisor.add("writeback", failing, interval_s=1.0)
    supervisor.start(stop)
    await asyncio.sleep(0.05)
    async with client(create_app(db, readiness=[loops_check(supervisor)])) as api:
        response = await api.get("/readyz")
        assert (await api.get("/healthz")).status_code == 200
    stop.set()
    await supervisor.wait(5)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["detail"] == "loops down: writeback"
    loops = next(c for c in body["checks"] if c["name"] == "loops")
    assert loops["data"]["down"] == ["writeback"] and loops["data"]["stale"] == []
    assert loops["data"]["loops"]["writeback"]["error"] == (
        "ConnectionResetError: connection reset by peer"
    )
    assert loops["data"]["loops"]["intake"]["state"] == "up"


async def test_unreachable_database_makes_readyz_503(database_url: str) -> None:
    """Through a cut proxy on PostgreSQL; a SQLite file that cannot be opened otherwise."""
    proxy = None
    if PG_URL:
        proxy = TcpProxy.for_url(database_url)
        await proxy.start()
        url = proxy.proxied(database_url)
    else:
        url = "sqlite+aiosqlite:////nonexistent-dir/revflow.sqlite"
    db = Database(url)
    try:
        if proxy is not None:
            await proxy.cut()
        async with client(create_app(db)) as api:
            response = await api.get("/readyz")
            assert (await api.get("/healthz")).status_code == 200
    finally:
        await db.dispose()
        if proxy is not None:
            await proxy.close()
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database unavailable: ")


async def test_readyz_names_the_intake_and_writeback_leases_holders(db: Database) -> None:
    lease = ChannelLeases(db, "host:1", [INTAKE_LEASE], 30.0)
    other = ChannelLeases(db, "host:2", [WRITEBACK_LEASE], 30.0)
    assert await other.acquire()
    async with client(create_app(db, readiness=[lease_check(lease, other)])) as api:
        before = next(
            c for c in (await api.get("/readyz")).json()["checks"] if c["name"] == "leases"
        )
        assert await lease.acquire()
        response = await api.get("/readyz")
    assert before["data"] == {
        "owner": "host:1",
        "holders": {INTAKE_LEASE: None, WRITEBACK_LEASE: "host:2"},
    }
    assert response.status_code == 200  # holding or standing by, both are ready
    held = next(c for c in response.json()["checks"] if c["name"] == "leases")
    assert held["ok"]
    assert held["data"]["holders"] == {INTAKE_LEASE: "host:1", WRITEBACK_LEASE: "host:2"}
