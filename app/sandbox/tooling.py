"""The sandbox org's Tooling API: what selecting Change Data Capture entities uses.

``GET  /services/data/vXX.X/tooling/query?q=SELECT ... FROM PlatformEventChannelMember``
``POST /services/data/vXX.X/tooling/sobjects/PlatformEventChannelMember``
    ``{"FullName": "ChangeEvents_OrderChangeEvent",
       "Metadata": {"eventChannel": "ChangeEvents", "selectedEntity": "OrderChangeEvent"}}``
``DELETE /services/data/vXX.X/tooling/sobjects/PlatformEventChannelMember/<id>``

The create answers ``{"id", "success", "errors", "warnings", "infos"}``, as the
Tooling API documents; a second member for the same entity is a DUPLICATE_VALUE.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import SfError, sobject
from revflow.sandbox.soql import run_query

MEMBER = "PlatformEventChannelMember"
NOT_FOUND = SfError("NOT_FOUND", "The requested resource does not exist", status=404)

Handler = Callable[[Any, Mapping[str, str], Any, dict[str, str]], Any]


def tooling_routes(store: RecordStore, reply: Callable[..., Any]) -> list[tuple[str, Any, Handler]]:
    """Routes for ``RestApi``; ``reply(status, body)`` builds its Reply."""

    def query(ctx: Any, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Any:
        if not q.get("q"):
            raise SfError("MALFORMED_QUERY", "A query string has to be specified")
        return reply(200, run_query(store, q["q"], ctx.version, tooling=True))

    def create(ctx: Any, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Any:
        if p["type"].lower() != MEMBER.lower():
            raise NOT_FOUND
        full_name, channel, entity = _member(body)
        if channel == "ChangeEvents" and sobject(entity.removesuffix("ChangeEvent")) is None:
            raise SfError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Change Data Capture is not available for {entity}",
                ["SelectedEntity"],
            )
        for record in store.live(MEMBER):
            if record.get("DeveloperName") == full_name or (
                record.get("EventChannel") == channel and record.get("SelectedEntity") == entity
            ):
                raise SfError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {entity} is already selected on {channel}",
                )
        values = {"DeveloperName": full_name, "EventChannel": channel, "SelectedEntity": entity}
        rid = store.create(MEMBER, values, txn=ctx.txn)
        return reply(201, {"id": rid, "success": True, "errors": [], "warnings": [], "infos": []})

    def delete(ctx: Any, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Any:
        if p["type"].lower() != MEMBER.lower():
            raise NOT_FOUND
        record = store.find(MEMBER, p["id"])
        store.delete(MEMBER, record["Id"], txn=ctx.txn)
        return reply(204)

    return [
        ("GET", re.compile(r"/tooling/query/?"), query),
        ("POST", re.compile(r"/tooling/sobjects/(?P<type>\w+)/?"), create),
        ("DELETE", re.compile(r"/tooling/sobjects/(?P<type>\w+)/(?P<id>\w+)/?"), delete),
    ]


def _member(body: Any) -> tuple[str, str, str]:
    """(FullName, eventChannel, selectedEntity) of a create body, or a documented error."""
    metadata = body.get("Metadata") if isinstance(body, dict) else None
    if not isinstance(metadata, dict):
        raise SfError(
            "JSON_PARSER_ERROR", "Cannot deserialize instance of PlatformEventChannelMember"
        )
    channel, entity = metadata.get("eventChannel"), metadata.get("selectedEntity")
    if not isinstance(channel, str) or not isinstance(entity, str) or not channel or not entity:
        raise SfError(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [EventChannel, SelectedEntity]",
            ["EventChannel", "SelectedEntity"],
        )
    full_name = body.get("FullName") or f"{channel.removesuffix('__chn')}_{entity}"
    return str(full_name), channel, entity
