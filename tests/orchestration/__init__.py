"""Tests for plan definitions as files: loading, lint, decomposition and explain."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

PLANS = Path(__file__).resolve().parents[2] / "plans"
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"

HW1, HW2, SVC = "8025e00000AAAAAAAA", "8025e00000BBBBBBBB", "8025e00000CCCCCCCC"

_ORDER: dict[str, Any] = {
    "Id": "8015e00000Q7mNpAAJ",
    "OrderNumber": "00000100",
    "Status": "Activated",
    "EffectiveDate": "2024-05-01",
    "CurrencyIsoCode": "EUR",
    "TotalAmount": 120.0,
    "PoNumber": "PO-1",
    "Account": {"Name": "Acme", "AccountNumber": "A1", "BillingCountry": "DE"},
    "OrderItems": [
        {
            "Id": HW1,
            "Quantity": 2,
            "UnitPrice": 10,
            "TotalPrice": 20,
            "Product2": {"ProductCode": "HW-1", "Name": "Router", "Family": "Hardware"},
        },
        {
            "Id": HW2,
            "Quantity": 1,
            "UnitPrice": 50,
            "TotalPrice": 50,
            "Product2": {"ProductCode": "HW-2", "Name": "Switch", "Family": "Hardware"},
        },
        {
            "Id": SVC,
            "Quantity": 1,
            "UnitPrice": 50,
            "TotalPrice": 50,
            "Product2": {"ProductCode": "SV-1", "Name": "Support", "Family": "Service"},
        },
    ],
}


def order(**changes: Any) -> dict[str, Any]:
    """A fresh copy of the sample order (three lines: two hardware, one service)."""
    out = copy.deepcopy(_ORDER)
    out.update(changes)
    return out
