"""The sandbox org's REST API under ``/services/data/vXX.X/``: routing, describe, records, queries.

Each request is one transaction: its record changes commit together (one
``transactionKey`` in the change events) after the handler finishes.  Composite
subrequests go through the same dispatcher, inside the request's transaction.
sObject Collections, Composite and the ``/_sandbox/`` control API live in their own
modules (``rest_collections``, ``rest_composite``, ``control``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from revflow.sandbox.control import add_control_routes
from revflow.sandbox.ids import new_id
from revflow.sandbox.notifications import notification_routes
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.rest_base import DEFAULT_BATCH, NOT_FOUND, Ctx, Reply, error_reply, publish
from revflow.sandbox.rest_collections import Collections
from revflow.sandbox.rest_composite import Composite
from revflow.sandbox.rest_faults import lock_fault, lock_target, write_faults
from revflow.sandbox.schema import (
    PLATFORM_EVENTS,
    SOBJECTS,
    PlatformEventType,
    SfError,
    SObjectType,
    platform_event,
    sobject,
)
from revflow.sandbox.soql import run_query
from revflow.sandbox.tooling import tooling_routes


def call_options_client(header: str | None) -> str | None:
    """The ``client=`` value of a ``Sforce-Call-Options`` header."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip() == "client" and value.strip():
            return value.strip()
    return None


