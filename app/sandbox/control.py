"""The ``/_sandbox/`` control API: stats, fault switches, expiring sessions and replay ids."""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from typing import Any

from aiohttp import web

from revflow.sandbox.chaos import expire_replay_ids
from revflow.sandbox.org import Faults, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.validation import parse_rules


def _fault_value(faults: Faults, key: str, value: Any) -> Any:
    """Validate one ``/_sandbox/faults`` change: flags bool, shares in [0, 1], seed int."""
    if key not in {f.name for f in fields(Faults)}:
        raise ValueError(f"unknown fault {key!r}")
    current = getattr(faults, key)
    if key == "validation_rules":
        return parse_rules(value)
    if key == "record_errors":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and re.fullmatch(r"[A-Z_]+", v)
            for k, v in value.items()
        ):
            raise ValueError(f"bad value for {key!r}: {value!r} (want {{key: ERROR_CODE}})")
        return dict(value)
    if key == "seed":
        ok = value is None or type(value) is int
    elif isinstance(current, bool):
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        ok = ok and (key == "cometd_timeout_s" or value <= 1)
    if not ok:
        raise ValueError(f"bad value for {key!r}: {value!r}")
    return value if key == "seed" or isinstance(current, bool) else float(value)


def add_control_routes(app: web.Application, org: SandboxOrg, store: RecordStore) -> None:
    """Register the ``/_sandbox/...`` routes for ``org`` on ``app``."""

    async def stats(request: web.Request) -> web.Response:
        channels = sorted(org.events.known_channels)
        return web.json_response(
            {
                "api_usage": {
                    "used": org.usage.used,
                    "daily_limit": org.usage.daily_limit,
                    "by_app": dict(org.usage.by_app),
                },
                "records": store.counts(),
                "faults_injected": dict(org.faults_injected),
                "faults": asdict(org.faults),
                "events": {c: len(org.events.all_events([c])) for c in channels},
                "sessions": len(org.sessions),
            }
        )

    async def set_faults(request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            values = {key: _fault_value(org.faults, key, value) for key, value in changes.items()}
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        for key, value in values.items():
            setattr(org.faults, key, value)
        return web.json_response(asdict(org.faults))

    async def expire_events(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            keep_last = body.get("keep_last", 0) if isinstance(body, dict) else None
            if type(keep_last) is not int or keep_last < 0:
                raise ValueError(f"bad keep_last: {keep_last!r}")
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"dropped": expire_replay_ids(org, keep_last)})

    async def expire_sessions(request: web.Request) -> web.Response:
        revoked = len(org.sessions)
        org.revoke_all()
        org.note_fault("expire_sessions")
        return web.json_response({"revoked": revoked})

    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/expire-sessions", expire_sessions)
    app.router.add_post("/_sandbox/expire-events", expire_events)
