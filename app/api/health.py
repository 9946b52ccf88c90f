"""Liveness and readiness probes.

``/healthz`` answers while the process and its event loop respond: a liveness probe
(restart the process when it fails).  ``/readyz`` runs a list of named checks (the
database, the supervised loops, whatever the service adds) and answers 503 naming
the failing ones: a readiness probe (alert, route operators elsewhere; do not restart
for it, a database outage is not cured by a restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from revflow.db.database import Database, ping
from revflow.incidents import describe as describe_incident
from revflow.incidents import open_blocking_incidents
from revflow.ingest.leases import ChannelLeases
from revflow.supervisor import Supervisor, describe


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str = ""  # one line: what is wrong
    data: dict[str, Any] = field(default_factory=dict)


ReadinessCheck = Callable[[], Awaitable[CheckResult]]


def database_check(db: Database, timeout_s: float = 2.0) -> ReadinessCheck:
    """The database answers ``SELECT 1`` within ``timeout_s``."""

    async def check() -> CheckResult:
        try:
            async with asyncio.timeout(timeout_s), db.read() as s:
                await ping(s)
        except Exception as exc:
            return CheckResult("database", False, f"database unavailable: {describe(exc)}")
        return CheckResult("database", True)

    return check


def loops_check(supervisor: Supervisor) -> ReadinessCheck:
    """Every supervised loop runs and has made progress within its limit."""

    async def check() -> CheckResult:
        report = supervisor.report()
        problems = []
        if report.down:
            problems.append("loops down: " + ", ".join(report.down))
        if report.stale:
            problems.append("loops without progress: " + ", ".join(report.stale))
        data = {"down": report.down, "stale": report.stale, "loops": report.loops}
        return CheckResult("loops", report.ok, "; ".join(problems), data)

    return check


def incidents_check(db: Database) -> ReadinessCheck:
    """No blocking incident is open (an error waiting will not fix: a field the org
    lacks, a missing permission)."""

    async def check() -> CheckResult:
        try:
            async with db.read() as s:
                blocking = await open_blocking_incidents(s)
        except Exception as exc:  # the database check names the outage
            return CheckResult("incidents", True, data={"unknown": describe(exc)})
        keys = [i.key for i in blocking]
        detail = "incident open: " + "; ".join(map(describe_incident, blocking))
        return CheckResult("incidents", not blocking, detail if blocking else "", {"open": keys})

    return check


def health_router(checks: Sequence[ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up and its event loop answers (liveness)."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        responses={503: {"description": "not ready: `detail` names the failing checks"}},
    )
    async def readyz() -> JSONResponse:
        """Every check passes (readiness): the database answers, every loop progresses."""
        results = await asyncio.gather(*(check() for check in checks))
        body: dict[str, Any] = {
            "status": "ready",
            "checks": [asdict(r) for r in results],
        }
        failing = [r for r in results if not r.ok]
        if not failing:
            return JSONResponse(body)
        body["status"] = "not ready"
        body["detail"] = "; ".join(r.detail or r.name for r in failing)
        return JSONResponse(body, status_code=503)

    return router


def lease_check(*leases: ChannelLeases, timeout_s: float = 2.0) -> ReadinessCheck:
    """Which process holds each of ``leases`` (intake's, the write-back's); always
    ready: standing by is healthy.  The owner is this process's (the first lease's)."""

    async def check() -> CheckResult:
        try:
            async with asyncio.timeout(timeout_s):
                holders = await leases[0].holders()
        except Exception:  # the database check names the outage
            holders = {}
        held = {name: holders.get(name) for lease in leases for name in lease.channels}
        return CheckResult("leases", True, data={"owner": leases[0].owner, "holders": held})

    return check
