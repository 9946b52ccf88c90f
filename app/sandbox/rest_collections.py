"""sObject Collections: ``/composite/sobjects`` create, update, delete and get by ids."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from revflow.sandbox.ids import is_valid_id, sobject_for_prefix
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import ROLLED_BACK, RecordStore
from revflow.sandbox.rest_base import Ctx, Reply, publish
from revflow.sandbox.rest_faults import lock_fault, lock_target, write_faults
from revflow.sandbox.schema import SfError, platform_event

MAX_COLLECTION = 200
Handler = Callable[[Ctx, Mapping[str, str], Any, dict[str, str]], Reply]


class Collections:
    """The handlers for one org's store; ``routes`` gives them to ``RestApi``."""

    def __init__(self, org: SandboxOrg, store: RecordStore) -> None:
        self.org = org
        self.store = store

    def routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        return [
            ("POST", re.compile(r"/composite/sobjects/?"), self.collection_create),
            ("PATCH", re.compile(r"/composite/sobjects/?"), self.collection_update),
            ("DELETE", re.compile(r"/composite/sobjects/?"), self.collection_delete),
            ("GET", re.compile(r"/composite/sobjects/(?P<type>\w+)/?"), self.collection_get),
        ]

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
                write_faults(self.org, event.name, None, item)
                return publish(self.store, ctx, name, item)
            if item.get("id") or item.get("Id"):
                raise SfError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            t = self.store.type_of(name)
            write_faults(self.org, t.name, None, item)
            lock_fault(self.org, lock_target(t, item))
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
            write_faults(self.org, self.store.type_of(name).name, record["Id"], item)
            lock_fault(self.org, record["Id"])
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
            lock_fault(self.org, record["Id"])
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
