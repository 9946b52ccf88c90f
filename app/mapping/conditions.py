"""Simple conditions used by `when:` (keep a field) and `where:` (keep a list item).

{path: Status, equals: Activated}
{path: Product2.Family, in: [Hardware, Software]}
{path: PoNumber, exists: true}
{all: [...]}, {any: [...]}, {not: {...}}
{expr: "Quantity > `0`"}   (or the bare expression text)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from revflow.mapping.expressions import Expr
from revflow.mapping.paths import PathRef, Scope

__all__ = ["All", "Any_", "Compare", "Condition", "ExprCondition", "Not"]

OPERATORS = ("equals", "not_equals", "in", "not_in", "exists")
COMBINATORS = ("all", "any", "not")


class Condition:
    """Base class: test(scope) -> bool. Only ExprCondition may raise (ExprRuntimeError)."""

    def test(self, scope: Scope) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Compare(Condition):
    """Compare the value at `path` with a constant using one of OPERATORS."""

    path: PathRef
    op: str
    operand: Any

    def test(self, scope: Scope) -> bool:
        value = self.path.get(scope)
        if self.op == "equals":
            return bool(value == self.operand)
        if self.op == "not_equals":
            return bool(value != self.operand)
        if self.op == "in":
            return value in self.operand
        if self.op == "not_in":
            return value not in self.operand
        return (value is not None) is bool(self.operand)  # exists


@dataclass(frozen=True, slots=True)
class All(Condition):
    items: tuple[Condition, ...]

    def test(self, scope: Scope) -> bool:
        return all(c.test(scope) for c in self.items)


@dataclass(frozen=True, slots=True)
class Any_(Condition):
    items: tuple[Condition, ...]

    def test(self, scope: Scope) -> bool:
        return any(c.test(scope) for c in self.items)


@dataclass(frozen=True, slots=True)
class Not(Condition):
    item: Condition

    def test(self, scope: Scope) -> bool:
        return not self.item.test(scope)


@dataclass(frozen=True, slots=True)
class ExprCondition(Condition):
    """True when the expression's result is truthy (JMESPath truthiness)."""

    expr: Expr

    def test(self, scope: Scope) -> bool:
        return self.expr.test(scope)
