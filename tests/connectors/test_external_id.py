"""Where the external id sits in an answer: JMESPath expressions, compiled once."""

from __future__ import annotations

from typing import Any

import pytest

from revflow.connectors.external_id import DEFAULT_EXPRESSION, ExternalIdPath, compile_path


@pytest.mark.parametrize(
    ("expression", "answer", "expected"),
    [
        (DEFAULT_EXPRESSION, {"id": "A1", "erp_number": "SO-1"}, "A1"),
        (DEFAULT_EXPRESSION, {"erp_number": "SO-1"}, "SO-1"),
        ("erp_order_number", {"erp_order_number": "SO-7"}, "SO-7"),
        ("result.documentNo", {"result": {"documentNo": "D-9"}}, "D-9"),
        ("data.documents[0].number", {"data": {"documents": [{"number": 12}]}}, "12"),
        ('"order-id"', {"order-id": "X-1"}, "X-1"),
        # no id: missing, empty, or not a single value
        ("result.documentNo", {"result": {}}, None),
        ("result.documentNo", {"result": "ok"}, None),
        ("result.documentNo", {"result": {"documentNo": ""}}, None),
        ("result", {"result": {"documentNo": "D-9"}}, None),
        ("ids", {"ids": ["a", "b"]}, None),
        ("ok", {"ok": True}, None),
        ("length(id)", {"id": 5}, None),  # a function refused its argument
    ],
)
def test_find(expression: str, answer: Any, expected: str | None) -> None:
    assert ExternalIdPath(expression).find(answer) == expected


@pytest.mark.parametrize(
    ("expression", "where"),
    [
        ("result.[", "at character 9"),
        ("result documentNo", "at character 8"),
        ("`x", "at character 1"),
    ],
)
def test_bad_expression_says_where(expression: str, where: str) -> None:
    with pytest.raises(ValueError) as info:
        ExternalIdPath(expression)
    assert str(info.value).startswith(f"bad JMESPath expression {expression!r} {where}: ")


def test_empty_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty JMESPath"):
        ExternalIdPath("  ")


def test_compiled_once_and_shared() -> None:
    assert compile_path("result.documentNo") is compile_path("result.documentNo")
    assert compile_path("a") == ExternalIdPath("a") and compile_path("a") != compile_path("b")
