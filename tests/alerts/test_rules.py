"""Which rules an event matches: plan, connector, error class, amount, region, fields."""

from __future__ import annotations

from revflow.alerts.events import AlertEvent
from revflow.alerts.message import EventKind
from revflow.alerts.rules_file import compile_rules

RULES = """\
rules:
  - name: any-fallout
    events: step_fallout
    notify: [{to: owner, via: email}]
  - name: big-german-erp
    events: [step_fallout, jeopardy_late]
    when:
      plan: order_fulfillment
      connector: erp
      error_class: FatalError
      amount_above: 10000
      region: [DE]
      fields: {Type: New}
    notify: [{to: owner, via: email}]
"""
ORDER = {"TotalAmount": 12000, "Type": "New", "Account": {"BillingCountry": "DE"}}


def event(**kw: object) -> AlertEvent:
    values: dict[str, object] = {
        "kind": EventKind.STEP_FALLOUT,
        "subject": "plan:1",
        "title": "t",
        "summary": "s",
        "plan_definition": "order_fulfillment",
        "connector": "erp",
        "error_class": "FatalError",
        "order": ORDER,
    }
    values.update(kw)
    return AlertEvent(**values)  # type: ignore[arg-type]


def names(ev: AlertEvent) -> list[str]:
    ruleset, problems = compile_rules(RULES)
    assert ruleset is not None, problems
    return [r.name for r in ruleset.matching(ev)]


def test_every_condition_holds() -> None:
    assert names(event()) == ["any-fallout", "big-german-erp"]


def test_each_condition_can_exclude() -> None:
    assert names(event(plan_definition="quote_to_erp")) == ["any-fallout"]
    assert names(event(connector="sap")) == ["any-fallout"]
    assert names(event(error_class="RetryableError")) == ["any-fallout"]
    assert names(event(order={**ORDER, "TotalAmount": 10000})) == ["any-fallout"]  # not above
    assert names(event(order={**ORDER, "Account": {"BillingCountry": "FR"}})) == ["any-fallout"]
    assert names(event(order={**ORDER, "Type": "Renewal"})) == ["any-fallout"]
    assert names(event(order=None)) == ["any-fallout"]  # conditions on fields need the order


def test_matching_ignores_case_of_values_and_other_kinds() -> None:
    assert names(event(error_class="fatalerror", order={**ORDER, "Type": "new"})) == [
        "any-fallout",
        "big-german-erp",
    ]
    assert names(event(kind=EventKind.JEOPARDY_LATE)) == ["big-german-erp"]
    assert names(event(kind=EventKind.LOOP_DOWN)) == []
