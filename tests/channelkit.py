"""Loopback receivers that answer like Slack and Teams incoming webhooks, and a sample
alert, for the alert channel tests.

``Catcher`` serves ``POST /hook`` on 127.0.0.1: it records each request (headers,
raw body, JSON) and answers the next scripted ``(status, body, headers)``, or, when
the script is empty, what the real service answers on success: Slack ``200 ok``
(after checking the body has ``text`` or ``blocks``, as Slack does: ``400
no_text``), Teams Workflows ``202``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from revflow.alerts.channels.base import Recipient, RecipientKind
from revflow.alerts.message import AlertMessage, EventKind, Severity

Answer = tuple[int, str, dict[str, str]]


@dataclass
class Caught:
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Catcher:
    kind: str  # "slack", "teams" or "plain"
    url: str = ""
    requests: list[Caught] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        caught = Caught(dict(request.headers), await request.read())
        self.requests.append(caught)
        if self.script:
            status, body, headers = self.script.pop(0)
            return web.Response(status=status, text=body, headers=headers)
        if self.kind == "slack":
            try:
                payload = caught.json
            except ValueError:
                return web.Response(status=400, text="invalid_payload")
            if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
                return web.Response(status=400, text="no_text")
            return web.Response(status=200, text="ok")
        if self.kind == "teams":
            return web.Response(status=202)
        return web.Response(status=204)


@asynccontextmanager
async def catcher(kind: str = "plain") -> AsyncIterator[Catcher]:
    rec = Catcher(kind)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


def sample_message(**changes: Any) -> AlertMessage:
    values: dict[str, Any] = {
        "alert_id": 42,
        "rule": "erp-fallout",
        "kind": EventKind.STEP_FALLOUT,
        "severity": Severity.ERROR,
        "title": "Step erp.create failed on order 00000123",
        "summary": "The ERP refused the sales order; the plan waits for an operator.",
        "created_at": datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        "order_id": "8015e00000Q7mNpAAJ",
        "order_number": "00000123",
        "account": "Acme <GmbH> & Co",
        "error_class": "ValidationError",
        "error_message": "customer VAT number missing",
        "plan_id": 7,
        "plan_url": "http://revflow.test/console/plans/7",
        "ack_url": "http://revflow.test/alerts/ack?token=abc",
        "step": "erp.create",
        "facts": (("Connector", "tryton"),),
    }
    values.update(changes)
    return AlertMessage(**values)


OWNER = Recipient(
    RecipientKind.OWNER,
    "Ada Lovelace",
    email="ada@example.test",
    salesforce_user_id="0055e000002DeMoAAK",
)
