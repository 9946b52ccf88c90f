"""`expr:` fields and conditions: compile-time checks and run-time errors."""

from __future__ import annotations

import pytest

from revflow.mapping import MappingEvalError, MappingLoadError, compile_mapping, function_names
from revflow.mapping.expressions import ExprSyntaxError, compile_expr, expr_paths
from tests.mapping import HEADER, compile_fields, sample_order


def load_problems(body: str) -> list[str]:
    with pytest.raises(MappingLoadError) as info:
        compile_fields(body)
    return [str(p) for p in info.value.problems]


def test_expr_field_arithmetic_and_builtins() -> None:
    mapping = compile_fields(
        """\
        line_count: { expr: "length(OrderItems)" }
        net: { expr: "sum(OrderItems[].multiply(Quantity, UnitPrice))", transform: money }
        avg_price: { expr: "divide(TotalAmount, length(OrderItems))" }
        tidy: { expr: "add(`0.1`, `0.2`)" }
        label: { expr: "concat(OrderNumber, '/', Account.BillingCountry)" }
        hardware: { expr: "OrderItems[?Product2.Family == 'Hardware'].Id" }
        first_sku: { expr: "upper(OrderItems[0].Product2.ProductCode)" }
        lines:
          each: OrderItems
          fields:
            currency: { expr: "_root.CurrencyIsoCode" }
            half: { expr: "round(divide(UnitPrice, `3`), `2`)" }
        """
    )
    doc = mapping.apply(sample_order())
    assert doc == {
        "line_count": 2,
        "net": "250.00",
        "avg_price": 125.0,
        "tidy": 0.3,
        "label": "00000101/DE",
        "hardware": ["8025e0000001"],
        "first_sku": "WIDGET-1",
        "lines": [{"currency": "EUR", "half": 33.33}, {"currency": "EUR", "half": 16.67}],
    }


def test_expr_conditions_in_when_and_where() -> None:
    mapping = compile_fields(
        """\
        big: { value: true, when: "TotalAmount > `100`" }
        small: { value: true, when: { expr: "TotalAmount < `100`" } }
        lines:
          each: OrderItems
          where: "Quantity > `1` && Product2.Family == 'Hardware'"
          fields: { id: Id }
        """
    )
    assert mapping.apply(sample_order()) == {"big": True, "lines": [{"id": "8025e0000001"}]}


def test_required_expr_field_reports_the_expression() -> None:
    mapping = compile_fields('x: { expr: "Account.Missing__c", required: true }')
    with pytest.raises(MappingEvalError) as info:
        mapping.apply(sample_order())
    assert str(info.value) == (
        "t.yaml:5: field 'x' is required but expr 'Account.Missing__c' is missing "
        "(record 8015e00000Q7mNpAAJ)"
    )


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("divide(_root.TotalAmount, `0`)", "division by zero (250.0 / 0)"),
        ("add(PoNumber, `1`)", "In function add(), invalid type for value: None"),
    ],
)
def test_runtime_failures_name_file_line_key_and_record(expr: str, message: str) -> None:
    mapping = compile_fields(
        f"""\
        id: Id
        lines:
          each: OrderItems
          fields:
            bad: {{ expr: "{expr}" }}
        """
    )
    with pytest.raises(MappingEvalError) as info:
        mapping.apply(sample_order())
    err = info.value
    assert (err.file, err.line, err.key, err.record_id) == (
        "t.yaml",
        9,
        "lines[0].bad",
        "8015e00000Q7mNpAAJ",
    )
    assert f"cannot be built from expr '{expr}': {message}" in str(err)


def test_runtime_failure_in_a_condition() -> None:
    mapping = compile_fields(
        """\
        lines:
          each: OrderItems
          where: "divide(Quantity, subtract(Quantity, `1`)) > `1`"
          fields: { id: Id }
        """
    )
    with pytest.raises(MappingEvalError) as info:
        mapping.apply(sample_order())
    assert "field 'lines[1]' 'where' condition failed: division by zero" in str(info.value)


def test_syntax_and_unknown_function_errors_point_at_the_column() -> None:
    problems = load_problems(
        """\
        a: { expr: "TotalAmount +" }
        b: { expr: 'foo(Id)' }
        c:
          expr: sum(OrderItems[].Quantity, `1`)
        d: { expr: "Id", when: "Status == " }
        e: { expr: 42 }
        """
    )
    assert problems[0] == (
        "t.yaml:5:27: field 'a': invalid expression 'TotalAmount +': Unknown token +"
    )
    assert problems[1].startswith(
        "t.yaml:6:15: field 'b': unknown function 'foo()' in expression 'foo(Id)' (known: abs, add,"
    )
    assert problems[2] == (
        "t.yaml:8:11: field 'c': function 'sum()' takes 1 argument, got 2 in expression "
        "'sum(OrderItems[].Quantity, `1`)'"
    )
    assert problems[3] == (
        "t.yaml:9:37: field 'd': invalid expression 'Status == ': the expression is incomplete"
    )
    assert problems[4] == "t.yaml:10:14: field 'e': an expression must be text"


def test_expr_with_another_source_is_rejected() -> None:
    assert load_problems('a: { expr: "Id", path: Id }') == [
        "t.yaml:5:8: field 'a' has both 'path' and 'expr'; "
        "use exactly one of path, value, format, expr, lookup_record, fields, each"
    ]


def test_expression_never_runs_python() -> None:
    with pytest.raises(ExprSyntaxError):
        compile_expr("__import__('os').system('true')")
    mapping = compile_mapping(HEADER + 'fields:\n  a: { expr: "__class__" }\n')
    assert mapping.apply({"Id": "1"}) == {"a": None}


def test_expr_paths_follow_projections_and_root() -> None:
    expr = compile_expr("OrderItems[?Quantity > `0`].Product2.Name | join(',', @)")
    assert expr_paths(expr) == [
        ("OrderItems",),
        ("OrderItems", "Quantity"),
        ("OrderItems", "Product2"),
        ("OrderItems", "Product2", "Name"),
    ]
    assert expr_paths(compile_expr("_root.Account.Name")) == [
        ("_root",),
        ("_root", "Account"),
        ("_root", "Account", "Name"),
    ]


def test_function_names_include_revflow_helpers() -> None:
    names = function_names()
    for name in ("add", "subtract", "multiply", "divide", "round", "coalesce", "sum", "length"):
        assert name in names
