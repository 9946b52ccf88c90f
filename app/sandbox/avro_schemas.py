"""Avro schemas and payloads for the sandbox's Pub/Sub API (facts §2.6, §2.7, §3.2).

Schemas are generated from ``revflow.sandbox.schema``: ``{Entity}ChangeEvent`` records
(field 0 ``ChangeEventHeader``, then every body field as ``["null", T]``, addresses as
nested ``Address`` records, DateTime/Date as epoch-ms longs) and platform events
(``CreatedDate`` long, ``CreatedById`` string, then their fields).  A schema id is
the 22-char base64url MD5 of the schema's Avro parsing canonical form.

``encode_event`` renders a ``StoredEvent`` (CometD-shaped payload plus the full
record) the way Pub/Sub delivers it: all fields, unchanged ones null, and
``changedFields``/``nulledFields``/``diffFields`` as bitmaps.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from revflow.ingest.pubsub.avro import HEADER, EventSchema, decode_payload
from revflow.ingest.pubsub.bitmaps import encode
from revflow.sandbox.events import StoredEvent
from revflow.sandbox.schema import (
    ADDRESS_COMPONENTS,
    PLATFORM_EVENTS,
    SOBJECTS,
    Field,
    cdc_field_names,
)

NAMESPACE = "com.sforce.eventbus"
CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
)
_AVRO_TYPES = {  # sandbox field type -> (Avro type, doc tag)
    "id": ("string", "Data:EntityId"),
    "string": ("string", "Data:Text"),
    "textarea": ("string", "Data:MultiLineText"),
    "url": ("string", "Data:Url"),
    "picklist": ("string", "Data:DynamicEnum"),
    "reference": ("string", "ForeignKey:EntityId"),
    "date": ("long", "Data:DateOnly"),
    "datetime": ("long", "Data:DateTime"),
    "currency": ("double", "Data:Currency"),
    "double": ("double", "Data:Double"),
    "percent": ("double", "Data:Percent"),
    "boolean": ("boolean", "Data:Switch"),
}
_ADDRESS_TYPES = {"Latitude": "double", "Longitude": "double", "GeocodeAccuracy": "picklist"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _optional(name: str, avro_type: Any, doc: str) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "doc": doc, "default": None}


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": "string"}


def _header_schema() -> dict[str, Any]:
    change_type = {
        "type": "enum",
        "name": "ChangeType",
        "namespace": NAMESPACE,
        "symbols": list(CHANGE_TYPES),
    }
    fields: list[tuple[str, Any]] = [
        ("entityName", "string"),
        ("recordIds", _strings()),
        ("changeType", change_type),
        ("changeOrigin", "string"),
        ("transactionKey", "string"),
        ("sequenceNumber", "int"),
        ("commitTimestamp", "long"),
        ("commitNumber", "long"),
        ("commitUser", "string"),
        ("nulledFields", _strings()),
        ("diffFields", _strings()),
        ("changedFields", _strings()),
    ]
    return {
        "type": "record",
        "name": HEADER,
        "namespace": NAMESPACE,
        "fields": [{"name": n, "type": t} for n, t in fields],
    }


def _address_schema() -> dict[str, Any]:
    fields = []
    for comp in ADDRESS_COMPONENTS:
        avro_type, doc = _AVRO_TYPES[_ADDRESS_TYPES.get(comp, "string")]
        fields.append(_optional(comp, avro_type, doc))
    return {"type": "record", "name": "Address", "namespace": NAMESPACE, "fields": fields}


def _field_doc(f: Field) -> tuple[str, str]:
    avro_type, doc = _AVRO_TYPES[f.type]
    if f.name in ("CreatedDate", "LastModifiedDate"):
        doc = f"{f.name}:DateTime"
    return avro_type, doc


def cdc_schema(entity: str) -> dict[str, Any]:
    """The ``{entity}ChangeEvent`` Avro schema (JSON dict)."""
    t = SOBJECTS[entity]
    fields: list[dict[str, Any]] = [
        {"name": HEADER, "type": _header_schema(), "doc": "Data:ComplexValueType"}
    ]
    address_defined = False
    for name in cdc_field_names(entity):
        f = t.fields[name]
        if f.type == "address":
            ref: Any = f"{NAMESPACE}.Address" if address_defined else _address_schema()
            address_defined = True
            fields.append(_optional(name, ref, "Data:Address"))
        else:
            fields.append(_optional(name, *_field_doc(f)))
    return {
        "type": "record",
        "name": f"{entity}ChangeEvent",
        "namespace": NAMESPACE,
        "fields": fields,
    }


def platform_event_schema(name: str) -> dict[str, Any]:
    """The Avro schema of platform event ``name`` (e.g. ``Order_Status__e``)."""
    event = PLATFORM_EVENTS[name]
    fields: list[dict[str, Any]] = [
        {"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"},
        {"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"},
    ]
    fields += [_optional(f.name, *_field_doc(f)) for f in event.fields.values()]
    return {"type": "record", "name": name, "namespace": NAMESPACE, "fields": fields}


def fingerprint(schema: dict[str, Any]) -> str:
    """22-char base64url MD5 of the Avro parsing canonical form."""
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    digest = hashlib.md5(canonical.encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class TopicSchema:
    """One topic's current schema: event name, JSON text and the parsed ``EventSchema``."""

    topic: str
    event_name: str
    schema_json: str
    schema: EventSchema

    @property
    def schema_id(self) -> str:
        return self.schema.schema_id

    @property
    def is_platform_event(self) -> bool:
        return self.topic.startswith("/event/")


