"""Loading and linting plan files: the shipped plans, the schema, missing files and names."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from revflow.mapping import load_directory
from revflow.plans.definitions import ScopeKind, StepKind
from revflow.plans.files import (
    PlanLoadError,
    lint_plan_paths,
    load_plan_directory,
    load_plan_file,
)
from revflow.plans.retry import RetryPolicy
from tests.plans import MAPPINGS, PLANS, problems

MAPPING_NAMES = set(load_directory(MAPPINGS))


def test_shipped_plans_lint_clean() -> None:
    connectors = {"erp", "warehouse", "accounting"}
    assert lint_plan_paths([PLANS], mappings=MAPPING_NAMES, connectors=connectors) == []
    assert set(load_plan_directory(PLANS)) == {
        "order_fulfillment",
        "order_fulfillment_full",
        "order_to_three_systems",
        "quote_to_erp",
    }


def test_shipped_plans_match_the_json_schema() -> None:
    schema = json.loads((PLANS / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in PLANS.glob("*.yaml"):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path


def test_default_plan_file() -> None:
    d = load_plan_file(PLANS / "order_fulfillment.yaml")
    assert d.name == "order_fulfillment"
    assert d.scenarios == {"new": ("fulfil",)}
    assert [(s.key, s.kind, s.depends_on) for s in d.steps] == [
        ("validate", StepKind.VALIDATE, ()),
        ("create_sales_order", StepKind.CALLOUT, ("validate",)),
        ("create_invoice", StepKind.CALLOUT, ("create_sales_order",)),
    ]
    assert d.step("create_sales_order").writes_erp_number
    assert d.step("create_sales_order").retry == RetryPolicy()


def test_full_plan_file() -> None:
    d = load_plan_file(PLANS / "order_fulfillment_full.yaml", mappings=MAPPING_NAMES)
    assert set(d.scenarios) == {"new", "amendment", "cancellation"}
    groups = {g.name: g for g in d.groups}
    assert groups["hardware_lines"].scope is ScopeKind.LINE
    assert groups["hardware_lines"].match is not None
    assert groups["hardware_lines"].match.families == ("Hardware",)
    assert d.step("create_invoice").ponr
    assert d.step("create_sales_order").compensation == "cancel_sales_order"
    assert d.step("cancel_sales_order").action == "sales_order.cancel"
    assert d.step("reserve_stock@8025e00000AAAAAAAA").key == "reserve_stock"
    sales = d.step("create_sales_order")
    assert sales.retry.maximum_attempts == 10 and sales.retry.maximum_interval_s == 600
    assert sales.retry.non_retryable == frozenset({"FatalError"})  # from defaults
    assert d.step("await_shipment").wait is not None
    assert d.step("await_shipment").wait.timeout_s == 7 * 86400  # type: ignore[union-attr]
    assert d.step("manual_approval").expected_duration_s == 86400


def test_default_retry_applies_to_steps_without_retry() -> None:
    policy = RetryPolicy(initial_interval_s=0.0, maximum_attempts=3, jitter=0)
    d = load_plan_file(PLANS / "order_fulfillment.yaml", default_retry=policy)
    assert {s.retry for s in d.steps} == {policy}


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    assert problems("groups: [\n")[0].startswith("p.yaml:")
    with pytest.raises(PlanLoadError, match="cannot read"):
        load_plan_file(tmp_path / "nope.yaml")


def test_lint_reports_duplicate_plan_names(tmp_path: Path) -> None:
    text = (PLANS / "order_fulfillment.yaml").read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text)
    found = [str(p) for p in lint_plan_paths([tmp_path])]
    assert found == [
        f"{tmp_path}/b.yaml:1:1: plan name 'order_fulfillment' is already used by {tmp_path}/a.yaml"
    ]
