"""Tests of the pure plans core (app/plans), and their sample data.

``order()`` is a sample order with three lines (two hardware, one service);
``problems(body)`` compiles a plan file body and answers its problems as text;
``draft``, ``current`` and ``undo`` build drafted and stored steps for diffs.
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

from revflow.plans.decompose import StepDraft
from revflow.plans.diff import CurrentStep
from revflow.plans.files import compile_plan
from revflow.plans.state import StepState

PLANS = Path(__file__).resolve().parents[2] / "plans"
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"

ORDER_ID = "8015e00000Q7mNpAAJ"
HW1, HW2, SVC = "8025e00000AAAAAAAA", "8025e00000BBBBBBBB", "8025e00000CCCCCCCC"

_ORDER: dict[str, Any] = {
    "Id": ORDER_ID,
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


HEAD = """\
name: p
source: Order
"""


def problems(body: str, **options: object) -> list[str]:
    """The problems of a plan file ``HEAD + body`` (``file:line:col: message``)."""
    text = HEAD + textwrap.dedent(body)
    definition, found = compile_plan(text, "p.yaml", **options)  # type: ignore[arg-type]
    assert (definition is None) == bool(found)
    return [str(p) for p in found]


# -- step drafts and stored steps, for diffs ----------------------------------------


def draft(key: str, payload: Any = None, deps: tuple[str, ...] = (), **kw: Any) -> StepDraft:
    step_input: dict[str, Any] = {"payload": payload if payload is not None else {"q": 1}}
    if "compensation" in kw:
        step_input["compensation"] = kw.pop("compensation")
    return StepDraft(
        key=key,
        position=kw.pop("position", 0),
        kind=kw.pop("kind", "callout"),
        depends_on=deps,
        connector="erp",
        action=kw.pop("action", f"{key}.create"),
        idempotency_key=f"{ORDER_ID}-{key}",
        input=step_input,
        mapping_hash=None,
        **kw,
    )


def current(key: str, state: StepState, payload: Any = None, **kw: Any) -> CurrentStep:
    return CurrentStep(key, state, {"payload": payload if payload is not None else {"q": 1}}, **kw)


def undo(action: str) -> dict[str, Any]:
    return {
        "kind": "callout",
        "connector": "erp",
        "action": action,
        "idempotency_key": f"k-{action}",
        "input": {"payload": {}},
    }
