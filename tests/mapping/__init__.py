"""Tests for app.mapping; shared sample data lives here."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

from revflow.mapping import Mapping, compile_mapping

ORDER: dict[str, Any] = {
    "Id": "8015e00000Q7mNpAAJ",
    "OrderNumber": "00000101",
    "Status": "Activated",
    "EffectiveDate": "2026-01-15",
    "CurrencyIsoCode": "EUR",
    "TotalAmount": 250.0,
    "PoNumber": None,
    "Account": {
        "Id": "0015e00000AbCdEAAZ",
        "Name": "Acme GmbH",
        "AccountNumber": "ACC-1",
        "BillingCountry": "DE",
    },
    "OrderItems": [
        {
            "Id": "8025e0000001",
            "Quantity": 2.0,
            "UnitPrice": 100.0,
            "TotalPrice": 200.0,
            "Product2": {"ProductCode": "WIDGET-1", "Name": "Widget", "Family": "Hardware"},
        },
        {
            "Id": "8025e0000002",
            "Quantity": 1.0,
            "UnitPrice": 50.0,
            "TotalPrice": 50.0,
            "Product2": {"ProductCode": "SVC-9", "Name": "Setup", "Family": "Services"},
        },
    ],
}


def sample_order(**changes: Any) -> dict[str, Any]:
    """A deep copy of ORDER with top-level fields replaced."""
    record = copy.deepcopy(ORDER)
    record.update(changes)
    return record


HEADER = "name: t\nsource: Order\ntarget: erp.test\n"


def compile_fields(body: str, *, lookups: str = "", filename: str = "t.yaml") -> Mapping:
    """Compile a mapping whose header is fixed; `body` is the indented `fields:` block."""
    text = (
        HEADER
        + textwrap.dedent(lookups)
        + "fields:\n"
        + textwrap.indent(textwrap.dedent(body), "  ")
    )
    return compile_mapping(text, filename)
