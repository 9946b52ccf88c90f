"""The REST API's per-request context, replies and the helpers its handler modules share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from revflow.sandbox.org import Session
from revflow.sandbox.records import RecordStore, Transaction
from revflow.sandbox.schema import SfError

DEFAULT_BATCH = 2000
NOT_FOUND = SfError("NOT_FOUND", "The requested resource does not exist", status=404)


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


def error_reply(exc: SfError) -> Reply:
    return Reply(exc.status, [exc.rest_body()])


def publish(store: RecordStore, ctx: Ctx, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Publish a platform event; its SaveResult carries OPERATION_ENQUEUED as on Salesforce."""
    rid, event_uuid = store.publish(name, values, user_id=ctx.session.user_id)
    enqueued = {"statusCode": "OPERATION_ENQUEUED", "message": event_uuid, "fields": []}
    return {"id": rid, "success": True, "errors": [enqueued]}
