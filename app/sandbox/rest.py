"""The sandbox org's REST API under ``/services/data/vXX.X/`` plus a ``/_sandbox/`` control API.

Each request is one transaction: its record changes commit together (one
``transactionKey`` in the change events) after the handler finishes.  Composite
subrequests go through the same dispatcher, inside the request's transaction.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from revflow.sandbox.chaos import expire_replay_ids
from revflow.sandbox.ids import is_valid_id, new_id, sobject_for_prefix
from revflow.sandbox.notifications import notification_routes
from revflow.sandbox.org import Faults, SandboxOrg, Session
from revflow.sandbox.records import ROLLED_BACK, RecordStore, Transaction
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
from revflow.sandbox.validation import check as validation_error
from revflow.sandbox.validation import parse_rules

MAX_COLLECTION = 200
MAX_COMPOSITE = 25
DEFAULT_BATCH = 2000
NOT_FOUND = SfError("NOT_FOUND", "The requested resource does not exist", status=404)
HALTED = "The transaction was rolled back since another operation in the same transaction failed."
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] | None = None


@dataclass
class Ctx:
    """Per-request state shared by composite subrequests."""

    version: str
    session: Session
    txn: Transaction
    batch_size: int = DEFAULT_BATCH


def call_options_client(header: str | None) -> str | None:
    """The ``client=`` value of a ``Sforce-Call-Options`` header."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip() == "client" and value.strip():
            return value.strip()
    return None


