from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revflow.mapping import MappingEvalError, compile_mapping
from tests.mapping import compile_fields, sample_order

MAPPING_TEXT = """\
name: order
source: Order
target: erp.test
fields:
  external_id: {path: Id, required: true}
  customer:
    fields:
      name: {path: Account.Name, required: true}
      country: {path: Account.BillingCountry, default: XX}
  order_date: {path: EffectiveDate, transform: date}
  status: {path: Status, transform: {map: {values: {Activated: A, Draft: D}}}}
  lines:
    each: OrderItems
    where: {path: Product2.Family, equals: Hardware}
    fields:
      sku: {path: Product2.ProductCode, required: true}
      price: {path: UnitPrice, transform: money}
"""


@pytest.fixture(scope="module")
def mapping():  # type: ignore[no-untyped-def]
    return compile_mapping(MAPPING_TEXT, "mappings/order.yaml")


def test_apply_builds_nested_document(mapping: Any) -> None:
    assert mapping.apply(sample_order()) == {
        "external_id": "8015e00000Q7mNpAAJ",
        "customer": {"name": "Acme GmbH", "country": "DE"},
        "order_date": "2026-01-15",
        "status": "A",
        "lines": [{"sku": "WIDGET-1", "price": "100.00"}],
    }


def test_required_field_missing_through_null_relationship(mapping: Any) -> None:
    with pytest.raises(MappingEvalError) as info:
        mapping.apply(sample_order(Account=None))
    err = info.value
    assert (err.file, err.line, err.key, err.record_id) == (
        "mappings/order.yaml",
        8,
        "customer.name",
        "8015e00000Q7mNpAAJ",
    )
    assert str(err) == (
        "mappings/order.yaml:8: field 'customer.name' is required but Account.Name is missing "
        "(record 8015e00000Q7mNpAAJ)"
    )


def test_default_fills_missing_optional(mapping: Any) -> None:
    order = sample_order()
    order["Account"]["BillingCountry"] = None
    assert mapping.apply(order)["customer"]["country"] == "XX"


def test_transform_failure_names_file_line_key_and_record(mapping: Any) -> None:
    with pytest.raises(MappingEvalError) as info:
        mapping.apply(sample_order(EffectiveDate="15/01/2026"))
    assert str(info.value) == (
        "mappings/order.yaml:10: field 'order_date' transform 'date' failed: "
        "cannot parse '15/01/2026' as a date or datetime (record 8015e00000Q7mNpAAJ)"
    )


def test_value_not_in_map(mapping: Any) -> None:
    with pytest.raises(MappingEvalError, match=r"order.yaml:11: field 'status' transform 'map' "):
        mapping.apply(sample_order(Status="Cancelled"))


def test_error_inside_each_names_item_index(mapping: Any) -> None:
    order = sample_order()
    order["OrderItems"][0]["UnitPrice"] = "n/a"
    with pytest.raises(MappingEvalError) as info:
        mapping.apply(order)
    assert info.value.key == "lines[0].price"
    assert info.value.line == 17


def test_where_filters_items_before_evaluating(mapping: Any) -> None:
    order = sample_order()
    order["OrderItems"][1]["Product2"]["ProductCode"] = None  # Services line: filtered out
    assert [line["sku"] for line in mapping.apply(order)["lines"]] == ["WIDGET-1"]


@pytest.mark.parametrize("items", [None, []])
def test_each_over_missing_or_empty_list(mapping: Any, items: Any) -> None:
    assert mapping.apply(sample_order(OrderItems=items))["lines"] == []


def test_each_over_non_list(mapping: Any) -> None:
    with pytest.raises(
        MappingEvalError, match="field 'lines' expects a list at OrderItems, got dict"
    ):
        mapping.apply(sample_order(OrderItems={"records": []}))


def test_record_without_id(mapping: Any) -> None:
    with pytest.raises(MappingEvalError, match=r"\(record <no Id>\)$"):
        mapping.apply(sample_order(Id=None))


