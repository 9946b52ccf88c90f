"""explain(): which rules fired and why, which steps run or are skipped."""

from __future__ import annotations

from revflow.plans.definitions import order_fulfillment
from revflow.plans.explain import explain
from revflow.plans.files import load_plan_file
from tests.plans import HW1, HW2, PLANS, SVC, order

FULL = load_plan_file(PLANS / "order_fulfillment_full.yaml")


def test_fired_rules_list_matching_lines_with_reasons() -> None:
    text = explain(FULL, order()).render()
    assert (
        "rule hardware_lines (line scope: Family in ['Hardware']) matched 2 of 3 lines: "
        f"{HW1} (Family=Hardware), {HW2} (Family=Hardware)"
    ) in text
    assert f"not {SVC}: Family 'Service' is not in ['Hardware']" in text
    assert f"matched 1 of 3 lines: {SVC} (Family=Service, Quantity 1 is > 0)" in text
    assert "skipped: TotalAmount 120.0 is not > 10000" in text
    assert text.splitlines()[0] == (
        "plan order_fulfillment_full (scenario new) for order 8015e00000Q7mNpAAJ: "
        "3 lines, 13 steps (1 skipped)"
    )
    assert "point of no return" in text and "compensated by cancel_sales_order" in text


def test_step_condition_that_holds_is_explained() -> None:
    result = explain(FULL, order(TotalAmount=50000))
    assert result.skipped == ()
    assert "runs: TotalAmount 50000 is > 10000" in result.render()


def test_no_rule_matched() -> None:
    record = order()
    for line in record["OrderItems"]:
        line["Product2"]["Family"] = "Other"
    result = explain(FULL, record)
    text = result.render()
    assert (
        "rule hardware_lines (line scope: Family in ['Hardware']) matched 0 of 3 lines: "
        "no line has Family in ['Hardware']" in text
    )
    assert (
        "note: no rule matched: no line satisfies any rule (hardware_lines: Family in "
        "['Hardware']; service_lines: Family in ['Service', 'Software'] and its condition "
        "holds)" in text
    )
    assert {s.key for s in result.steps} >= {"validate", "create_sales_order", "create_invoice"}


def test_order_without_lines() -> None:
    result = explain(FULL, order(OrderItems=[]))
    assert "note: no rule matched: the order has no lines" in result.render()
    assert result.line_count == 0


def test_unknown_scenario_is_explained_not_raised() -> None:
    result = explain(order_fulfillment(), order(), "cancellation")
    assert result.steps  # code plans run their steps in every scenario
    text = explain(load_plan_file(PLANS / "order_fulfillment.yaml"), order(), "cancellation")
    assert text.error == ("plan 'order_fulfillment' has no scenario 'cancellation' (it has: new)")
    assert "note: plan 'order_fulfillment' has no scenario 'cancellation'" in text.render()


def test_builtin_plan_explained() -> None:
    text = explain(order_fulfillment(), order()).render()
    assert "   3. create_invoice      callout erp:invoice.create  after create_sales_order" in text
    assert "rules:" not in text
