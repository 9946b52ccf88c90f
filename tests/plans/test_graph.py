"""Cross references of plan files: dependencies, compensations, cycles."""

from __future__ import annotations

from tests.plans import problems


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
