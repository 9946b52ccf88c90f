"""Plans for Quotes (``source: Quote``): the shipped quote_to_erp plan, line scopes over
QuoteLineItems, and a source the compiler does not know."""

from __future__ import annotations

import json
import textwrap

from revflow.mapping import load_directory
from revflow.plans.decompose import decompose
from revflow.plans.definitions import PlanDefinition
from revflow.plans.files import compile_plan, load_plan_file
from tests.plans import MAPPINGS, PLANS

QUOTE = json.loads((MAPPINGS / "tests" / "fixtures" / "quote.json").read_text())
LOADED = load_directory(MAPPINGS)


def quote_plan(body: str) -> PlanDefinition:
    text = "name: q\nsource: Quote\n" + textwrap.dedent(body)
    definition, found = compile_plan(text, "q.yaml")
    assert found == [] and definition is not None
    return definition


def test_the_shipped_quote_plan_maps_the_quote_with_the_shipped_mapping() -> None:
    definition = load_plan_file(PLANS / "quote_to_erp.yaml", mappings=set(LOADED))
    assert definition.source == "Quote"
    draft = decompose(definition, QUOTE, LOADED)
    assert [s.key for s in draft.steps] == ["validate", "create_erp_quote"]
    validate, create = draft.steps
    assert validate.input == {"errors": []}
    assert (create.connector, create.action) == ("erp", "quote.create")
    payload = create.input["payload"]
    assert payload["external_id"] == QUOTE["Id"]
    assert payload["quote_number"] == "00000042"
    assert [line["sku"] for line in payload["lines"]] == ["WIDGET-1", "SVC-1"]  # qty 0 left out
    assert draft.mapping_hashes == {"quote_to_erp_quote": LOADED["quote_to_erp_quote"].content_hash}
    assert definition.step("create_erp_quote").writes_erp_number


def test_line_scope_of_a_quote_plan_is_per_quote_line_item() -> None:
    definition = quote_plan(
        """\
        groups:
          per_line:
            scope: line
            match: {product_code: [WIDGET-1, SVC-1]}
            steps:
              - key: mark
                type: auto
                action: update_fields
                target: line
                fields: {Description: "{Quantity}"}
              - key: note_quote
                type: auto
                action: update_fields
                fields: {Description: "{$.Name}"}
        scenarios: {new: [per_line]}
        """
    )
    draft = decompose(definition, QUOTE, LOADED)
    keys = [s.key for s in draft.steps]
    assert keys == [
        "mark@0QL5e0000001",
        "note_quote@0QL5e0000001",
        "mark@0QL5e0000002",
        "note_quote@0QL5e0000002",
    ]
    mark, note = draft.steps[0], draft.steps[1]
    assert mark.input["auto"]["object"] == "QuoteLineItem"
    assert mark.input["auto"]["record_id"] == "0QL5e0000001"
    assert note.input["auto"]["object"] == "Quote"
    assert note.input["auto"]["record_id"] == QUOTE["Id"]
    assert note.input["auto"]["fields"] == {"Description": "Acme expansion"}


def test_an_unknown_source_is_a_problem_at_its_value() -> None:
    definition, found = compile_plan(
        "name: q\nsource: Account\ngroups:\n  g:\n    steps:\n"
        "      - {key: v, type: validate}\nscenarios: {new: [g]}\n",
        "q.yaml",
    )
    assert definition is None
    assert [str(p) for p in found] == [
        "q.yaml:2:9: source 'Account' is not supported (one of Order, Quote)"
    ]
