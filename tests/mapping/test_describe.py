"""check_fields: every Salesforce field a mapping reads exists in the (fake) org."""

from __future__ import annotations

from pathlib import Path

from revflow.mapping import check_fields, compile_mapping, load_directory

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"

ORG: dict[str, set[str]] = {
    "Order": {"Id", "OrderNumber", "Status", "EffectiveDate", "CurrencyIsoCode", "TotalAmount",
              "PoNumber", "AccountId"},
    "OrderItem": {"Id", "Quantity", "UnitPrice", "TotalPrice", "Product2Id", "Tax_Rate__c"},
    "Product2": {"Id", "Name", "ProductCode", "Family"},
    "Account": {"Id", "Name", "AccountNumber", "BillingCountry", "VAT_Number__c", "ParentId"},
    "Quote": {"Id", "QuoteNumber", "Name", "Status", "ExpirationDate", "CurrencyIsoCode",
              "TotalPrice", "AccountId", "OpportunityId"},
    "QuoteLineItem": {"Id", "Quantity", "ListPrice", "UnitPrice", "Discount", "TotalPrice",
                      "Product2Id"},
    "Opportunity": {"Id", "Name"},
}  # fmt: skip


def describe(sobject: str) -> set[str]:
    if sobject not in ORG:
        raise KeyError(f"unknown sObject {sobject}")
    return ORG[sobject]


def test_shipped_mappings_match_the_org() -> None:
    for mapping in load_directory(MAPPINGS).values():
        assert check_fields(mapping, describe) == [], mapping.name


def test_missing_fields_and_relationships_are_reported_with_positions() -> None:
    calls: list[str] = []

    def counting(sobject: str) -> set[str]:
        calls.append(sobject)
        return describe(sobject)

    mapping = compile_mapping(
        """\
name: m
source: Order
target: t
rules:
  - {rule: vat_rate_allowed, each: OrderItems, path: Tax_Rate__c, country: $.Account.BillingCuntry}
fields:
  a: Account.Nmae
  b: { format: "{Owner.Name}-{OrderNumber}" }
  c: { path: TotalAmount, transform: { percent_of: Discount__c } }
  lines:
    each: OrderItems
    where: "Product2.Colour == 'red'"
    fields:
      x: { expr: "multiply(Quantity, _root.Rate__c)" }
      y: Payer__r.Name
      z: $.Account.Name
""",
        "m.yaml",
    )
    found = [str(p) for p in check_fields(mapping, counting)]
    assert found == [
        "m.yaml:5:76: Account has no field 'BillingCuntry' (in 'Account.BillingCuntry') "
        "(did you mean 'BillingCountry'?)",
        "m.yaml:7:6: Account has no field 'Nmae' (in 'Account.Nmae') (did you mean 'Name'?)",
        "m.yaml:8:16: Order has no relationship 'Owner' (in 'Owner.Name')",
        "m.yaml:9:40: Order has no field 'Discount__c' (in 'Discount__c')",
        "m.yaml:12:12: Product2 has no field 'Colour' (in 'OrderItems.Product2.Colour')",
        "m.yaml:14:18: Order has no field 'Rate__c' (in 'Rate__c')",
        "m.yaml:15:10: OrderItem has no relationship 'Payer__r' (in 'OrderItems.Payer__r.Name')",
    ]
    assert sorted(calls) == ["Account", "Order", "OrderItem", "Product2"]  # cached


def test_relationship_overrides_and_describe_failures() -> None:
    mapping = compile_mapping(
        "name: m\nsource: Order\ntarget: t\nfields:\n  a: Payer__r.Name\n  b: Contract.Name\n",
        "m.yaml",
    )
    org = {"Order": {"Payer__c", "Payer__r", "ContractId"}, "Payer__c": {"Name"}}
    assert [p.message for p in check_fields(mapping, lambda s: org[s])] == [
        "cannot tell which object Order.Payer__r points to in 'Payer__r.Name' "
        "(pass relationships={'Order.Payer__r': '<sObject>'})",
        "cannot describe Contract: 'Contract'",
    ]
    overrides = {"Order.Payer__r": "Payer__c"}
    problems = check_fields(mapping, lambda s: org[s], relationships=overrides)
    assert [p.message for p in problems] == ["cannot describe Contract: 'Contract'"]


def test_record_lookup_fields_are_checked_too() -> None:
    text = (
        "name: m\nsource: Order\ntarget: t\n"
        "record_lookups:\n"
        "  parent: { sobject: Account, match: Id, key: Account.ParentId, fields: [Name, Rating] }\n"
        "fields:\n"
        "  parent: { lookup_record: parent, field: Name }\n"
    )
    problems = check_fields(compile_mapping(text, "m.yaml"), describe)
    assert [str(p) for p in problems] == [
        "m.yaml:5:1: Account has no field 'Rating' (in 'record_lookups.parent')"
    ]
