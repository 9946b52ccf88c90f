"""Avro payloads of Pub/Sub events, and their CometD-shaped rendering (facts §2.6, §3.2).

``to_cometd_shape`` turns a ``ConsumerEvent`` into exactly the message the CometD
path yields, so ``revflow.ingest.events.parse_cometd`` sees the same event over both
transports: decoded bitmaps, only the fields CometD would carry, and DateTime/Date
longs as CometD strings.  The replay id is the replay id bytes as lowercase hex.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro

from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from revflow.ingest.pubsub.bitmaps import FieldNode, decode, field_tree

HEADER = "ChangeEventHeader"
BITMAP_FIELDS = ("changedFields", "nulledFields", "diffFields")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_datetime_ms(ms: int) -> str:
    """Epoch ms -> ``2026-01-01T12:00:00.000Z`` (CometD's DateTime form)."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def format_date_ms(ms: int) -> str:
    """Epoch ms at 00:00 UTC -> ``2026-01-01``."""
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%d")


def format_time_ms(ms: int) -> str:
    """Milliseconds since midnight -> ``12:00:00.000Z``."""
    seconds, millis = divmod(ms, 1000)
    minutes, sec = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    return f"{hours:02d}:{mins:02d}:{sec:02d}.{millis:03d}Z"


_FORMATTERS: dict[str, Callable[[int], str]] = {
    "DateTime": format_datetime_ms,
    "DateOnly": format_date_ms,
    "Time": format_time_ms,
}


def _kind(doc: Any) -> str | None:
    """``Data:DateTime`` / ``CreatedDate:DateTime`` -> ``DateTime`` etc., else None."""
    tail = str(doc or "").rsplit(":", 1)[-1]
    return tail if tail in _FORMATTERS else None


@dataclass(frozen=True)
class EventSchema:
    """A writer schema: parsed for fastavro, its field tree and temporal fields."""

    schema_id: str
    schema: dict[str, Any]
    parsed: Any
    fields: list[FieldNode]
    kinds: dict[str, str]  # "Field" or "Parent.Child" -> DateTime / DateOnly / Time

    @classmethod
    def from_json(cls, schema_id: str, schema_json: str) -> EventSchema:
        schema = json.loads(schema_json)
        kinds: dict[str, str] = {}
        for f in schema.get("fields", ()):
            if (kind := _kind(f.get("doc"))) is not None:
                kinds[f["name"]] = kind
        tree = field_tree(schema)
        nested = {n.name for n in tree if n.children is not None}
        for f in schema.get("fields", ()):
            if f["name"] in nested:
                for record in _records(f["type"]):
                    for child in record.get("fields", ()):
                        if (kind := _kind(child.get("doc"))) is not None:
                            kinds[f"{f['name']}.{child['name']}"] = kind
        parsed = fastavro.parse_schema(schema)
        return cls(schema_id, schema, parsed, tree, kinds)

    def is_compound(self, name: str) -> bool:
        return any(f.name == name and f.children is not None for f in self.fields)

    def convert(self, name: str, value: Any) -> Any:
        """A decoded Avro value as CometD carries it (temporal longs to strings)."""
        kind = self.kinds.get(name)
        if kind is None or value is None or not isinstance(value, int):
            return value
        return _FORMATTERS[kind](value)


def _records(avro_type: Any) -> list[Mapping[str, Any]]:
    branches = avro_type if isinstance(avro_type, list) else [avro_type]
    return [b for b in branches if isinstance(b, Mapping) and b.get("type") == "record"]


def decode_payload(schema: EventSchema, payload: bytes) -> dict[str, Any]:
    """Schemaless Avro binary -> dict (enums as their symbol strings)."""
    record = fastavro.schemaless_reader(io.BytesIO(payload), schema.parsed, None)
    if not isinstance(record, dict):
        raise ValueError("Avro payload is not a record")
    return record


def _nested(schema: EventSchema, parent: str, value: Any, *, keep_null: bool) -> Any:
    if not isinstance(value, dict):
        return value
    out = {
        k: schema.convert(f"{parent}.{k}", v)
        for k, v in value.items()
        if keep_null or v is not None
    }
    return out if keep_null or out else None


def _update_body(
    schema: EventSchema, record: Mapping[str, Any], changed: list[str], diffs: set[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in changed:
        parent, dot, child = name.partition(".")
        if dot:
            compound = record.get(parent)
            value = compound.get(child) if isinstance(compound, dict) else None
            body.setdefault(parent, {})[child] = schema.convert(name, value)
        elif schema.is_compound(name):
            body[name] = _nested(schema, name, record.get(name), keep_null=True)
        else:
            value = schema.convert(name, record.get(name))
            body[name] = {"diff": value} if name in diffs and value is not None else value
    return body


def _full_body(schema: EventSchema, record: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in record.items():
        if name == HEADER or value is None:
            continue
        if schema.is_compound(name):
            value = _nested(schema, name, value, keep_null=False)
            if value is None:
                continue
        body[name] = schema.convert(name, value)
    return body


def cometd_payload(schema: EventSchema, record: Mapping[str, Any]) -> dict[str, Any]:
    """The CometD ``data.payload`` for a decoded Avro record (change or platform event)."""
    raw_header = record.get(HEADER)
    if not isinstance(raw_header, dict):  # platform event: every field, nulls kept
        return {name: schema.convert(name, value) for name, value in record.items()}
    header = dict(raw_header)
    for key in BITMAP_FIELDS:
        header[key] = decode(schema.fields, header.get(key) or ())
    change_type = str(header.get("changeType"))
    header["changeType"] = change_type
    if change_type == "UPDATE":
        body = _update_body(schema, record, header["changedFields"], set(header["diffFields"]))
    elif change_type in ("CREATE", "UNDELETE"):
        body = _full_body(schema, record)
    else:  # DELETE, GAP_*, GAP_OVERFLOW: header only
        body = {}
    return {HEADER: header, **body}


def to_cometd_shape(
    topic: str, consumer_event: pb.ConsumerEvent, schema: EventSchema
) -> dict[str, Any]:
    """A Pub/Sub ``ConsumerEvent`` as the CometD message Revflow's consumer parses."""
    event = consumer_event.event
    record = decode_payload(schema, event.payload)
    return {
        "channel": topic,
        "data": {
            "schema": event.schema_id,
            "payload": cometd_payload(schema, record),
            "event": {"replayId": consumer_event.replay_id.hex(), "EventUuid": event.id},
        },
    }


class SchemaCache:
    """Writer schemas by schema id; each id is fetched once (``GetSchema``)."""

    def __init__(self, fetch: Callable[[str], Awaitable[str]]) -> None:
        self._fetch = fetch
        self._schemas: dict[str, asyncio.Future[EventSchema]] = {}

    async def get(self, schema_id: str) -> EventSchema:
        future = self._schemas.get(schema_id)
        if future is None:
            future = self._schemas[schema_id] = asyncio.ensure_future(self._load(schema_id))
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._schemas.get(schema_id) is future:
                del self._schemas[schema_id]  # a failed fetch is retried next time
            raise

    async def _load(self, schema_id: str) -> EventSchema:
        return EventSchema.from_json(schema_id, await self._fetch(schema_id))

    def __contains__(self, schema_id: str) -> bool:
        future = self._schemas.get(schema_id)
        return (
            future is not None
            and future.done()
            and not future.cancelled()
            and future.exception() is None
        )