class RestApi:
    """Routing and handlers for one org (usable without HTTP via ``dispatch``)."""

    def __init__(self, org: SandboxOrg) -> None:
        self.org = org
        self.store = RecordStore(org)
        self.cursors: dict[str, tuple[list[dict[str, Any]], int, int]] = {}
        R = Callable[[Ctx, Mapping[str, str], Any, dict[str, str]], Reply]
        self.routes: list[tuple[str, re.Pattern[str], R]] = [
            ("GET", re.compile(r"/?"), self.resources),
            ("GET", re.compile(r"/limits/?"), self.limits),
            ("GET", re.compile(r"/sobjects/?"), self.describe_global),
            ("GET", re.compile(r"/sobjects/(?P<type>\w+)/describe/?"), self.describe),
            ("GET", re.compile(r"/sobjects/(?P<type>\w+)/(?P<id>\w+)/?"), self.get_record),
            ("POST", re.compile(r"/sobjects/(?P<type>\w+)/?"), self.create_record),
            ("PATCH", re.compile(r"/sobjects/(?P<type>\w+)/(?P<id>\w+)/?"), self.update_record),
            ("DELETE", re.compile(r"/sobjects/(?P<type>\w+)/(?P<id>\w+)/?"), self.delete_record),
            ("GET", re.compile(r"/query/?"), self.query),
            ("GET", re.compile(r"/queryAll/?"), self.query_all),
            ("GET", re.compile(r"/query/(?P<locator>01g\w+-\d+)/?"), self.query_more),
            *Collections(org, self.store).routes(),
            (
                "POST",
                re.compile(r"/composite/?"),
                Composite(org, self.store, self.dispatch).composite,
            ),
            *tooling_routes(self.store, Reply),
            *notification_routes(org, self.store, Reply),
        ]

    # ---- dispatch -----------------------------------------------------------------
    def dispatch(
        self, ctx: Ctx, method: str, path: str, query: Mapping[str, str], body: Any
    ) -> Reply:
        """Route ``method path`` (relative to ``/services/data/vXX.X``); errors become replies."""
        allowed: list[str] = []
        for route_method, pattern, handler in self.routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            allowed.append(route_method)
            if route_method != method:
                continue
            try:
                return handler(ctx, query, body, m.groupdict())
            except SfError as exc:
                return error_reply(exc)
        if allowed:
            message = f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}"
            return Reply(405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": message}])
        return error_reply(NOT_FOUND)

    # ---- misc resources -----------------------------------------------------------
    def resources(self, ctx: Ctx, *_: Any) -> Reply:
        base = f"/services/data/v{ctx.version}"
        names = ("sobjects", "query", "queryAll", "composite", "limits")
        return Reply(200, {name: f"{base}/{name}" for name in names})

    def limits(self, ctx: Ctx, *_: Any) -> Reply:
        usage = self.org.usage
        return Reply(
            200,
            {
                "DailyApiRequests": {
                    "Max": usage.daily_limit,
                    "Remaining": max(0, usage.daily_limit - usage.used),
                }
            },
        )

    def describe_global(self, ctx: Ctx, *_: Any) -> Reply:
        entries = [
            {
                "name": t.name,
                "keyPrefix": t.key_prefix,
                "custom": False,
                "createable": True,
                "queryable": True,
            }
            for t in SOBJECTS.values()
        ]
        entries += [
            {
                "name": e.name,
                "keyPrefix": e.key_prefix,
                "custom": True,
                "createable": True,
                "queryable": False,
            }
            for e in PLATFORM_EVENTS.values()
        ]
        return Reply(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": entries})

    def describe(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        t: SObjectType | PlatformEventType | None = sobject(p["type"]) or platform_event(p["type"])
        if t is None:
            raise NOT_FOUND
        out_fields = [
            {
                "name": f.name,
                "type": f.type,
                "length": f.length,
                "custom": f.name.endswith("__c"),
                "nillable": not f.required,
                "createable": f.createable and not self.org.read_only(t.name, f.name),
                "updateable": f.updateable and not self.org.read_only(t.name, f.name),
                "referenceTo": [f.reference_to] if f.reference_to else [],
                "relationshipName": f.relationship_name,
                "compoundFieldName": f.compound,
                "picklistValues": [{"value": v, "label": v, "active": True} for v in f.picklist],
                "restrictedPicklist": f.restricted,
            }
            for f in t.fields.values()
            if not self.org.lacks(t.name, f.name)
        ]
        children = []
        if isinstance(t, SObjectType):
            children = [
                {"childSObject": c, "field": fk, "relationshipName": rel}
                for rel, (c, fk) in t.children.items()
            ]
        return Reply(
            200,
            {
                "name": t.name,
                "keyPrefix": t.key_prefix,
                "fields": out_fields,
                "childRelationships": children,
            },
        )

    # ---- single records -----------------------------------------------------------
    def get_record(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        wanted = [f.strip() for f in q["fields"].split(",") if f.strip()] if "fields" in q else None
        return Reply(200, self.store.get(p["type"], p["id"], wanted, ctx.version))

    def create_record(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        if not isinstance(body, dict):
            raise SfError(
                "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from request"
            )
        event = platform_event(p["type"])
        if event is not None:
            write_faults(self.org, event.name, None, body)
            return Reply(201, publish(self.store, ctx, event.name, body))
        t = self.store.type_of(p["type"])
        write_faults(self.org, t.name, None, body)
        lock_fault(self.org, lock_target(t, body))
        rid = self.store.create(t.name, body, txn=ctx.txn)
        location = f"/services/data/v{ctx.version}/sobjects/{t.name}/{rid}"
        return Reply(201, {"id": rid, "success": True, "errors": []}, {"Location": location})

    def update_record(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        if not isinstance(body, dict):
            raise SfError(
                "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from request"
            )
        record = self.store.find(p["type"], p["id"])
        write_faults(self.org, self.store.type_of(p["type"]).name, record["Id"], body)
        lock_fault(self.org, record["Id"])
        self.store.update(p["type"], record["Id"], body, txn=ctx.txn)
        return Reply(204)

    def delete_record(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        record = self.store.find(p["type"], p["id"])
        lock_fault(self.org, record["Id"])
        self.store.delete(p["type"], record["Id"], txn=ctx.txn)
        return Reply(204)

    # ---- queries ------------------------------------------------------------------
    def query(self, ctx: Ctx, q: Mapping[str, str], *_: Any, all_rows: bool = False) -> Reply:
        if not q.get("q"):
            raise SfError("MALFORMED_QUERY", "A query string has to be specified")
        result = run_query(self.store, q["q"], ctx.version, include_deleted=all_rows)
        records = result["records"]
        if len(records) <= ctx.batch_size:
            return Reply(200, result)
        locator = new_id("QueryLocator")
        self.cursors[locator] = (records, ctx.batch_size, result["totalSize"])
        return Reply(200, self._page(ctx, locator, 0))

    def query_all(self, ctx: Ctx, q: Mapping[str, str], *_: Any) -> Reply:
        return self.query(ctx, q, all_rows=True)

    def query_more(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        locator, _, offset = p["locator"].partition("-")
        if locator not in self.cursors or int(offset) >= len(self.cursors[locator][0]):
            raise SfError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return Reply(200, self._page(ctx, locator, int(offset)))

    def _page(self, ctx: Ctx, locator: str, offset: int) -> dict[str, Any]:
        records, size, total = self.cursors[locator]
        end = offset + size
        page: dict[str, Any] = {"totalSize": total, "done": end >= len(records)}
        if end < len(records):
            page["nextRecordsUrl"] = f"/services/data/v{ctx.version}/query/{locator}-{end}"
        else:
            del self.cursors[locator]
        page["records"] = records[offset:end]
        return page


def add_rest_routes(app: web.Application, org: SandboxOrg) -> RestApi:
    """Register ``/services/data/...`` and ``/_sandbox/...`` routes on ``app``."""
    api = RestApi(org)

    def respond(reply: Reply, app_name: str | None) -> web.Response:
        headers = {"Sforce-Limit-Info": org.usage.header(app_name), **(reply.headers or {})}
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        return web.json_response(reply.body, status=reply.status, headers=headers)

    async def data(request: web.Request) -> web.Response:
        version = request.match_info["version"]
        if version not in org.api_versions:
            return respond(error_reply(NOT_FOUND), None)
        if org.faults.expire_sessions:
            org.faults.expire_sessions = False
            org.revoke_all()
            org.note_fault("expire_sessions")
        session = org.session_for(request.headers.get("Authorization"))
        if session is None:
            return respond(
                Reply(
                    401,
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                ),
                None,
            )
        if org.faults.request_limit_exceeded:
            org.note_fault("request_limit_exceeded")
            return respond(
                Reply(
                    403,
                    [
                        {
                            "message": "TotalRequests Limit exceeded.",
                            "errorCode": "REQUEST_LIMIT_EXCEEDED",
                        }
                    ],
                ),
                session.app,
            )
        org.usage.count(session.app)
        body: Any = None
        raw = await request.text() if request.can_read_body else ""
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return respond(
                    Reply(
                        400,
                        [
                            {
                                "message": f"Unexpected character: {exc}",
                                "errorCode": "JSON_PARSER_ERROR",
                            }
                        ],
                    ),
                    session.app,
                )
        client = call_options_client(request.headers.get("Sforce-Call-Options"))
        origin = f"com/salesforce/api/rest/{version}" + (f";client={client}" if client else "")
        ctx = Ctx(version, session, api.store.begin(session.user_id, origin))
        batch = re.search(r"batchSize=(\d+)", request.headers.get("Sforce-Query-Options", ""))
        if batch:
            ctx.batch_size = min(max(int(batch[1]), 200), DEFAULT_BATCH)
        path = "/" + request.match_info.get("tail", "")
        reply = api.dispatch(ctx, request.method, path, dict(request.query), body)
        api.store.commit(ctx.txn)
        return respond(reply, session.app)

    async def versions(request: web.Request) -> web.Response:
        return web.json_response(
            [
                {"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
                for v in org.api_versions
            ]
        )

    app.router.add_get("/services/data", versions)
    app.router.add_get("/services/data/", versions)
    app.router.add_route("*", "/services/data/v{version}", data)
    app.router.add_route("*", "/services/data/v{version}/{tail:.*}", data)
    add_control_routes(app, org, api.store)
    return api


__all__ = ["Ctx", "Reply", "RestApi", "add_rest_routes", "call_options_client"]
