"""Loading and linting plan files: the shipped plans, the schema, and exact problems."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from app.mapping import load_directory
from app.plans.definitions import ScopeKind, StepKind
from app.plans.files import (
    PlanLoadError,
    compile_plan,
    lint_plan_paths,
    load_plan_directory,
    load_plan_file,
)
from app.plans.retry import RetryPolicy
from app.plans.rules import parse_duration
from tests.orchestration import MAPPINGS, PLANS

MAPPING_NAMES = set(load_directory(MAPPINGS))

HEAD = """\
name: p
source: Order
"""


def problems(body: str, **options: object) -> list[str]:
    text = HEAD + textwrap.dedent(body)
    definition, found = compile_plan(text, "p.yaml", **options)  # type: ignore[arg-type]
    assert (definition is None) == bool(found)
    return [str(p) for p in found]


def test_shipped_plans_lint_clean() -> None:
    assert lint_plan_paths([PLANS], mappings=MAPPING_NAMES, connectors={"erp"}) == []
    assert set(load_plan_directory(PLANS)) == {"order_fulfillment", "order_fulfillment_full"}


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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1h30m", 5400),
        ("P1D", 86400),
        ("PT2H30M", 9000),
        ("P1W", 604800),
        (45, 45.0),
        (1.5, 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "P", "PT", "-3s", "1.5", True, -1])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_unknown_keys_with_position() -> None:
    found = problems(
        """\
        colour: blue
        groups:
          g:
            steps:
              - key: a
                type: milestone
                retries: 3
        scenarios: {new: [g]}
        """
    )
    assert found[0] == (
        "p.yaml:3:1: unknown key 'colour' in the plan (expected one of: name, description, "
        "version, source, defaults, groups, scenarios, compensations)"
    )
    assert found[1] == "p.yaml:9:9: unknown key 'retries' in step 'a'"


def test_fields_of_another_step_type() -> None:
    found = problems(
        """\
        groups:
          g:
            steps:
              - key: approve
                type: manual
                connector: erp
              - key: x
                type: teleport
        scenarios: {new: [g]}
        """
    )
    assert found == [
        "p.yaml:8:9: 'connector' is not allowed on a manual step",
        "p.yaml:10:15: step 'x': unknown step type 'teleport' (expected one of: validate, "
        "callout, auto, wait, manual, milestone, pause)",
    ]


def test_wrong_types() -> None:
    found = problems(
        """\
        groups:
          g:
            scope: everywhere
            steps:
              - key: a
                type: callout
                connector: erp
                action: 7
                ponr: "yes"
        scenarios: {new: [g]}
        """
    )
    assert (
        "p.yaml:5:12: group 'g': unknown scope 'everywhere' (expected one of: order, "
        "line, bundle)" in found
    )
    assert "p.yaml:10:17: step 'a': 'action' must be text, got a number" in found
    assert "p.yaml:11:15: step 'a': 'ponr' must be true or false, got text" in found


def test_dependency_cycle_reports_the_path() -> None:
    found = problems(
        """\
        groups:
          g:
            steps:
              - key: a
                type: milestone
                depends_on: [c]
              - key: b
                type: milestone
                depends_on: [a]
              - key: c
                type: milestone
                depends_on: [b]
        scenarios: {new: [g]}
        """
    )
    assert found == ["p.yaml:8:22: dependency cycle: a -> c -> b -> a"]


def test_self_dependency_is_a_cycle() -> None:
    found = problems(
        """\
        groups:
          g:
            steps:
              - {key: a, type: milestone, depends_on: [a]}
        scenarios: {new: [g]}
        """
    )
    assert found == ["p.yaml:6:48: dependency cycle: a -> a"]


def test_unknown_dependency_and_missing_compensation() -> None:
    found = problems(
        """\
        compensations:
          - {key: undo, type: callout, connector: erp, action: x.cancel}
        groups:
          g:
            steps:
              - key: a
                type: callout
                connector: erp
                action: x.create
                depends_on: [nowhere@each]
                compensation: undo_it
        scenarios: {new: [g]}
        """
    )
    assert found == [
        "p.yaml:12:22: step 'a' depends on unknown step 'nowhere'",
        "p.yaml:13:23: step 'a': compensation 'undo_it' is not defined under 'compensations' "
        "(undo)",
    ]


def test_dependency_outside_the_scenario() -> None:
    found = problems(
        """\
        groups:
          first: {steps: [{key: a, type: milestone}]}
          second: {steps: [{key: b, type: milestone, depends_on: [a]}]}
        scenarios: {new: [first, second], cancellation: [second]}
        """
    )
    assert found == [
        "p.yaml:5:59: step 'b' depends on 'a', which is not in scenario 'cancellation'"
    ]


def test_bad_durations_in_file() -> None:
    found = problems(
        """\
        groups:
          g:
            steps:
              - key: w
                type: wait
                correlation_key: "{Id}-shipped"
                timeout: 3 days
                expected_duration: 5x
                retry: {initial_interval: soon, jitter: 2}
        scenarios: {new: [g]}
        """
    )
    help_text = "use e.g. 500ms, 30s, 5m, 2h, 1d, 1h30m or ISO 8601 like PT5M, P1D"
    assert found == [
        f"p.yaml:9:18: step 'w': 'timeout': bad duration '3 days': {help_text}",
        f"p.yaml:10:28: step 'w': 'expected_duration': bad duration '5x': {help_text}",
        f"p.yaml:11:35: step 'w' retry: 'initial_interval': bad duration 'soon': {help_text}",
        "p.yaml:11:49: step 'w' retry: 'jitter' must be between 0 and 1",
    ]


def test_unknown_mapping_connector_and_condition_key() -> None:
    found = problems(
        """\
        groups:
          g:
            steps:
              - key: a
                type: callout
                connector: sap
                action: x
                mapping: order_to_nothing
                when: {path: TotalAmount, bigger: 3}
        scenarios: {new: [g]}
        """,
        mappings={"order_to_invoice"},
        connectors={"erp"},
    )
    assert found == [
        "p.yaml:8:20: step 'a': unknown connector 'sap' (known: erp)",
        "p.yaml:10:18: step 'a': unknown mapping 'order_to_nothing' (loaded: order_to_invoice)",
        "p.yaml:11:35: step 'a': 'when': unknown condition key 'bigger'",
    ]


def test_scenarios_and_groups_are_checked() -> None:
    found = problems(
        """\
        groups:
          g:
            scope: bundle
            steps: [{key: a, type: pause}]
        scenarios:
          new: [g, missing]
          renewal: [g]
        """
    )
    assert found == [
        "p.yaml:5:5: group 'g': a bundle group needs 'bundle_by' (a line path)",
        "p.yaml:6:13: step 'a': a pause needs 'until' (a date path) and/or 'after' (a duration)",
        "p.yaml:8:12: scenario 'new': unknown group 'missing'",
        "p.yaml:9:3: unknown scenario 'renewal' (expected one of: new, amendment, cancellation)",
    ]


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


def test_external_id_expressions_are_compiled_and_linted() -> None:
    found = problems(
        """\
        groups:
          g:
            steps:
              - key: a
                type: callout
                connector: erp
                action: x
                external_id: result.[
              - key: b
                type: callout
                connector: erp
                action: x
                external_id: 42
              - key: c
                type: manual
                external_id: id
        scenarios: {new: [g]}
        """
    )
    assert found == [
        "p.yaml:10:22: step 'a': 'external_id': bad JMESPath expression 'result.[' "
        "at character 9: Invalid jmespath expression: Incomplete expression",
        "p.yaml:15:22: step 'b': 'external_id' must be text, got a number",
        "p.yaml:18:9: 'external_id' is not allowed on a manual step",
    ]
    text = HEAD + textwrap.dedent(
        """\
        groups:
          g:
            steps:
              - {key: a, type: callout, connector: erp, action: x, external_id: result.documentNo}
        scenarios: {new: [g]}
        """
    )
    definition, none = compile_plan(text, "p.yaml")
    assert none == [] and definition is not None
    expression = definition.step("a").external_id
    assert expression is not None and expression.find({"result": {"documentNo": 7}}) == "7"
