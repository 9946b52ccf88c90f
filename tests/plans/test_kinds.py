"""Step types: the keys each type takes, external id expressions."""

from __future__ import annotations

import textwrap

from revflow.plans.files import (
    compile_plan,
)
from tests.plans import HEAD, problems


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