def _errors(exc: SfError) -> Reply:
    return Reply(exc.status, [exc.rest_body()])


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
            ("POST", re.compile(r"/composite/sobjects/?"), self.collection_create),
            ("PATCH", re.compile(r"/composite/sobjects/?"), self.collection_update),
            ("DELETE", re.compile(r"/composite/sobjects/?"), self.collection_delete),
            ("GET", re.compile(r"/composite/sobjects/(?P<type>\w+)/?"), self.collection_get),
            ("POST", re.compile(r"/composite/?"), self.composite),
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
                return _errors(exc)
        if allowed:
            message = f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}"
            return Reply(405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": message}])
        return _errors(NOT_FOUND)

    # ---- faults -------------------------------------------------------------------
    def lock_fault(self, record_id: str | None) -> None:
        """Maybe raise UNABLE_TO_LOCK_ROW for a write touching ``record_id``."""
        share = self.org.faults.unable_to_lock_row
        if record_id and share > 0 and random.random() < share:
            self.org.note_fault("unable_to_lock_row")
            raise SfError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {record_id}",
            )

    def write_faults(
        self, sobject: str, record_id: str | None, values: Mapping[str, Any] | None = None
    ) -> None:
        """The injected per-record error for this write, if any, then the org's validation
        rules."""
        refused = validation_error(
            self.org.faults.validation_rules, sobject, record_id, values or {}
        )
        if refused is not None:
            self.org.note_fault("writeback_refused")
            raise refused
        errors = self.org.faults.record_errors
        if errors:
            keys = {"*", sobject}
            if record_id:
                keys.add(record_id[:15])
            for value in (values or {}).values():
                if isinstance(value, str) and len(value) in (15, 18):
                    keys.add(value[:15])
            for key, code in errors.items():
                if key in keys or (len(key) in (15, 18) and key[:15] in keys):
                    self.org.note_fault(code.lower())
                    raise injected_error(code, sobject, record_id)

    def _lock_target(self, t: SObjectType, values: Mapping[str, Any]) -> str | None:
        """The parent row a create would lock (first reference value given)."""
        for key, value in values.items():
            f = t.field(key) if key != "attributes" else None
            if f is not None and f.type == "reference" and isinstance(value, str):
                return value
        return None

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
            self.write_faults(event.name, None, body)
            return Reply(201, self._publish(ctx, event.name, body))
        t = self.store.type_of(p["type"])
        self.write_faults(t.name, None, body)
        self.lock_fault(self._lock_target(t, body))
        rid = self.store.create(t.name, body, txn=ctx.txn)
        location = f"/services/data/v{ctx.version}/sobjects/{t.name}/{rid}"
        return Reply(201, {"id": rid, "success": True, "errors": []}, {"Location": location})

    def _publish(self, ctx: Ctx, name: str, values: dict[str, Any]) -> dict[str, Any]:
        rid, event_uuid = self.store.publish(name, values, user_id=ctx.session.user_id)
        enqueued = {"statusCode": "OPERATION_ENQUEUED", "message": event_uuid, "fields": []}
        return {"id": rid, "success": True, "errors": [enqueued]}

    def update_record(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        if not isinstance(body, dict):
            raise SfError(
                "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from request"
            )
        record = self.store.find(p["type"], p["id"])
        self.write_faults(self.store.type_of(p["type"]).name, record["Id"], body)
        self.lock_fault(record["Id"])
        self.store.update(p["type"], record["Id"], body, txn=ctx.txn)
        return Reply(204)

    def delete_record(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        record = self.store.find(p["type"], p["id"])
        self.lock_fault(record["Id"])
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

    # ---- sObject Collections --------------------------------------------------------
    def _collection_body(self, body: Any) -> tuple[list[Any], bool]:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SfError("JSON_PARSER_ERROR", "Cannot deserialize instance of records")
        return body["records"], bool(body.get("allOrNone", False))

    def _run_collection(
        self,
        ctx: Ctx,
        items: list[Any],
        all_or_none: bool,
        op: Callable[[Any], str | dict[str, Any]],
        creating: bool = False,
    ) -> Reply:
        if len(items) > MAX_COLLECTION:
            raise SfError(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than "
                f"{MAX_COLLECTION} records into this call",
            )
        savepoint = ctx.txn.savepoint()
        results: list[dict[str, Any]] = []
        failed = False
        for item in items:
            known_id = item.get("id") or item.get("Id") if isinstance(item, dict) else item
            try:
                done = op(item)  # an id, or a whole SaveResult (a published event)
                results.append(
                    done if isinstance(done, dict) else {"id": done, "success": True, "errors": []}
                )
            except SfError as exc:
                failed = True
                result: dict[str, Any] = {"success": False, "errors": [exc.save_result_error()]}
                if isinstance(known_id, str):
                    result = {"id": known_id, **result}
                results.append(result)
        if all_or_none and failed:
            self.store.rollback_to(ctx.txn, savepoint)
            rolled = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": ROLLED_BACK,
                "fields": [],
            }
            results = [
                {"id": None if creating else r["id"], "success": False, "errors": [rolled]}
                if r["success"]
                else r
                for r in results
            ]
        return Reply(200, results)

    def _record_type(self, item: Any) -> str:
        if not isinstance(item, dict):
            raise SfError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
        attributes = item.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not name:
            raise SfError("INVALID_TYPE", "Must specify a type in the attributes of the sObject")
        return str(name)

    def collection_create(self, ctx: Ctx, q: Mapping[str, str], body: Any, *_: Any) -> Reply:
        items, all_or_none = self._collection_body(body)

        def create(item: Any) -> str | dict[str, Any]:
            name = self._record_type(item)
            event = platform_event(name)
            if event is not None:  # success, with OPERATION_ENQUEUED as on sobjects/X__e
                self.write_faults(event.name, None, item)
                return self._publish(ctx, name, item)
            if item.get("id") or item.get("Id"):
                raise SfError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            t = self.store.type_of(name)
            self.write_faults(t.name, None, item)
            self.lock_fault(self._lock_target(t, item))
            return self.store.create(t.name, item, txn=ctx.txn)

        return self._run_collection(ctx, items, all_or_none, create, creating=True)

    def collection_update(self, ctx: Ctx, q: Mapping[str, str], body: Any, *_: Any) -> Reply:
        items, all_or_none = self._collection_body(body)

        def update(item: Any) -> str:
            name = self._record_type(item)
            rid = item.get("id") or item.get("Id")
            if not rid:
                raise SfError("MISSING_ARGUMENT", "Id not specified in an update call")
            record = self.store.find(name, str(rid))
            self.write_faults(self.store.type_of(name).name, record["Id"], item)
            self.lock_fault(record["Id"])
            self.store.update(name, record["Id"], item, txn=ctx.txn)
            return str(record["Id"])

        return self._run_collection(ctx, items, all_or_none, update)

    def collection_delete(self, ctx: Ctx, q: Mapping[str, str], *_: Any) -> Reply:
        ids = [i for i in q.get("ids", "").split(",") if i]
        if not ids:
            raise SfError("MISSING_ARGUMENT", "The ids parameter is required")
        all_or_none = q.get("allOrNone", "false").lower() == "true"

        def delete(rid: Any) -> str:
            name = sobject_for_prefix(str(rid)[:3]) if is_valid_id(rid) else None
            if name is None:
                raise SfError("MALFORMED_ID", f"malformed id {rid}")
            record = self.store.find(name, rid)
            self.lock_fault(record["Id"])
            self.store.delete(name, record["Id"], txn=ctx.txn)
            return str(record["Id"])

        return self._run_collection(ctx, ids, all_or_none, delete)

    def collection_get(self, ctx: Ctx, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Reply:
        t = self.store.type_of(p["type"])
        ids = [i for i in q.get("ids", "").split(",") if i]
        wanted = [f for f in q.get("fields", "").split(",") if f]
        if not ids or not wanted:
            raise SfError("MISSING_ARGUMENT", "The ids and fields parameters are required")
        out: list[Any] = []
        for rid in ids:
            try:
                out.append(self.store.get(t.name, rid, wanted, ctx.version))
            except SfError as exc:
                if exc.code == "INVALID_FIELD":
                    raise
                out.append(None)
        return Reply(200, out)

    # ---- Composite ----------------------------------------------------------------
    def composite(self, ctx: Ctx, q: Mapping[str, str], body: Any, *_: Any) -> Reply:
        subs = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            raise SfError("JSON_PARSER_ERROR", "compositeRequest is required")
        if len(subs) > MAX_COMPOSITE:
            raise SfError(
                "LIMIT_EXCEEDED", f"Composite API supports at most {MAX_COMPOSITE} subrequests"
            )
        all_or_none = bool(body.get("allOrNone", False))
        done: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        halted = False
        for sub in subs:
            ref = str(sub.get("referenceId", "")) if isinstance(sub, dict) else ""
            if halted:
                out.append(_halted(ref))
                continue
            reply = self._subrequest(ctx, sub, done)
            out.append(
                {
                    "body": reply.body,
                    "httpHeaders": reply.headers or {},
                    "httpStatusCode": reply.status,
                    "referenceId": ref,
                }
            )
            if reply.status < 400:
                done[ref] = reply.body
            elif all_or_none:
                halted = True
                self.store.rollback_to(ctx.txn, (0, 0))
                out = [_halted(o["referenceId"]) if o is not out[-1] else o for o in out]
        return Reply(200, {"compositeResponse": out})

    def _subrequest(self, ctx: Ctx, sub: Any, done: dict[str, Any]) -> Reply:
        if not isinstance(sub, dict) or not {"method", "url", "referenceId"} <= sub.keys():
            return _errors(SfError("INVALID_INPUT", "method, url and referenceId are required"))
        try:
            url = _substitute(sub["url"], done)
            body = _substitute(sub.get("body"), done)
        except KeyError as exc:
            return Reply(400, [{"errorCode": "PROCESSING_HALTED", "message": str(exc.args[0])}])
        parts = urlsplit(str(url))
        m = re.fullmatch(r"/services/data/v(?P<version>[\d.]+)(?P<path>/.*)?", parts.path)
        if m is None or m["version"] not in self.org.api_versions:
            return _errors(NOT_FOUND)
        path = m["path"] or "/"
        if re.fullmatch(r"/composite/?", path):
            return _errors(SfError("INVALID_INPUT", "Composite requests cannot be nested"))
        sub_ctx = Ctx(m["version"], ctx.session, ctx.txn, ctx.batch_size)
        return self.dispatch(
            sub_ctx, str(sub["method"]).upper(), path, dict(parse_qsl(parts.query)), body
        )


_INJECTED: dict[str, tuple[str, int]] = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (
        "Fulfillment updates are blocked while the order is under credit review",
        400,
    ),
    "INVALID_FIELD": ("No such column 'Injected__c' on sobject of type {sobject}", 400),
    "INVALID_FIELD_FOR_INSERT_UPDATE": (
        "Unable to create/update fields: Injected__c. Please check the security settings of "
        "this field and verify that it is read/write for your profile or permission set.",
        400,
    ),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": (
        "Status: bad value for restricted picklist field: Injected",
        400,
    ),
    "STRING_TOO_LONG": ("Description: data value too large: Injected (max length=255)", 400),
    "REQUIRED_FIELD_MISSING": ("Required fields are missing: [Injected__c]", 400),
    "DUPLICATE_VALUE": ("duplicate value found: Injected__c duplicates value on record", 400),
    "MALFORMED_ID": ("{sobject} ID: id value of incorrect type", 400),
    "UNABLE_TO_LOCK_ROW": (
        "unable to obtain exclusive access to this record or 1 records: {record_id}",
        400,
    ),
    "ENTITY_IS_DELETED": ("entity is deleted", 404),
}


