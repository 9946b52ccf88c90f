"""Decomposition of plan-file definitions: scopes, keys, conditions, dependencies, scenarios."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest

from revflow.mapping import load_directory
from revflow.plans.decompose import PlanDraft, decompose, idempotency_key
from revflow.plans.definitions import (
    PlanDefinition,
    UnknownScenario,
    order_fulfillment,
)
from revflow.plans.files import compile_plan, load_plan_file
from revflow.plans.retry import RetryPolicy, honours_retry_after, policy_from_json, policy_to_json
from tests.plans import HW1, HW2, MAPPINGS, PLANS, SVC, order

OID = "8015e00000Q7mNpAAJ"
MAPPINGS_LOADED = load_directory(MAPPINGS)


def plan(body: str) -> PlanDefinition:
    definition, found = compile_plan("name: t\nsource: Order\n" + textwrap.dedent(body), "t.yaml")
    assert found == [] and definition is not None
    return definition


def steps(draft: PlanDraft) -> dict[str, Any]:
    return {s.key: s for s in draft.steps}


# -- the default plan does exactly what the code did ---------------------------------

# captured from the code before plan files existed (order 8015e00000Q7mNpAAJ)
GOLDEN_KEYS = {
    "new": {
        "validate": "fcee729c5fdcb3f88e91a3b2364e474a0cf01fd3",
        "create_sales_order": "3e0b959fa8738286e1ee0366ead74da9f35cf65b",
        "create_invoice": "2130fc4b0abadaa3322062a79f5898ce751afa3a",
    },
    "amendment": {
        "validate": "378ff7667d1784db92361cf9bf928dab6ffde814",
        "create_sales_order": "4a1fbb1bfb16f6952e9e334d801c0545f10327c8",
        "create_invoice": "e6ea1914fecff22ff6383bc096d58eac66442cea",
    },
}
LEGACY_FIELDS = (
    "key",
    "position",
    "kind",
    "depends_on",
    "connector",
    "action",
    "idempotency_key",
    "input",
    "mapping_hash",
)


@pytest.mark.parametrize("scenario", ["new", "amendment"])
def test_builtin_plan_keeps_its_steps_and_idempotency_keys(scenario: str) -> None:
    draft = decompose(order_fulfillment(), order(), MAPPINGS_LOADED, scenario)
    assert draft.correlation_id == "rf-4c3dfef5ed5e55dc"
    assert {s.key: s.idempotency_key for s in draft.steps} == GOLDEN_KEYS[scenario]
    assert [
        (s.key, s.position, s.kind, s.depends_on, s.connector, s.action) for s in draft.steps
    ] == [
        ("validate", 0, "validate", (), None, None),
        ("create_sales_order", 1, "callout", ("validate",), "erp", "sales_order.create"),
        ("create_invoice", 2, "callout", ("create_sales_order",), "erp", "invoice.create"),
    ]
    assert steps(draft)["validate"].input == {"errors": []}
    payload = MAPPINGS_LOADED["order_to_sales_order"].apply(order())
    assert steps(draft)["create_sales_order"].input == {"payload": payload}
    assert all(s.skip_reason is None and s.scope_key is None for s in draft.steps)


def test_default_plan_file_builds_the_same_draft_as_the_code() -> None:
    from_file = load_plan_file(PLANS / "order_fulfillment.yaml")
    for record in (order(), {"Id": "8015e00000Q7mNqAAJ", "OrderItems": []}):
        a = decompose(order_fulfillment(), record, MAPPINGS_LOADED)
        b = decompose(from_file, record, MAPPINGS_LOADED)
        assert a.errors == b.errors and a.mapping_hashes == b.mapping_hashes
        assert [[getattr(s, f) for f in LEGACY_FIELDS] for s in a.steps] == [
            [getattr(s, f) for f in LEGACY_FIELDS] for s in b.steps
        ]
        assert [s.retry_policy for s in a.steps] == [s.retry_policy for s in b.steps]


def test_mapping_failures_go_on_the_validate_step() -> None:
    draft = decompose(order_fulfillment(), {"Id": "8015e00000Q7mNqAAJ"}, MAPPINGS_LOADED)
    assert len(draft.errors) == 2
    assert steps(draft)["validate"].input == {"errors": list(draft.errors)}


def test_retry_policy_round_trips() -> None:
    policy = RetryPolicy(1.0, 3.0, 60.0, 4, 0.1, frozenset({"FatalError"}))
    stored = policy_to_json(policy, False)
    assert (policy_from_json(stored), honours_retry_after(stored)) == (policy, False)


# -- scopes ---------------------------------------------------------------------------

SCOPES = """\
groups:
  head:
    steps: [{key: start, type: milestone}]
  per_line:
    scope: line
    match: {family: Hardware}
    steps:
      - {key: reserve, type: callout, connector: erp, action: stock.reserve, depends_on: [start],
         payload: {sku: "{Product2.ProductCode}", qty: "{Quantity}", order: "{$.OrderNumber}"}}
      - {key: ship, type: milestone, depends_on: [reserve]}
  per_family:
    scope: bundle
    bundle_by: Product2.Family
    steps:
      - {key: bill_family, type: milestone, depends_on: [ship]}
  tail:
    steps: [{key: done, type: milestone, depends_on: [ship@each, bill_family]}]
