"""Avro decoding and the CometD-shaped rendering of Pub/Sub events (facts §2.6, §3.2)."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from revflow.ingest.events import parse_cometd
from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from revflow.ingest.pubsub.avro import (
    EventSchema,
    SchemaCache,
    format_date_ms,
    format_datetime_ms,
    format_time_ms,
    to_cometd_shape,
)
from revflow.ingest.pubsub.bitmaps import encode
from revflow.sandbox.avro_schemas import (
    cdc_schema,
    encode_event,
    fingerprint,
    platform_event_schema,
    schema_by_id,
    to_epoch_ms,
    topic_schema,
)
from revflow.sandbox.cometd import event_message
from revflow.sandbox.events import StoredEvent
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import schema_id

ORDER = "/data/OrderChangeEvent"
NOON = 1767268800000  # 2026-01-01T12:00:00.000Z


def order_schema() -> EventSchema:
    ts = topic_schema(ORDER)
    assert ts is not None
    return ts.schema


def consumer_event(
    schema: EventSchema, record: dict[str, Any], rid: int = 184522
) -> pb.ConsumerEvent:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed, record)
    producer = pb.ProducerEvent(id="uuid-1", schema_id=schema.schema_id, payload=buf.getvalue())
    return pb.ConsumerEvent(event=producer, replay_id=rid.to_bytes(8, "big"))


def header(change_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "entityName": "Order",
        "recordIds": ["8015e00000Q7mNpAAJ"],
        "changeType": change_type,
        "changeOrigin": "com/salesforce/api/rest/62.0;client=erp-bridge",
        "transactionKey": "00043f2a-91c0-7d1e-5b2a-6c8e4f1a9b03",
        "sequenceNumber": 1,
        "commitTimestamp": NOON,
        "commitNumber": 1124589736215,
        "commitUser": "0055e000006XyZ1AAK",
        "nulledFields": [],
        "diffFields": [],
        "changedFields": [],
        **extra,
    }


def all_null(schema: EventSchema) -> dict[str, Any]:
    return {f.name: None for f in schema.fields}


def test_formatters() -> None:
    assert format_datetime_ms(NOON) == "2026-01-01T12:00:00.000Z"
    assert format_datetime_ms(NOON + 3412) == "2026-01-01T12:00:03.412Z"
    assert format_date_ms(NOON - 12 * 3600 * 1000) == "2026-01-01"
    assert format_time_ms(12 * 3600 * 1000 + 5) == "12:00:00.005Z"
    assert to_epoch_ms("2026-01-01T12:00:00.000Z") == NOON
    assert to_epoch_ms("2026-01-01T12:00:00.000+0000") == NOON
    assert to_epoch_ms("2026-01-01") == NOON - 12 * 3600 * 1000


def test_update_like_example_b() -> None:
    """Only changed fields, nested compound children, nulled ones as None (facts §3.5 B)."""
    schema = order_schema()
    changed = ["Status", "ShippingAddress.City", "LastModifiedDate", "Fulfillment_Error__c"]
    record = all_null(schema) | {
        "ChangeEventHeader": header(
            "UPDATE",
            changedFields=encode(schema.fields, changed),
            nulledFields=encode(schema.fields, ["Fulfillment_Error__c"]),
        ),
        "Status": "Activated",
        "ShippingAddress": {
            k: None
            for k in (
                "Street",
                "City",
                "State",
                "PostalCode",
                "Country",
                "Latitude",
                "Longitude",
                "GeocodeAccuracy",
            )
        }
        | {"City": "Lyon"},
        "LastModifiedDate": NOON,
        "AccountId": None,
    }
    message = to_cometd_shape(ORDER, consumer_event(schema, record), schema)
    assert message["channel"] == ORDER
    data = message["data"]
    assert data["schema"] == schema.schema_id
    assert data["event"] == {"replayId": "000000000002d0ca", "EventUuid": "uuid-1"}
    payload = dict(data["payload"])
    hdr = payload.pop("ChangeEventHeader")
    assert payload == {
        "Status": "Activated",
        "ShippingAddress": {"City": "Lyon"},
        "LastModifiedDate": "2026-01-01T12:00:00.000Z",
        "Fulfillment_Error__c": None,
    }
    assert hdr["changeType"] == "UPDATE"
    assert sorted(hdr["changedFields"]) == sorted(changed)
    assert hdr["nulledFields"] == ["Fulfillment_Error__c"]
    assert hdr["diffFields"] == []
    event = parse_cometd(message)
    assert event.replay_id == "000000000002d0ca"
    assert event.dedupe_key == "cdc:00043f2a-91c0-7d1e-5b2a-6c8e4f1a9b03:1:8015e00000Q7mNpAAJ"


def test_update_diff_field_is_wrapped_like_cometd() -> None:
    schema = order_schema()
    record = all_null(schema) | {
        "ChangeEventHeader": header(
            "UPDATE",
            changedFields=encode(schema.fields, ["Description"]),
            diffFields=encode(schema.fields, ["Description"]),
        ),
        "Description": "--- \n+++ abc\n@@ -1 +1 @@",
    }
    payload = to_cometd_shape(ORDER, consumer_event(schema, record), schema)["data"]["payload"]
    assert payload["Description"] == {"diff": "--- \n+++ abc\n@@ -1 +1 @@"}


def test_create_carries_non_null_fields_with_dates_as_strings() -> None:
    schema = order_schema()
    record = all_null(schema) | {
        "ChangeEventHeader": header("CREATE"),
        "Status": "Draft",
        "EffectiveDate": NOON - 12 * 3600 * 1000,
        "CreatedDate": NOON,
        "TotalAmount": 12.5,
        "BillingAddress": {"Street": None, "City": "Paris", "State": None, "PostalCode": None,
                           "Country": None, "Latitude": None, "Longitude": None,
                           "GeocodeAccuracy": None},
        "ShippingAddress": {k: None for k in ("Street", "City", "State", "PostalCode", "Country",
                                               "Latitude", "Longitude", "GeocodeAccuracy")},
    }  # fmt: skip
    payload = to_cometd_shape(ORDER, consumer_event(schema, record), schema)["data"]["payload"]
    payload.pop("ChangeEventHeader")
    assert payload == {
        "Status": "Draft",
        "EffectiveDate": "2026-01-01",
        "CreatedDate": "2026-01-01T12:00:00.000Z",
        "TotalAmount": 12.5,
        "BillingAddress": {"City": "Paris"},
    }


@pytest.mark.parametrize("change_type", ["DELETE", "GAP_UPDATE", "GAP_OVERFLOW"])
def test_delete_and_gap_are_header_only(change_type: str) -> None:
    schema = order_schema()
    record = all_null(schema) | {"ChangeEventHeader": header(change_type), "Status": "Draft"}
    payload = to_cometd_shape(ORDER, consumer_event(schema, record), schema)["data"]["payload"]
    assert list(payload) == ["ChangeEventHeader"]
    assert payload["ChangeEventHeader"]["changeType"] == change_type


def test_platform_event_keeps_nulls_and_formats_created_date() -> None:
    ts = topic_schema("/event/Order_Status__e")
    assert ts is not None
    record = {
        "CreatedDate": NOON + 3412,
        "CreatedById": "0055e000006XyZ1AAK",
        "Order_Id__c": "8015e00000Q7mNpAAJ",
        "Status__c": "FULFILLED",
        "Error_Message__c": None,
    }
    message = to_cometd_shape(
        "/event/Order_Status__e", consumer_event(ts.schema, record), ts.schema
    )
    assert message["data"]["payload"] == record | {"CreatedDate": "2026-01-01T12:00:03.412Z"}
    event = parse_cometd(message)
    assert event.dedupe_key == "pe:uuid-1" and not event.is_change_event


def test_schema_conventions_and_ids() -> None:
    schema = cdc_schema("Order")
    assert schema["name"] == "OrderChangeEvent" and schema["namespace"] == "com.sforce.eventbus"
    first = schema["fields"][0]
    assert first["name"] == "ChangeEventHeader" and first["type"]["type"] == "record"
    change_type = next(f for f in first["type"]["fields"] if f["name"] == "changeType")
    assert change_type["type"]["type"] == "enum" and change_type["type"]["name"] == "ChangeType"
    assert "GAP_OVERFLOW" in change_type["type"]["symbols"]
    by_name = {f["name"]: f for f in schema["fields"][1:]}
    assert all(f["type"][0] == "null" and f["default"] is None for f in by_name.values())
    assert all("doc" in f for f in by_name.values())
    assert by_name["EffectiveDate"]["type"] == ["null", "long"]
    assert by_name["EffectiveDate"]["doc"] == "Data:DateOnly"
    assert by_name["BillingAddress"]["type"][1]["type"] == "record"
    assert by_name["ShippingAddress"]["type"][1] == "com.sforce.eventbus.Address"
    assert "Id" not in by_name and "IsDeleted" not in by_name and "SystemModstamp" not in by_name
    pe = platform_event_schema("Order_Status__e")
    assert [f["name"] for f in pe["fields"]][:2] == ["CreatedDate", "CreatedById"]
    assert pe["fields"][0]["type"] == "long"
    ts = topic_schema(ORDER)
    assert ts is not None
    assert len(ts.schema_id) == 22 and ts.schema_id == fingerprint(schema)
    assert schema_by_id(ts.schema_id) is ts
    assert schema_by_id(schema_id("OrderChangeEvent")) is ts  # CometD's data.schema id
    assert topic_schema("/data/AccountChangeEvent") is None


async def test_schema_cache_fetches_each_id_once() -> None:
    calls: list[str] = []
    ts = topic_schema(ORDER)
    assert ts is not None

    async def fetch(schema_id_: str) -> str:
        calls.append(schema_id_)
        if schema_id_ == "bad":
            raise RuntimeError("boom")
        return ts.schema_json

    cache = SchemaCache(fetch)
    first = await cache.get("abc")
    assert (await cache.get("abc")) is first and "abc" in cache
    assert first.schema_id == "abc" and json.loads(ts.schema_json) == first.schema
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await cache.get("bad")
    assert calls == ["abc", "bad", "bad"]  # failures are not cached


def _both(event: StoredEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same stored event rendered over CometD (JSON round trip) and over Pub/Sub."""
    cometd = json.loads(json.dumps(event_message(event)))
    ts, payload = encode_event(event)
    producer = pb.ProducerEvent(id=event.event_uuid, schema_id=ts.schema_id, payload=payload)
    ce = pb.ConsumerEvent(event=producer, replay_id=event.replay_id.to_bytes(8, "big"))
    return cometd, to_cometd_shape(event.channel, ce, ts.schema)


