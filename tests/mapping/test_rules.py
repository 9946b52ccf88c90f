"""Top-level `rules:`: built-ins, expr rules, all failures reported, load-time checks."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revflow.mapping import (
    MappingEvalError,
    MappingLoadError,
    MappingRuleError,
    RuleFailure,
    compile_mapping,
)
from revflow.mapping.paths import Scope
from revflow.mapping.rules import iban_problem, vat_id_problem
from tests.mapping import HEADER, sample_order


def with_rules(rules: str, fields: str = "id: Id") -> object:
    text = (
        HEADER
        + "rules:\n"
        + textwrap.indent(textwrap.dedent(rules), "  ")
        + "fields:\n"
        + textwrap.indent(textwrap.dedent(fields), "  ")
    )
    return compile_mapping(text, "r.yaml")


def failures(rules: str, record: dict | None = None) -> list[str]:
    mapping = with_rules(rules)
    try:
        mapping.apply(record if record is not None else sample_order())  # type: ignore[attr-defined]
    except MappingRuleError as exc:
        return [str(f) for f in exc.failures]
    return []


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "de89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
     "NO9386011117947", "FR1420041010050500013M02606"],
)  # fmt: skip
def test_valid_ibans(iban: str) -> None:
    assert iban_problem(iban) is None


@pytest.mark.parametrize(
    ("iban", "problem"),
    [
        ("DE89370400440532013001", "the check digits do not match (mod-97)"),
        ("DE8937040044053201300", "an IBAN from DE has 22 characters, got 21"),
        ("ZZ89370400440532013000", "unknown IBAN country 'ZZ'"),
        ("12345", "must be a country code, 2 check digits and up to 30 letters or digits"),
    ],
)
def test_invalid_ibans(iban: str, problem: str) -> None:
    assert iban_problem(iban) == problem


@pytest.mark.parametrize(
    ("vat", "country", "problem"),
    [
        ("DE123456789", None, None),
        ("ATU12345678", "AT", None),
        ("EL123456789", "GR", None),
        ("NL123456789B01", None, None),
        ("FR 12.345.678.901", None, None),
        ("DE12345678", None, "does not match the DE format"),
        ("FR12345678901", "DE", "prefix FR does not match country DE"),
        ("US123", None, "unknown VAT id country prefix 'US'"),
    ],
)
def test_vat_ids(vat: str, country: str | None, problem: str | None) -> None:
    assert vat_id_problem(vat, country) == problem


def test_every_failed_rule_is_reported_with_field_and_rule() -> None:
    order = sample_order(TotalAmount=2500.0, Status="Draft", PoNumber="x")
    order["Account"].update(IBAN__c="DE89370400440532013001", VAT__c="DE1")
    order["OrderItems"][0]["Tax_Rate__c"] = 7
    order["OrderItems"][1]["Tax_Rate__c"] = 16
    mapping = with_rules(
        """\
        - { rule: required, path: Account.Phone }
        - { rule: iban, path: Account.IBAN__c }
        - { rule: vat_id, path: Account.VAT__c, country: Account.BillingCountry }
        - { rule: vat_rate_allowed, each: OrderItems, path: Tax_Rate__c }
        - { rule: amount_threshold, path: TotalAmount, min: 1, max: 1000 }
        - { rule: pattern, path: PoNumber, regex: "PO-[0-9]+" }
        - { rule: allowed_values, path: Status, values: [Activated] }
        - { rule: expr, name: two_lines, expr: "length(OrderItems) > `2`", message: needs 3 lines }
        - { rule: expr, expr: "TotalAmount == sum(OrderItems[].TotalPrice)" }
        """
    )
    with pytest.raises(MappingRuleError) as info:
        mapping.apply(order)  # type: ignore[attr-defined]
    err = info.value
    assert isinstance(err, MappingEvalError) and err.retryable is False and err.business
    assert [str(f) for f in err.failures] == [
        "rule 'required' failed on Account.Phone: is required but missing",
        "rule 'iban' failed on Account.IBAN__c: 'DE89370400440532013001' is not a valid IBAN: "
        "the check digits do not match (mod-97)",
        "rule 'vat_id' failed on Account.VAT__c: 'DE1' is not a valid VAT id: "
        "does not match the DE format",
        "rule 'vat_rate_allowed' failed on OrderItems[1].Tax_Rate__c: 16 is not an allowed "
        "VAT rate for DE (allowed: 0, 7, 19)",
        "rule 'amount_threshold' failed on TotalAmount: 2500 is above the maximum 1000",
        "rule 'pattern' failed on PoNumber: 'x' does not match /PO-[0-9]+/",
        "rule 'allowed_values' failed on Status: 'Draft' is not one of the allowed values "
        "(Activated)",
        "rule 'two_lines' failed: needs 3 lines",
        "rule 'expr' failed: TotalAmount == sum(OrderItems[].TotalPrice) is false",
    ]
    assert [f.line for f in err.failures] == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert (err.file, err.line, err.key, err.record_id) == (
        "r.yaml",
        5,
        "Account.Phone",
        "8015e00000Q7mNpAAJ",
    )
    assert str(err).startswith(
        "r.yaml:5: rule 'required' failed on Account.Phone: is required but missing; "
        "r.yaml:6: rule 'iban' failed"
    )
    assert str(err).endswith("(record 8015e00000Q7mNpAAJ)")


def test_rules_pass_on_null_and_block_fields_only_when_failing() -> None:
    rules = """\
        - { rule: iban, path: Account.IBAN__c }
        - { rule: vat_rate_allowed, each: OrderItems, path: Tax_Rate__c }
        - { rule: amount_threshold, path: Discount__c, max: 10 }
        """
    assert failures(rules) == []


def test_rule_when_and_message() -> None:
    rules = """\
        - rule: required
          path: PoNumber
          when: { path: Account.BillingCountry, equals: DE }
          message: German customers always send a PO number
        """
    assert failures(rules) == [
        "rule 'required' failed on PoNumber: German customers always send a PO number"
    ]
    order = sample_order()
    order["Account"]["BillingCountry"] = "FR"
    assert failures(rules, order) == []


def test_vat_rate_extra_rates_and_unknown_country() -> None:
    order = sample_order()
    order["OrderItems"][0]["Tax_Rate__c"] = 0
    order["Account"]["BillingCountry"] = "US"
    assert failures(
        "- { rule: vat_rate_allowed, each: OrderItems, path: Tax_Rate__c }\n", order
    ) == [
        "rule 'vat_rate_allowed' failed on OrderItems[0].Tax_Rate__c: no VAT rates are "
        "configured for US (add them under rates:)"
    ]
    extra = "- { rule: vat_rate_allowed, each: OrderItems, path: Tax_Rate__c, rates: {US: [0]} }\n"
    assert failures(extra, order) == []
    order["Account"]["BillingCountry"] = None
    assert failures(extra, order) == [
        "rule 'vat_rate_allowed' failed on OrderItems[0].Tax_Rate__c: cannot check VAT rate 0: "
        "the country at $.Account.BillingCountry is missing"
    ]


def test_expr_rule_runtime_error_is_a_failure() -> None:
    assert failures('- { rule: expr, expr: "divide(TotalAmount, `0`) > `1`" }\n') == [
        "rule 'expr' failed: expr 'divide(TotalAmount, `0`) > `1`' failed: "
        "division by zero (250.0 / 0)"
    ]


def test_rule_failures_win_over_field_errors() -> None:
    mapping = with_rules(
        "- { rule: required, path: Account.Phone }\n", "name: { path: Nope, required: true }\n"
    )
    with pytest.raises(MappingRuleError):
        mapping.apply(sample_order())  # type: ignore[attr-defined]
    assert mapping.check_rules(sample_order()) == [  # type: ignore[attr-defined]
        RuleFailure("required", "Account.Phone", 5, "is required but missing")
    ]


def test_bad_rules_are_load_problems() -> None:
    text = (
        HEADER
        + """\