scenarios: {new: [head, per_line, per_family, tail]}
"""


def test_line_and_bundle_instances_have_suffixed_keys_and_scope_keys() -> None:
    draft = decompose(plan(SCOPES), order(), {})
    assert [(s.key, s.scope_key, s.group) for s in draft.steps] == [
        ("start", None, "head"),
        (f"reserve@{HW1}", HW1, "per_line"),
        (f"ship@{HW1}", HW1, "per_line"),
        (f"reserve@{HW2}", HW2, "per_line"),
        (f"ship@{HW2}", HW2, "per_line"),
        ("bill_family@Hardware", "Hardware", "per_family"),
        ("bill_family@Service", "Service", "per_family"),
        ("done", None, "tail"),
    ]
    s = steps(draft)
    assert s[f"reserve@{HW1}"].input == {"payload": {"sku": "HW-1", "qty": 2, "order": "00000100"}}
    assert s[f"reserve@{HW1}"].idempotency_key == idempotency_key(OID, "new", "t", f"reserve@{HW1}")
    assert s[f"ship@{HW2}"].depends_on == (f"reserve@{HW2}",)  # same line
    assert s["bill_family@Hardware"].depends_on == (f"ship@{HW1}", f"ship@{HW2}")  # its lines
    assert s["bill_family@Service"].depends_on == ("start",)  # no ship/reserve: what they needed
    assert s["done"].depends_on == (
        f"ship@{HW1}",
        f"ship@{HW2}",
        "bill_family@Hardware",
        "bill_family@Service",
    )


def test_keys_are_deterministic_and_independent_of_line_order() -> None:
    definition = plan(SCOPES)
    first = decompose(definition, order(), {})
    reordered = order()
    reordered["OrderItems"].reverse()
    second = decompose(definition, reordered, {})
    assert {s.key: s.idempotency_key for s in first.steps} == {
        s.key: s.idempotency_key for s in second.steps
    }
    assert first == decompose(definition, order(), {})


def test_bundle_values_are_made_safe_for_keys() -> None:
    record = order()
    record["OrderItems"][2]["Product2"]["Family"] = "Professional Services"
    keys = [s.key for s in decompose(plan(SCOPES), record, {}).steps]
    assert any(k.startswith("bill_family@Professional_Services~") for k in keys)


def test_an_order_scope_group_with_a_rule_needs_a_matching_line() -> None:
    definition = plan(
        """\
        groups:
          g:
            match: {product_code: [NOPE]}
            steps: [{key: a, type: milestone}]
          h:
            steps: [{key: b, type: milestone, depends_on: [a]}]
        scenarios: {new: [g, h]}
        """
    )
    assert [(s.key, s.depends_on) for s in decompose(definition, order(), {}).steps] == [("b", ())]


# -- conditions, skips and dependencies --------------------------------------------

FULL = load_plan_file(PLANS / "order_fulfillment_full.yaml")


def test_false_condition_drafts_a_skipped_step_and_dependants_inherit_its_dependencies() -> None:
    s = steps(decompose(FULL, order(), MAPPINGS_LOADED))
    assert s["manual_approval"].skip_reason == "TotalAmount 120.0 is not > 10000"
    assert s["manual_approval"].skipped
    assert s["create_sales_order"].depends_on == ("manual_approval", "validate")
    big = steps(decompose(FULL, order(TotalAmount=25000.0), MAPPINGS_LOADED))
    assert big["manual_approval"].skip_reason is None
    assert big["manual_approval"].assignee == "queue:Order Desk"
    assert big["manual_approval"].input["manual"]["instructions"] == (
        "Approve order 00000100 for Acme (25000.0 EUR)"
    )
    assert big["create_sales_order"].depends_on == ("manual_approval",)


def test_line_condition_skips_one_instance() -> None:
    record = order()
    record["OrderItems"][2]["Product2"]["ProductCode"] = "SV-NOPROV"
    s = steps(decompose(FULL, record, MAPPINGS_LOADED))
    assert (
        s[f"provision@{SVC}"].skip_reason == "Product2.ProductCode 'SV-NOPROV' is in ['SV-NOPROV']"
    )
    assert s["all_lines_fulfilled"].depends_on == (
        f"await_shipment@{HW1}",
        f"await_shipment@{HW2}",
        f"provision@{SVC}",
        f"wait_for_start@{SVC}",
    )


def test_full_plan_step_fields() -> None:
    s = steps(decompose(FULL, order(), MAPPINGS_LOADED))
    wait = s[f"await_shipment@{HW1}"]
    assert (wait.kind, wait.wait_key, wait.wait_timeout_s) == ("wait", f"{HW1}-shipped", 604800.0)
    assert wait.input["wait"]["channel"] == "/event/Fulfillment_Callback__e"
    assert wait.expected_duration_s == 3 * 86400
    pause = s[f"wait_for_start@{SVC}"]
    assert pause.pause_until == datetime(2024, 5, 1, tzinfo=UTC)
    assert s["create_invoice"].ponr and not s["create_sales_order"].ponr
    sales = s["create_sales_order"]
    assert sales.compensation_key == "cancel_sales_order"
    comp = sales.input["compensation"]
    assert comp["action"] == "sales_order.cancel"
    assert comp["input"] == {"payload": {"external_id": OID, "reason": "cancelled"}}
    assert comp["idempotency_key"] == idempotency_key(
        OID, "new", "order_fulfillment_full", "cancel_sales_order"
    )
    assert s[f"reserve_stock@{HW2}"].compensation_key == f"release_stock@{HW2}"
    assert sales.retry_policy is not None and sales.retry_policy["maximum_attempts"] == 10
    assert s["mark_fulfilled"].input == {
        "auto": {
            "action": "update_fields",
            "fields": {"Fulfillment_Status__c": "Fulfilled"},
            "object": "Order",
            "record_id": OID,
        }
    }
    assert s["announce"].input["auto"]["event"] == "Order_Status__e"
    assert s["announce"].input["auto"]["fields"] == {"Order_Id__c": OID, "Status__c": "Fulfilled"}


def test_cross_line_dependency_waits_for_every_line() -> None:
    s = steps(decompose(FULL, order(), MAPPINGS_LOADED))
    assert s["all_lines_fulfilled"].depends_on == (
        f"await_shipment@{HW1}",
        f"await_shipment@{HW2}",
        f"provision@{SVC}",
    )
    assert s[f"reserve_stock@{HW1}"].depends_on == ("create_sales_order",)


def test_no_matching_line_falls_back_to_the_dependencies_of_the_missing_steps() -> None:
    record = order()
    record["OrderItems"] = [record["OrderItems"][2]]  # only the service line
    s = steps(decompose(FULL, record, MAPPINGS_LOADED))
    assert not any(k.startswith("reserve_stock") for k in s)
    # await_shipment@each has no instance: it stands for its own dependencies
    assert s["all_lines_fulfilled"].depends_on == ("create_sales_order", f"provision@{SVC}")
    empty = steps(decompose(FULL, order(OrderItems=[]), MAPPINGS_LOADED))
    assert empty["all_lines_fulfilled"].depends_on == ("create_sales_order",)


def test_positions_put_dependencies_first() -> None:
    draft = decompose(FULL, order(), MAPPINGS_LOADED)
    seen: set[str] = set()
    for position, s in enumerate(draft.steps):
        assert s.position == position
        assert set(s.depends_on) <= seen
        seen.add(s.key)


# -- scenarios -------------------------------------------------------------------------


def test_scenarios_build_different_plans() -> None:
    amend = decompose(FULL, order(), MAPPINGS_LOADED, "amendment")
    assert [(s.key, s.depends_on) for s in amend.steps] == [
        ("validate_amendment", ()),
        ("amend_sales_order", ("validate_amendment",)),
    ]
    cancel = decompose(FULL, order(), MAPPINGS_LOADED, "cancellation")
    assert [s.key for s in cancel.steps] == ["cancel_order", "mark_cancelled"]
    assert steps(cancel)["cancel_order"].idempotency_key == idempotency_key(
        OID, "cancellation", "order_fulfillment_full", "cancel_order"
    )


def test_unknown_scenario_is_an_error() -> None:
    with pytest.raises(UnknownScenario, match="has no scenario 'amendment'"):
        decompose(load_plan_file(PLANS / "order_fulfillment.yaml"), order(), {}, "amendment")


def test_skipped_steps_do_not_run_their_mapping() -> None:
    definition = plan(
        """\
        groups:
          g:
            steps:
              - {key: validate, type: validate}
              - {key: a, type: callout, connector: erp, action: x, mapping: order_to_invoice,
                 when: {path: Status, equals: Draft}}
        scenarios: {new: [g]}
        """
    )
    draft = decompose(definition, {"Id": OID, "Status": "Activated"}, MAPPINGS_LOADED)
    assert draft.errors == ()
    assert steps(draft)["a"].skip_reason == "Status is 'Activated', not 'Draft'"
    assert dataclasses.replace(steps(draft)["a"]).input == {"payload": {}}