def _event_schema(event_name: str) -> dict[str, Any]:
    if event_name.endswith("ChangeEvent"):
        return cdc_schema(event_name.removesuffix("ChangeEvent"))
    return platform_event_schema(event_name)


@functools.cache
def event_schema_id(event_name: str) -> str:
    """The schema id of a change or platform event (see ``schema.schema_id``)."""
    return fingerprint(_event_schema(event_name))


@functools.cache
def topic_schema(topic: str) -> TopicSchema | None:
    """The schema for ``/data/{Entity}ChangeEvent`` or ``/event/{Name}``, else None."""
    if topic.startswith("/data/") and topic.endswith("ChangeEvent"):
        entity = topic.removeprefix("/data/").removesuffix("ChangeEvent")
        if entity not in SOBJECTS or not SOBJECTS[entity].cdc:
            return None
        event_name, schema = f"{entity}ChangeEvent", cdc_schema(entity)
    elif topic.startswith("/event/") and topic.removeprefix("/event/") in PLATFORM_EVENTS:
        event_name = topic.removeprefix("/event/")
        schema = platform_event_schema(event_name)
    else:
        return None
    text = json.dumps(schema)
    parsed = EventSchema.from_json(fingerprint(schema), text)
    return TopicSchema(topic, event_name, text, parsed)


def all_topics() -> list[str]:
    cdc = [f"/data/{t.name}ChangeEvent" for t in SOBJECTS.values() if t.cdc]
    return cdc + [f"/event/{n}" for n in PLATFORM_EVENTS]


@functools.cache
def _by_id() -> dict[str, TopicSchema]:
    out: dict[str, TopicSchema] = {}
    for topic in all_topics():
        ts = topic_schema(topic)
        assert ts is not None
        out[ts.schema_id] = ts
    return out


def schema_by_id(schema_id_: str) -> TopicSchema | None:
    """Look a schema up by its Avro id (or by the id CometD messages carry)."""
    return _by_id().get(schema_id_)


# ---- values --------------------------------------------------------------------


def to_epoch_ms(value: str) -> int:
    """``2026-01-01T12:00:00.000Z`` / ``…+0000`` / ``2026-01-01`` -> epoch ms."""
    if len(value) == 10:
        day = date.fromisoformat(value)
        return (datetime(day.year, day.month, day.day, tzinfo=UTC) - _EPOCH) // _MS
    return (datetime.fromisoformat(value) - _EPOCH) // _MS


def _avro_value(field_type: str, value: Any) -> Any:
    if value is None:
        return None
    if field_type in ("date", "datetime"):
        return value if isinstance(value, int) else to_epoch_ms(str(value))
    if field_type in ("currency", "double", "percent"):
        return float(value)
    if field_type == "boolean":
        return bool(value)
    return str(value)