def test_sandbox_events_mean_the_same_over_both_encodings() -> None:
    org = SandboxOrg()
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"})
    order = store.create(
        "Order",
        {"AccountId": account, "EffectiveDate": "2026-01-01", "ShippingCity": "Paris", "Name": ""},
    )
    store.update(
        "Order", order, {"Status": "Activated", "ShippingCity": "Lyon", "EndDate": "2026-02-01"}
    )
    store.update("Order", order, {"ShippingCity": None, "Fulfillment_Status__c": "SYNCED"})
    store.delete("Order", order)
    store.undelete("Order", order)
    store.publish("Order_Status__e", {"Order_Id__c": order, "Status__c": "OK"})
    events = org.events.all_events()
    assert len(events) == 6
    for stored in events:
        cometd, pubsub = _both(stored)
        a, b = parse_cometd(cometd), parse_cometd(pubsub)
        assert a.dedupe_key == b.dedupe_key
        assert a.change_type == b.change_type and a.record_ids == b.record_ids
        assert sorted(a.changed_fields) == sorted(b.changed_fields)
        body_a = {k: v for k, v in a.payload.items() if k != "ChangeEventHeader"}
        body_b = {k: v for k, v in b.payload.items() if k != "ChangeEventHeader"}
        assert body_a == body_b, stored.payload
        if a.is_change_event:
            ha, hb = a.payload["ChangeEventHeader"], b.payload["ChangeEventHeader"]
            assert {k: v for k, v in hb.items() if k in ha and k != "changedFields"} == {
                k: v for k, v in ha.items() if k != "changedFields"
            }
    nulled = parse_cometd(_both(events[2])[1]).payload["ChangeEventHeader"]["nulledFields"]
    assert nulled == ["ShippingAddress.City"]