def test_non_mapping_record(mapping: Any) -> None:
    with pytest.raises(MappingEvalError, match="expected a record mapping, got list"):
        mapping.apply([1, 2])  # type: ignore[arg-type]


def test_when_omits_field() -> None:
    m = compile_fields(
        """
        po: {path: PoNumber, when: {path: PoNumber, exists: true}}
        rush:
          value: true
          when: {all: [{path: Status, in: [Activated]}, {not: {path: TotalAmount, equals: 0}}]}
        note:
          value: free
          when: {any: [{path: TotalAmount, equals: 0}, {path: Status, not_in: [Activated]}]}
        """
    )
    assert m.apply(sample_order()) == {"rush": True}
    assert m.apply(sample_order(PoNumber="PO-7", TotalAmount=0)) == {"po": "PO-7", "note": "free"}


def test_when_on_objects_and_lists() -> None:
    m = compile_fields(
        """
        ship:
          when: {path: Status, equals: Shipped}
          fields: {id: Id}
        lines:
          each: OrderItems
          when: {path: Status, not_equals: Shipped}
          fields: {id: Id}
        """
    )
    assert m.apply(sample_order()) == {"lines": [{"id": "8025e0000001"}, {"id": "8025e0000002"}]}


def test_constants_formats_and_root_paths_in_items() -> None:
    m = compile_fields(
        """
        kind: {value: SO}
        meta: {value: {a: [1, 2]}}
        ref: {format: "{OrderNumber}-{Account.AccountNumber}"}
        lines:
          each: OrderItems
          fields:
            ref: {format: "{$.OrderNumber}/{Id}"}
            total: {path: TotalPrice, transform: {money: {currency: $.CurrencyIsoCode}}}
        """
    )
    out = m.apply(sample_order(CurrencyIsoCode="JPY"))
    assert out["kind"] == "SO" and out["meta"] == {"a": [1, 2]}
    assert out["ref"] == "00000101-ACC-1"
    assert out["lines"][0] == {"ref": "00000101/8025e0000001", "total": "200"}


def test_default_goes_through_transforms_and_null_skips_them() -> None:
    m = compile_fields(
        """
        total: {path: Missing, default: 0, transform: money}
        po: {path: PoNumber, transform: upper}
        """
    )
    assert m.apply(sample_order()) == {"total": "0.00", "po": None}


def test_required_each() -> None:
    m = compile_fields("lines: {each: OrderItems, required: true, fields: {id: Id}}\n")
    with pytest.raises(MappingEvalError, match="is required but OrderItems is missing"):
        m.apply(sample_order(OrderItems=None))


def test_bad_format_spec_is_an_eval_error() -> None:
    m = compile_fields('ref: {format: "{OrderNumber:.2f}"}\n')
    with pytest.raises(MappingEvalError, match="field 'ref' cannot be built from"):
        m.apply(sample_order())


def test_apply_does_not_mutate_the_record(mapping: Any) -> None:
    order = sample_order()
    mapping.apply(order)
    assert order == sample_order()


anything = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
maybe_dict = st.none() | anything | st.dictionaries(st.sampled_from(["Name", "Family"]), anything)
item = st.fixed_dictionaries(
    {},
    optional={
        "UnitPrice": anything,
        "Product2": maybe_dict
        | st.fixed_dictionaries(
            {"ProductCode": anything, "Family": st.sampled_from(["Hardware", "Services"])}
        ),
    },
)
record = st.fixed_dictionaries(
    {},
    optional={
        "Id": anything,
        "EffectiveDate": anything | st.dates().map(str),
        "Status": st.sampled_from(["Activated", "Draft", "Other"]) | anything,
        "CurrencyIsoCode": st.sampled_from(["EUR", "JPY"]) | anything,
        "Account": maybe_dict,
        "OrderItems": anything | st.lists(item | anything, max_size=3),
    },
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(record=record)
def test_bad_data_only_ever_raises_mapping_eval_error(record: dict) -> None:
    m = compile_mapping(MAPPING_TEXT, "mappings/order.yaml")
    try:
        m.apply(record)
    except MappingEvalError as err:
        assert err.file == "mappings/order.yaml"
