"""`record_lookups:` — compile checks and pure evaluation from `__lookups__`."""

from __future__ import annotations

from typing import Any

import pytest

from revflow.mapping import MappingEvalError, MappingLoadError, compile_mapping
from revflow.mapping.record_lookups import LookupRequest

HEAD = """name: t
source: Order
target: x
"""
LOOKUPS = """record_lookups:
  parent_account:
    { sobject: Account, match: Id, key: Account.ParentId, fields: [Name, AccountNumber] }
  product: { sobject: Product2, match: Id, key: Product2Id, fields: [Family] }
"""


def compile_(body: str) -> Any:
    return compile_mapping(HEAD + LOOKUPS + body, "m.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(MappingLoadError) as info:
        compile_mapping(HEAD + text, "m.yaml")
    return [str(p) for p in info.value.problems]


def order(**lookups: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "Id": "801X",
        "Account": {"ParentId": "001P"},
        "OrderItems": [{"Product2Id": "01tA"}, {"Product2Id": "01tB"}, {"Product2Id": "01tA"}],
    }
    if lookups:
        record["__lookups__"] = lookups
    return record


MAPPING = """fields:
  parent: { lookup_record: parent_account, field: Name }
  parent_number: { lookup_record: parent_account, field: AccountNumber, default: "-" }
  lines:
    each: OrderItems
    fields:
      family: { lookup_record: product, field: Family, transform: upper }
"""


def test_values_are_read_from_lookups_and_missing_ones_are_null() -> None:
    mapping = compile_(MAPPING)
    record = order(
        parent_account={"001P": {"Name": "Holding", "AccountNumber": None}},
        product={"01tA": {"Family": "Hardware"}, "01tB": None},
    )
    assert mapping.apply(record) == {
        "parent": "Holding",
        "parent_number": "-",
        "lines": [{"family": "HARDWARE"}, {"family": None}, {"family": "HARDWARE"}],
    }
    assert mapping.apply(order()) == {
        "parent": None,
        "parent_number": "-",
        "lines": [{"family": None}] * 3,
    }


def test_lookup_requests_are_deduplicated_and_skip_null_keys() -> None:
    mapping = compile_(MAPPING)
    assert mapping.lookup_requests(order()) == [
        LookupRequest("Account", "Id", "001P", ("Name", "AccountNumber")),
        LookupRequest("Product2", "Id", "01tA", ("Family",)),
        LookupRequest("Product2", "Id", "01tB", ("Family",)),
    ]
    assert mapping.lookup_requests({"Id": "801", "Account": None, "OrderItems": []}) == []


def test_key_path_is_a_source_ref_for_the_query() -> None:
    mapping = compile_(MAPPING)
    refs = {(r.base, r.parts) for r in mapping.source_refs}
    assert ((), ("Account", "ParentId")) in refs
    assert (("OrderItems",), ("Product2Id",)) in refs


def test_required_lookup_names_file_line_key_and_record() -> None:
    mapping = compile_(
        "fields:\n  parent: { lookup_record: parent_account, field: Name, required: true }\n"
    )
    with pytest.raises(MappingEvalError) as info:
        mapping.apply(order(parent_account={"001P": None}))
    text = str(info.value)
    assert text.startswith("m.yaml:9: field 'parent' is required")
    assert "lookup_record parent_account.Name (key '001P')" in text and "801X" in text
    assert mapping.apply(order(parent_account={"001P": {"Name": "H"}})) == {"parent": "H"}


def test_compile_problems_have_positions() -> None:
    found = problems(
        """record_lookups:
  a: { sobject: Account, key: Account.ParentId, fields: [Name] }
  b: { sobject: "Acc ount", match: Id, key: Account.ParentId, fields: [] }
  c: { sobject: Account, match: Id, key: AccountId, fields: [Name], typo: 1 }
fields:
  x: { lookup_record: nope, field: Name }
  y: { lookup_record: c, field: Phone }
  z: { lookup_record: c }
  w: { path: Id, field: Name }
"""
    )
    assert found == [
        "m.yaml:5:3: record lookup 'a' needs 'match'",
        "m.yaml:6:17: record lookup 'b': 'sobject' must be an API name like Account or Id",
        "m.yaml:6:71: record lookup 'b': 'fields' must be a non-empty list of field names",
        "m.yaml:7:69: unknown record_lookups.c key 'typo'",
        "m.yaml:9:23: field 'x': undefined record lookup 'nope' (known: c)",
        "m.yaml:10:33: field 'y': 'Phone' is not fetched by record lookup 'c' (fields: Name)",
        "m.yaml:11:23: field 'z': 'lookup_record' needs 'field'",
        "m.yaml:12:18: field 'w': 'field' needs 'lookup_record'",
    ]


def test_record_lookups_must_be_a_mapping() -> None:
    found = problems("record_lookups: [a]\nfields: { x: Id }\n")
    assert found == ["m.yaml:4:17: 'record_lookups' must be a mapping"]
