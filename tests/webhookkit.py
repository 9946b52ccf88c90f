"""A local webhook receiver over loopback and a worker that sends to it through an
``EndpointGuard``, for the webhook endpoint tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import select

from revflow.config import WritebackSettings
from revflow.connectors.signing import generate_secret, verify
from revflow.connectors.webhook import WebhookConnector
from revflow.db.database import Database
from revflow.db.models import AuditEntry, Incident, Step, WebhookEndpoint
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.worker import Worker
from revflow.plans.definitions import PlanDefinition
from revflow.webhooks.endpoints import DisablePolicy
from revflow.webhooks.guard import EndpointGuard
from tests.plankit import insert_plan

SECRET = generate_secret()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ORDERS = [f"8015e00000Q7mNp{c}AA" for c in "ABCDEFGH"]


@dataclass
class Receiver:
    """Answers ``status`` (with ``headers``) and records each verified ``webhook-id``."""

    url: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg_id = verify(body, request.headers, [SECRET])  # a bad signature fails the test
        self.ids.append(msg_id)
        self.timestamps.append(request.headers["webhook-timestamp"])
        if 200 <= self.status < 300:
            return web.json_response({"id": f"SO-{len(self.ids)}"}, status=self.status)
        return web.json_response({"error": "nope"}, status=self.status, headers=self.headers)


@asynccontextmanager
async def hook_server(handler: Handler) -> AsyncIterator[str]:
    """A loopback HTTP server answering ``POST /hook`` with ``handler``; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/hook"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with hook_server(rec.handle) as url:
        rec.url = url
        try:
            yield rec
        finally:  # the connectors' own connection pools
            for guard in _GUARDS.pop(url, []):
                await guard.aclose()


_GUARDS: dict[str, list[EndpointGuard]] = {}  # by receiver URL, closed with the receiver


def guarded(db: Database, url: str, policy: DisablePolicy | None = None) -> EndpointGuard:
    guard = EndpointGuard(
        WebhookConnector(url, [SECRET], timeout_s=5.0), db, name="erp", url=url, policy=policy
    )
    _GUARDS.setdefault(url, []).append(guard)
    return guard


def worker(
    db: Database, guard: EndpointGuard, definitions: dict[str, PlanDefinition] | None = None
) -> Worker:
    return Worker(
        db,
        StepExecutor({"erp": guard}),
        definitions or {},
        WritebackSettings(),
        owner="w1",
        signal_poll_s=0.0,
    )


async def one_callout(db: Database, order_id: str, **extra: Any) -> int:
    return await insert_plan(
        db,
        [
            {"key": "so", "kind": "callout", "action": "sales_order.create", **extra},
            {"key": "done", "kind": "milestone", "depends_on": ["so"]},
        ],
        order_id=order_id,
    )


async def step(db: Database, plan_id: int, key: str = "so") -> Step:
    async with db.read() as s:
        return (await s.scalars(select(Step).where(Step.plan_id == plan_id, Step.key == key))).one()


async def endpoint(db: Database, name: str = "erp") -> WebhookEndpoint | None:
    async with db.read() as s:
        return (
            await s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.connector == name))
        ).one_or_none()


async def audit_actions(db: Database) -> list[AuditEntry]:
    async with db.read() as s:
        return list((await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def incidents(db: Database) -> list[Incident]:
    async with db.read() as s:
        return list((await s.scalars(select(Incident).order_by(Incident.id))).all())
