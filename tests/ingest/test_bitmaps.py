"""Pub/Sub changedFields/nulledFields/diffFields bitmaps (facts §2.7)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revflow.ingest.pubsub.bitmaps import FieldNode, decode, encode, field_tree
from revflow.sandbox.avro_schemas import cdc_schema

ADDRESS = ("Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude", "Geo")

# Example B of the fact sheet (§3.5): the illustrative OrderChangeEvent field order.
EXAMPLE_B = [
    "ChangeEventHeader",
    "OwnerId",
    "ContractId",
    "AccountId",
    "Pricebook2Id",
    "OriginalOrderId",
    "EffectiveDate",
    "EndDate",
    "IsReductionOrder",
    "Status",
    "Description",
    "CustomerAuthorizedById",
    "CompanyAuthorizedById",
    "Type",
    "BillingAddress",
    "ShippingAddress",
    "Name",
    "PoDate",
    "PoNumber",
    "OrderReferenceNumber",
    "BillToContactId",
    "ShipToContactId",
    "ActivatedDate",
    "ActivatedById",
    "StatusCode",
    "OrderNumber",
    "TotalAmount",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "Integration_Status__c",
    "Integration_Error__c",
]


def nodes(names: list[str], compounds: dict[str, tuple[str, ...]] | None = None) -> list[FieldNode]:
    compounds = compounds or {}
    return [FieldNode(n, compounds.get(n)) for n in names]


def example_b() -> list[FieldNode]:
    return nodes(EXAMPLE_B, {"BillingAddress": ADDRESS, "ShippingAddress": ADDRESS})


def test_worked_example_bits() -> None:
    fields = nodes([f"f{i}" for i in range(32)])
    assert decode(fields, ["0x650004E0"]) == [f"f{i}" for i in (5, 6, 7, 10, 24, 26, 29, 30)]


def test_worked_round_trip_0x1c4() -> None:
    fields = nodes(
        [
            "ChangeEventHeader",
            "Name",
            "Status",
            "Description",
            "BillingAddress",
            "OwnerId",
            "LastModifiedDate",
            "Integration_Status__c",
            "Integration_Error__c",
        ],
        {"BillingAddress": ADDRESS},
    )
    names = decode(fields, ["0x1C4", "4-0x02"])
    assert names == [
        "Status",
        "LastModifiedDate",
        "Integration_Status__c",
        "Integration_Error__c",
        "BillingAddress.City",
    ]
    encoded = encode(fields, names)
    assert encoded == ["0x01C4", "4-0x02"]  # uppercase, even length
    assert decode(fields, encoded) == names


def test_example_b_changed_and_nulled_fields() -> None:
    fields = example_b()
    changed = decode(fields, ["0x01A0000200", "15-0x02"])
    assert changed == [
        "Status",
        "LastModifiedDate",
        "Integration_Status__c",
        "Integration_Error__c",
        "ShippingAddress.City",
    ]
    assert decode(fields, ["0x0100000000"]) == ["Integration_Error__c"]
    assert decode(fields, []) == []
    assert encode(fields, changed) == ["0x01A0000200", "15-0x02"]


def test_decoding_is_tolerant() -> None:
    fields = nodes(["a", "b", "c", "d", "e"], {"e": ("x", "y", "z")})
    assert decode(fields, ["0x1e"]) == ["b", "c", "d", "e"]  # lowercase, odd length
    assert decode(fields, ["0X6", " 4-0x4 "]) == ["b", "c", "e.z"]
    assert decode(fields, ["0xFFFF"]) == ["a", "b", "c", "d", "e"]  # bits past the schema
    assert decode(fields, ["9-0x01", "1-0x01"]) == []  # unknown / non-compound positions
    assert decode(fields, ["", "0x00"]) == []


def test_all_children_set_default_and_collapse() -> None:
    fields = nodes(["h", "addr", "n"], {"addr": ("x", "y", "z")})
    assert decode(fields, ["0x00", "1-0x07"]) == ["addr.x", "addr.y", "addr.z"]
    assert decode(fields, ["0x00", "1-0x07"], collapse=True) == ["addr"]
    assert decode(fields, ["0x00", "1-0x03"], collapse=True) == ["addr.x", "addr.y"]


def test_encode_formats_and_errors() -> None:
    fields = nodes(["h", "a", "b", "c", "addr"], {"addr": ("x", "y", "z", "w", "v")})
    assert encode(fields, []) == []
    assert encode(fields, ["a", "b"]) == ["0x06"]
    assert encode(fields, ["addr.v"]) == ["0x00", "4-0x10"]
    assert encode(fields, ["addr"]) == ["0x00", "4-0x1F"]  # bare compound: every child
    with pytest.raises(KeyError):
        encode(fields, ["nope"])
    with pytest.raises(KeyError):
        encode(fields, ["addr.nope"])
    with pytest.raises(KeyError):
        encode(fields, ["a.x"])


def _record(name: str, fields: list[str]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "fields": [{"name": f, "type": ["null", "string"]} for f in fields],
    }


def test_field_tree_unwraps_unions_and_named_references() -> None:
    schema: dict[str, Any] = {
        "type": "record",
        "name": "XChangeEvent",
        "namespace": "com.sforce.eventbus",
        "fields": [
            {"name": "ChangeEventHeader", "type": _record("ChangeEventHeader", ["entityName"])},
            {"name": "Name", "type": ["null", "string"]},
            {"name": "BillingAddress", "type": ["null", _record("Address", ["Street", "City"])]},
            {"name": "ShippingAddress", "type": ["null", "com.sforce.eventbus.Address"]},
            {"name": "Owner", "type": ["null", "string", _record("PersonName", ["First"])]},
            {"name": "Tags", "type": {"type": "array", "items": "string"}},
        ],
    }
    tree = field_tree(schema)
    assert [n.name for n in tree] == [f["name"] for f in schema["fields"]]
    by_name = {n.name: n.children for n in tree}
    assert by_name["BillingAddress"] == ("Street", "City")
    assert by_name["ShippingAddress"] == ("Street", "City")  # resolved reference
    assert by_name["Owner"] == ("First",)
    assert by_name["Name"] is None and by_name["Tags"] is None
    assert by_name["ChangeEventHeader"] == ("entityName",)
    assert decode(tree, ["0x02", "3-0x02", "4-0x01"]) == [
        "Name",
        "ShippingAddress.City",
        "Owner.First",
    ]


def test_sandbox_order_schema_tree() -> None:
    tree = field_tree(cdc_schema("Order"))
    compounds = [n.name for n in tree if n.children and n.name != "ChangeEventHeader"]
    assert compounds == ["BillingAddress", "ShippingAddress"]
    names = ["Status", "ShippingAddress.City", "LastModifiedDate"]
    assert sorted(decode(tree, encode(tree, names))) == sorted(names)


@given(st.data())
def test_round_trip_property(data: st.DataObject) -> None:
    fields = example_b()
    flat = [f.name for f in fields if f.children is None]
    nested = [f"{f.name}.{c}" for f in fields if f.children for c in f.children]
    names = data.draw(st.lists(st.sampled_from(flat + nested), unique=True))
    encoded = encode(fields, names)
    assert sorted(decode(fields, encoded)) == sorted(names)
    for entry in encoded:
        hex_part = entry.split("-")[-1]
        assert hex_part.startswith("0x") and len(hex_part) % 2 == 0
        assert hex_part[2:] == hex_part[2:].upper()
