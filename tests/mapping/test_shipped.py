"""The mappings shipped in mappings/ and the JSON Schema that describes the format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from revflow.mapping import MappingEvalError, lint_paths, load_directory, transform_names
from revflow.mapping.compiler import FIELD_KEYS, RECORD_LOOKUP_KEYS, SOURCES, TOP_KEYS
from revflow.mapping.rules import OPTIONS, RULE_KEYS, rule_names
from tests.mapping import sample_order

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SCHEMA = MAPPINGS / "mapping.schema.json"


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return load_directory(MAPPINGS)


def test_shipped_mappings_lint_clean() -> None:
    assert lint_paths([MAPPINGS]) == []


def test_shipped_mappings_are_registered(shipped: dict[str, Any]) -> None:
    assert {name: (m.source, m.target) for name, m in shipped.items()} == {
        "order_to_sales_order": ("Order", "erp.sales_order"),
        "order_to_invoice": ("Order", "accounting.invoice"),
        "quote_to_erp_quote": ("Quote", "erp.quote"),
    }


def test_order_to_sales_order(shipped: dict[str, Any]) -> None:
    assert shipped["order_to_sales_order"].apply(sample_order()) == {
        "external_id": "8015e00000Q7mNpAAJ",
        "order_number": "00000101",
        "customer": {"name": "Acme GmbH", "account_number": "ACC-1", "country": "DE"},
        "currency": "EUR",
        "order_date": "2026-01-15",
        "po_number": None,
        "lines": [
            {
                "external_id": "8025e0000001",
                "sku": "WIDGET-1",
                "description": "Widget",
                "quantity": 2.0,
                "unit_price": "100.00",
                "line_total": "200.00",
            },
            {
                "external_id": "8025e0000002",
                "sku": "SVC-9",
                "description": "Setup",
                "quantity": 1.0,
                "unit_price": "50.00",
                "line_total": "50.00",
            },
        ],
        "total": "250.00",
    }


def test_order_to_sales_order_in_jpy(shipped: dict[str, Any]) -> None:
    doc = shipped["order_to_sales_order"].apply(
        sample_order(CurrencyIsoCode="JPY", TotalAmount=1234.5)
    )
    assert doc["total"] == "1235"
    assert [line["unit_price"] for line in doc["lines"]] == ["100", "50"]


def test_order_to_sales_order_requires_account_name(shipped: dict[str, Any]) -> None:
    with pytest.raises(MappingEvalError) as info:
        shipped["order_to_sales_order"].apply(sample_order(Account=None))
    assert str(info.value) == (
        f"{MAPPINGS / 'order_to_sales_order.yaml'}:17: field 'customer.name' is required but "
        "Account.Name is missing (record 8015e00000Q7mNpAAJ)"
    )


def test_order_to_invoice(shipped: dict[str, Any]) -> None:
    order = sample_order(PoNumber="PO-77")
    order["OrderItems"].append(
        {
            "Id": "8025e0000003",
            "Quantity": 0,
            "UnitPrice": 9.99,
            "TotalPrice": 0.0,
            "Product2": None,
        }
    )
    assert shipped["order_to_invoice"].apply(order) == {
        "external_id": "8015e00000Q7mNpAAJ",
        "invoice_number": "INV-00000101",
        "order_number": "00000101",
        "customer": {"name": "Acme GmbH", "account_number": "ACC-1", "country": "DE"},
        "currency": "EUR",
        "invoice_date": "2026-01-15",
        "po_number": "PO-77",
        "lines": [
            {
                "sku": "WIDGET-1",
                "description": "Widget",
                "quantity": "2.00",
                "unit_price": "100.00",
                "amount": "200.00",
            },
            {
                "sku": "SVC-9",
                "description": "Setup",
                "quantity": "1.00",
                "unit_price": "50.00",
                "amount": "50.00",
            },
        ],
        "net_total": "250.00",
        "tax_line": {
            "description": "VAT DE",
            "country": "DE",
            "rate_percent": 19,
            "taxable_amount": "250.00",
            "amount": "47.50",
        },
    }


@pytest.mark.parametrize(
    ("country", "rate", "amount"), [("FR", 20, "50.00"), ("US", 0, "0.00"), (None, 0, "0.00")]
)
def test_invoice_vat_lookup(
    shipped: dict[str, Any], country: str | None, rate: int, amount: str
) -> None:
    order = sample_order()
    order["Account"]["BillingCountry"] = country
    doc = shipped["order_to_invoice"].apply(order)
    assert "po_number" not in doc
    assert (doc["tax_line"]["rate_percent"], doc["tax_line"]["amount"]) == (rate, amount)


def test_every_output_carries_external_id(shipped: dict[str, Any]) -> None:
    samples = {
        source: json.loads((MAPPINGS / "tests" / "fixtures" / f"{source.lower()}.json").read_text())
        for source in SOURCES
    }
    for mapping in shipped.values():
        record = samples[mapping.source]
        doc = mapping.apply(record)
        assert doc["external_id"] == record["Id"]
        json.dumps(doc)  # JSON-safe: money and decimals are strings


# -- schema ----------------------------------------------------------------------


def test_schema_matches_the_loader() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == set(TOP_KEYS)
    assert schema["properties"]["source"]["enum"] == list(SOURCES)
    defs = schema["$defs"]
    field_keys = set(defs["valueField"]["properties"]) | set(defs["objectField"]["properties"])
    field_keys |= set(defs["lookupRecordField"]["properties"])
    assert set(defs["recordLookup"]["properties"]) == set(RECORD_LOOKUP_KEYS)
    assert field_keys | set(defs["eachField"]["properties"]) == set(FIELD_KEYS)
    assert set(defs["transform"]["oneOf"][1]["properties"]) == set(transform_names())
    rule = defs["rule"]["properties"]
    assert rule["rule"]["enum"] == rule_names()
    assert set(rule) == set(RULE_KEYS) | {opt for opts in OPTIONS.values() for opt in opts}


def test_schema_validates_shipped_mappings() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for file in sorted(MAPPINGS.glob("*.yaml")):
        assert list(validator.iter_errors(yaml.safe_load(file.read_text()))) == [], file
    bad = {
        "name": "x",
        "source": "Order",
        "target": "t",
        "fields": {"a": {"path": "Id", "value": 1}},
    }
    assert not validator.is_valid(bad)
    good = {"name": "x", "source": "Quote", "target": "t", "fields": {"a": {"expr": "Id"}}}
    assert validator.is_valid(good)
    assert validator.is_valid({**good, "rules": [{"rule": "iban", "path": "Account.IBAN__c"}]})
    assert not validator.is_valid({**good, "rules": [{"rule": "iban"}]})
    assert not validator.is_valid({**good, "rules": [{"rule": "expr", "path": "Id"}]})