def injected_error(code: str, sobject: str, record_id: str | None) -> SfError:
    """The error Salesforce would give for ``code`` (wire facts 4.3), with its fields."""
    template, status = _INJECTED.get(code, (f"{code} (injected by the sandbox)", 400))
    message = template.format(sobject=sobject, record_id=record_id or "")
    fields: list[str] = []
    if code in ("INVALID_FIELD_FOR_INSERT_UPDATE", "REQUIRED_FIELD_MISSING"):
        fields = ["Injected__c"]
    elif code == "STRING_TOO_LONG":
        fields = ["Description"]
    elif code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST":
        fields = ["Status"]
    return SfError(code, message, fields, status=status)


def _halted(ref: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": HALTED}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def _lookup(done: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in done:
        raise KeyError
    value = done[ref]
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _substitute(value: Any, done: dict[str, Any]) -> Any:
    """Replace ``@{ref.path}`` references with earlier subrequests' results."""
    if isinstance(value, dict):
        return {k: _substitute(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, done) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def resolve(m: re.Match[str]) -> Any:
        try:
            return _lookup(done, m[1], m[2])
        except (KeyError, IndexError, TypeError, ValueError):
            raise KeyError(
                f"Invalid reference specified. No value for {m[2]} found in {m[1]}. "
                f"Provided {m[0]} as referenceId."
            ) from None

    whole = _REF_RE.fullmatch(value)
    if whole:
        return resolve(whole)
    return _REF_RE.sub(lambda m: str(resolve(m)), value)


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
            return respond(_errors(NOT_FOUND), None)
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

    async def stats(request: web.Request) -> web.Response:
        channels = sorted(org.events.known_channels)
        return web.json_response(
            {
                "api_usage": {
                    "used": org.usage.used,
                    "daily_limit": org.usage.daily_limit,
                    "by_app": dict(org.usage.by_app),
                },
                "records": api.store.counts(),
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

    app.router.add_get("/services/data", versions)
    app.router.add_get("/services/data/", versions)
    app.router.add_route("*", "/services/data/v{version}", data)
    app.router.add_route("*", "/services/data/v{version}/{tail:.*}", data)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/expire-sessions", expire_sessions)
    app.router.add_post("/_sandbox/expire-events", expire_events)
    return api


__all__ = ["Ctx", "Reply", "RestApi", "add_rest_routes", "call_options_client"]