rules:
  - { rule: ibna, path: X }
  - { rule: pattern, path: X, regex: "([" }
  - { rule: amount_threshold, path: X, min: 5, max: 1 }
  - { rule: amount_threshold, path: X, mix: 5 }
  - { rule: required }
  - { rule: expr, expr: "nope(X)" }
  - { rule: allowed_values, path: X, values: [] }
  - { rule: vat_rate_allowed, path: X, rates: { DE: [19, abc] } }
  - just text
fields:
  id: Id
"""
    )
    with pytest.raises(MappingLoadError) as info:
        compile_mapping(text, "r.yaml")
    found = [str(p) for p in info.value.problems]
    assert found[0] == (
        "r.yaml:5:13: rules[0]: unknown rule 'ibna' (did you mean 'iban'?) (known: "
        "allowed_values, amount_threshold, expr, iban, pattern, required, vat_id, vat_rate_allowed)"
    )
    assert found[1].startswith("r.yaml:6:5: rules[1]: rule 'pattern': invalid regex '([': ")
    assert found[2:] == [
        "r.yaml:7:5: rules[2]: rule 'amount_threshold': 'min' is greater than 'max'",
        "r.yaml:8:5: rules[3]: rule 'amount_threshold' needs 'min:', 'max:' or both",
        "r.yaml:8:40: unknown key in rule 'amount_threshold' 'mix' (did you mean 'min'?)",
        "r.yaml:9:5: rules[4]: rule 'required' needs 'path'",
        "r.yaml:10:26: rules[5]: unknown function 'nope()' in expression 'nope(X)' "
        "(known: " + found[6].split("(known: ")[1],
        "r.yaml:11:5: rules[6]: rule 'allowed_values' needs 'values:' as a non-empty list",
        "r.yaml:12:5: rules[7]: rule 'vat_rate_allowed': 'rates.DE' must be a number, got 'abc'",
        "r.yaml:13:5: rules[8]: a rule must be a mapping with 'rule: <name>'",
    ]


PASS_RULES = """\
- { rule: pattern, path: CurrencyIsoCode, regex: "[A-Z]{3}" }
- { rule: required, path: PoNumber }
- { rule: amount_threshold, path: TotalAmount, min: 0 }
- { rule: allowed_values, path: Status, values: [Activated], when: {path: Id, exists: true} }
- { rule: vat_rate_allowed, each: OrderItems, path: Tax_Rate__c }
- { rule: expr, expr: "TotalAmount > `1`" }
"""


@given(
    currency=st.sampled_from(["EUR", "eur", None, 7]),
    po=st.sampled_from(["PO-1", "", None]),
    total=st.sampled_from([10.0, -1.0, "x", None, 0.5]),
    status=st.sampled_from(["Activated", "Draft"]),
    rate=st.sampled_from([19, 3, None]),
)
def test_the_compiled_pass_agrees_with_the_rules(
    currency: object, po: object, total: object, status: str, rate: object
) -> None:
    mapping: Any = with_rules(PASS_RULES)
    record = sample_order()
    record.update(CurrencyIsoCode=currency, PoNumber=po, TotalAmount=total, Status=status)
    record["OrderItems"][0]["Tax_Rate__c"] = rate
    try:
        failed = bool(mapping.check_rules(record))
    except Exception:  # an expr rule that cannot be evaluated: the pass says no
        failed = True
    assert mapping.rules_pass(Scope(record, record)) is not failed
