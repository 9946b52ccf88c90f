"""The org check against the sandbox org over loopback: describe calls, the currency of
a single-currency org, and one report naming every missing field's file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from revflow.mapping import load_directory
from revflow.salesforce.org_check import OrgCheck, OrgCheckError
from revflow.salesforce.user_info import SOAP_KIND
from revflow.sandbox.org import SandboxOrg
from tests.orgkit import MAPPINGS, settings_for, sf_client

ROOT = Path(__file__).resolve().parents[2]
USED = ("order_to_sales_order", "order_to_invoice")


def _lines(name: str, text: str) -> list[int]:
    """1-based lines of mappings/<name> that mention ``text``."""
    content = (ROOT / "mappings" / name).read_text().splitlines()
    return [i for i, line in enumerate(content, 1) if text in line]


async def _check(org: SandboxOrg, **overrides: object) -> OrgCheck:
    settings = settings_for(org, "sqlite+aiosqlite://", **overrides)
    return OrgCheck(sf_client(settings), settings)


async def test_the_sandbox_org_has_everything_the_shipped_mappings_read(org: SandboxOrg) -> None:
    check = await _check(org)
    shape = await check.run(MAPPINGS, USED)
    assert shape.currency is None  # multicurrency: orders carry CurrencyIsoCode
    assert {"Order", "OrderItem", "Account", "Product2"} <= set(check._described)
    await check.client.aclose()


async def test_a_single_currency_org_gets_its_currency_from_get_user_info(org: SandboxOrg) -> None:
    org.single_currency = "NOK"
    check = await _check(org)
    assert (await check.run(MAPPINGS, USED)).currency == "NOK"
    assert check.client.usage.by_kind[SOAP_KIND] == 1
    await check.client.aclose()
    # a configured currency wins, and getUserInfo is not asked
    configured = await _check(org, salesforce={"org_currency": "SEK"})
    before = org.usage.used
    assert (await configured.run(MAPPINGS, USED)).currency == "SEK"
    assert SOAP_KIND not in configured.client.usage.by_kind
    assert org.usage.used - before == configured.client.usage.calls_made
    await configured.client.aclose()


async def test_missing_fields_are_one_error_naming_file_line_and_setting(org: SandboxOrg) -> None:
    org.missing_fields = {"Order.PoNumber", "Account.AccountNumber"}
    check = await _check(org, writeback={"status_field": "Fulfilment_State__c"})
    with pytest.raises(OrgCheckError) as caught:
        await check.run(MAPPINGS, USED)
    report = str(caught.value)
    where = {f"{p.file}:{p.line}" for p in caught.value.problems}
    for name in ("order_to_sales_order.yaml", "order_to_invoice.yaml"):
        for line in _lines(name, "PoNumber") + _lines(name, "Account.AccountNumber"):
            assert f"{ROOT / 'mappings' / name}:{line}" in where, (name, line, report)
    assert "Order has no field 'PoNumber' (in 'PoNumber')" in report
    assert "Account has no field 'AccountNumber' (in 'Account.AccountNumber')" in report
    # Revflow's own query and the write-back setting are named too
    assert (
        "revflow (order query, app/salesforce/orders.py): Order has no field 'PoNumber'" in report
    )
    assert "REVFLOW_WRITEBACK__STATUS_FIELD: Order has no field 'Fulfilment_State__c'" in report
    # the quote mapping is not used by the plan and reads no Order: not checked
    assert not any("quote_to_erp_quote" in p.file for p in caught.value.problems)
    await check.client.aclose()


async def test_a_single_currency_org_needs_no_currency_field_but_other_fields(
    org: SandboxOrg, tmp_path: Path
) -> None:
    org.single_currency = "EUR"
    mapping = (ROOT / "mappings" / "order_to_sales_order.yaml").read_text()
    (tmp_path / "order_to_sales_order.yaml").write_text(
        mapping.replace("po_number: PoNumber", "po_number: Po_Numbr__c")
    )
    check = await _check(org)
    with pytest.raises(OrgCheckError) as caught:
        await check.run(load_directory(tmp_path), USED)
    [problem] = caught.value.problems  # CurrencyIsoCode is supplied, not a problem
    assert problem.line == _lines("order_to_sales_order.yaml", "po_number")[0]
    assert "Order has no field 'Po_Numbr__c'" in problem.message
    await check.client.aclose()


async def test_an_object_the_org_lacks(org: SandboxOrg, tmp_path: Path) -> None:
    """A record lookup on an object the org does not have (describe answers NOT_FOUND;
    the sandbox has no Contract object)."""
    source = ROOT / "mappings" / "order_to_sales_order.yaml"
    text = source.read_text().replace("sobject: Account", "sobject: Contract")
    (tmp_path / source.name).write_text(text)
    check = await _check(org)
    with pytest.raises(OrgCheckError) as caught:
        await check.run(load_directory(tmp_path), USED)
    [problem] = caught.value.problems
    assert problem.line == _lines(source.name, "sobject: Account")[0]
    assert "cannot describe Contract: NOT_FOUND: The requested resource does not exist" in str(
        problem
    )
    await check.client.aclose()


async def test_with_quotes_the_quote_plan_mapping_and_quote_fields_are_checked(
    org: SandboxOrg,
) -> None:
    check = await _check(org, quotes={"enabled": True})
    used = (*USED, "quote_to_erp_quote")
    await check.run(MAPPINGS, used)  # the sandbox org has them all
    assert {"Quote", "QuoteLineItem"} <= set(check._described)
    org.missing_fields = {"Quote.ERP_Quote_Number__c", "QuoteLineItem.Discount"}
    with pytest.raises(OrgCheckError) as caught:
        await check.run(MAPPINGS, used)
    report = str(caught.value)
    assert (
        "REVFLOW_WRITEBACK__QUOTE__ERP_NUMBER_FIELD: Quote has no field 'ERP_Quote_Number__c'"
        in report
    )
    assert "revflow (quote query, app/salesforce/quotes.py): QuoteLineItem has no field" in report
    quote_mapping = [p for p in caught.value.problems if p.file.endswith("quote_to_erp_quote.yaml")]
    discount = _lines("quote_to_erp_quote.yaml", "Discount")
    assert discount and {p.line for p in quote_mapping} == set(discount)
    await check.client.aclose()