def _address_value(parts: Any) -> dict[str, Any] | None:
    if not isinstance(parts, dict):
        return None
    return {
        c: _avro_value(_ADDRESS_TYPES.get(c, "string"), parts.get(c)) for c in ADDRESS_COMPONENTS
    }


def _lookup(body: dict[str, Any], record: dict[str, Any], name: str) -> Any:
    """A changed field's new value: the CometD body first, then the full record."""
    parent, dot, child = name.partition(".")
    source = body if parent in body else record
    value = source.get(parent)
    if dot:
        return value.get(child) if isinstance(value, dict) else None
    return value


def _cdc_record(ts: TopicSchema, event: StoredEvent) -> dict[str, Any]:
    entity = SOBJECTS[ts.event_name.removesuffix("ChangeEvent")]
    payload = dict(event.payload)
    header = dict(payload.pop(HEADER))
    record = event.record or {}
    kind = str(header.get("changeType"))
    names = cdc_field_names(entity.name)
    values: dict[str, Any] = dict.fromkeys(names)
    known = {n.name for n in ts.schema.fields} | {
        f"{n.name}.{c}" for n in ts.schema.fields for c in n.children or ()
    }
    changed = [n for n in header.get("changedFields") or () if n in known]
    nulled: list[str] = []
    if kind == "UPDATE":
        for name in changed:
            value = _lookup(payload, record, name)
            parent, dot, child = name.partition(".")
            if dot:
                nested = values[parent] or dict.fromkeys(ADDRESS_COMPONENTS)
                nested[child] = _avro_value(_ADDRESS_TYPES.get(child, "string"), value)
                values[parent] = nested
            elif entity.fields[name].type == "address":
                values[name] = _address_value(value)
            else:
                values[name] = _avro_value(entity.fields[name].type, value)
            if value is None:
                nulled.append(name)
    elif kind in ("CREATE", "UNDELETE"):
        changed = []
        for name in names:
            f = entity.fields[name]
            raw = payload.get(name)
            values[name] = _address_value(raw) if f.type == "address" else _avro_value(f.type, raw)
    else:
        changed = []
    fields = ts.schema.fields
    avro_header = {
        "entityName": str(header.get("entityName") or entity.name),
        "recordIds": [str(r) for r in header.get("recordIds") or ()],
        "changeType": kind,
        "changeOrigin": str(header.get("changeOrigin") or ""),
        "transactionKey": str(header.get("transactionKey") or ""),
        "sequenceNumber": int(header.get("sequenceNumber") or 0),
        "commitTimestamp": int(header.get("commitTimestamp") or 0),
        "commitNumber": int(header.get("commitNumber") or 0),
        "commitUser": str(header.get("commitUser") or ""),
        "nulledFields": encode(fields, nulled),
        "diffFields": [],
        "changedFields": encode(fields, changed),
    }
    return {HEADER: avro_header, **values}


def _platform_record(ts: TopicSchema, event: StoredEvent) -> dict[str, Any]:
    pe = PLATFORM_EVENTS[ts.event_name]
    payload = event.payload
    created = payload.get("CreatedDate")
    out: dict[str, Any] = {
        "CreatedDate": _avro_value("datetime", created) if created else 0,
        "CreatedById": str(payload.get("CreatedById") or ""),
    }
    for f in pe.fields.values():
        out[f.name] = _avro_value(f.type, payload.get(f.name))
    return out


def avro_record(event: StoredEvent) -> tuple[TopicSchema, dict[str, Any]]:
    """The Pub/Sub Avro record (as a dict) for a stored event, with its schema."""
    ts = topic_schema(event.channel)
    if ts is None:
        raise KeyError(f"no Avro schema for {event.channel}")
    if ts.is_platform_event:
        return ts, _platform_record(ts, event)
    return ts, _cdc_record(ts, event)


def encode_event(event: StoredEvent) -> tuple[TopicSchema, bytes]:
    """Schemaless Avro binary of a stored event, with its schema."""
    ts, record = avro_record(event)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, ts.schema.parsed, record)
    return ts, buffer.getvalue()


def decode_published(ts: TopicSchema, payload: bytes) -> dict[str, Any]:
    """A published platform-event payload as the CometD-style body the bus stores."""
    record = decode_payload(ts.schema, payload)
    return {name: ts.schema.convert(name, value) for name, value in record.items()}
