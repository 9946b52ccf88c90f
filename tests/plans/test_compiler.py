"""Compiling plan files: exact problems at their line and column."""

from __future__ import annotations

from tests.plans import problems


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
        "p.yaml:8:20: step 'a': unknown connector 'sap' (configured: erp)",
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
