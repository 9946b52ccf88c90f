"""Bad input never crashes: load problems carry file:line:col, apply raises MappingEvalError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revflow.mapping import MappingEvalError, MappingLoadError, compile_mapping, load_directory

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
SHIPPED = load_directory(MAPPINGS)
FIXTURES = {
    "Order": json.loads((MAPPINGS / "tests" / "fixtures" / "order.json").read_text()),
    "Quote": json.loads((MAPPINGS / "tests" / "fixtures" / "quote.json").read_text()),
}

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: m\nsource: Order\n  target: t\n", "m.yaml:3:9: invalid YAML: mapping values"),
        ("name: m\nsource: Order\ntarget: t\nfields: [a]\n", "m.yaml:4:9: 'fields' must be"),
        ("name: m\nsource: Order\ntarget: t\nrules: {a: 1}\nfields: {a: Id}\n",
         "m.yaml:4:8: 'rules' must be a list"),
        ("name: m\nsource: Order\ntarget: t\nfields:\n  a: {expr: 'a ||'}\n",
         "m.yaml:5:18: field 'a': invalid expression 'a ||': the expression is incomplete"),
    ],
)  # fmt: skip
def test_malformed_files_report_file_line_col(text: str, problem: str) -> None:
    with pytest.raises(MappingLoadError) as info:
        compile_mapping(text, "m.yaml")
    assert str(info.value.problems[0]).startswith(problem)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["Account", "OrderItems", "TotalAmount", "QuoteLineItems", "Id"]),
       value=values)  # fmt: skip
def test_any_record_data_gives_a_document_or_a_mapping_eval_error(field: str, value: Any) -> None:
    for mapping in SHIPPED.values():
        record = json.loads(json.dumps(FIXTURES[mapping.source]))
        record[field] = value
        try:
            mapping.apply(record)
        except MappingEvalError as exc:
            assert exc.file.endswith(".yaml") and exc.record_id
            assert exc.retryable is False


@pytest.mark.parametrize("record", [None, [], "x", 42])
def test_a_non_record_is_an_eval_error(record: Any) -> None:
    for mapping in SHIPPED.values():
        with pytest.raises(MappingEvalError, match="expected a record mapping"):
            mapping.apply(record)
