"""JMESPath expressions (`expr:`), compiled once and checked at load time.

    compile_expr("multiply(Quantity, UnitPrice)")      # -> Expr; ExprSyntaxError if malformed
    expr.get(scope)                                   # ExprRuntimeError for bad record data

JMESPath (https://jmespath.org) is side-effect free and never runs Python code.
On top of its built-ins we add number helpers (add, subtract, multiply, divide,
round) and text helpers (upper, lower, trim, concat, coalesce). `_root` reads
from the record root inside `each:`. Function names and argument counts are
checked when the mapping is compiled.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import jmespath
from jmespath import exceptions as jexc
from jmespath import functions as jfn
from jmespath import visitor

from revflow.mapping.paths import Scope

__all__ = [
    "ROOT_NAME",
    "Expr",
    "ExprRuntimeError",
    "ExprSyntaxError",
    "compile_expr",
    "expr_paths",
    "function_names",
]

ROOT_NAME = "_root"  # Salesforce API names start with a letter, so this cannot clash


class ExprSyntaxError(ValueError):
    """An expression does not compile; `offset` is the 0-based position in its text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


class ExprRuntimeError(Exception):
    """An expression failed on one record (division by zero, wrong argument type)."""


def _num(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ExprRuntimeError(f"expected a number, got {value!r}")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _out(result: Decimal, *inputs: Any) -> int | float:
    if all(isinstance(i, int) for i in inputs) and result == result.to_integral_value():
        return int(result)
    return float(result)


class _Functions(jfn.Functions):
    """Revflow's additions; decimal arithmetic so 0.1 + 0.2 is 0.3."""

    @jfn.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_add(self, a: Any, b: Any) -> int | float:
        return _out(_num(a) + _num(b), a, b)

    @jfn.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_subtract(self, a: Any, b: Any) -> int | float:
        return _out(_num(a) - _num(b), a, b)

    @jfn.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_multiply(self, a: Any, b: Any) -> int | float:
        return _out(_num(a) * _num(b), a, b)

    @jfn.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_divide(self, a: Any, b: Any) -> float:
        if _num(b) == 0:
            raise ExprRuntimeError(f"division by zero ({a!r} / {b!r})")
        return float(_num(a) / _num(b))

    @jfn.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_round(self, value: Any, places: Any) -> int | float:
        if isinstance(places, float) and not places.is_integer() or not 0 <= places <= 18:
            raise ExprRuntimeError(f"round(): places must be a whole number 0..18, got {places}")
        exponent = Decimal(1).scaleb(-int(places))
        with decimal.localcontext() as ctx:
            ctx.prec = 40
            result = _num(value).quantize(exponent, rounding=ROUND_HALF_UP)
        return int(result) if places == 0 else float(result)

    @jfn.signature({"types": ["string"]})
    def _func_upper(self, text: str) -> str:
        return text.upper()

    @jfn.signature({"types": ["string"]})
    def _func_lower(self, text: str) -> str:
        return text.lower()

    @jfn.signature({"types": ["string"]})
    def _func_trim(self, text: str) -> str:
        return text.strip()

    @jfn.signature({"types": [], "variadic": True})
    def _func_concat(self, *parts: Any) -> str:
        return "".join(_text(p) for p in parts if p is not None)

    @jfn.signature({"types": [], "variadic": True})
    def _func_coalesce(self, *values: Any) -> Any:
        return next((v for v in values if v is not None and v != ""), None)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise ExprRuntimeError(f"concat(): cannot join {type(value).__name__}")
    return str(value)


_FUNCTIONS = _Functions()
_INTERPRETER = visitor.TreeInterpreter(jmespath.Options(custom_functions=_FUNCTIONS))


def function_names() -> list[str]:
    """Every function an expression may call."""
    return sorted(_FUNCTIONS.FUNCTION_TABLE)


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled expression; `get(scope)` evaluates it against the current item."""

    text: str
    ast: dict[str, Any]
    uses_root: bool

    def get(self, scope: Scope) -> Any:
        data = scope.item
        if self.uses_root and isinstance(data, dict):
            data = {**data, ROOT_NAME: scope.root}
        try:
            return _INTERPRETER.visit(self.ast, data)
        except ExprRuntimeError:
            raise
        except jexc.JMESPathError as exc:
            raise ExprRuntimeError(" ".join(str(exc).split())) from exc
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise ExprRuntimeError(f"{type(exc).__name__}: {exc}") from exc

    def test(self, scope: Scope) -> bool:
        """Truthiness as JMESPath defines it: null, false, '', [] and {} are false."""
        value = self.get(scope)
        return not (value is None or value is False or value in ("", [], {}))

    def __str__(self) -> str:
        return f"expr '{self.text}'"


def compile_expr(text: str) -> Expr:
    """Parse and check an expression; raises ExprSyntaxError with an offset into `text`."""
    if not isinstance(text, str) or not text.strip():
        raise ExprSyntaxError("an expression must be non-empty text")
    try:
        parsed = jmespath.compile(text)
    except jexc.ParseError as exc:
        found = f" near {exc.token_value!r}" if exc.token_value not in (None, "") else ""
        reason = exc.message if isinstance(exc, jexc.LexerError) else f"unexpected token{found}"
        if isinstance(exc, jexc.IncompleteExpressionError):
            reason = "the expression is incomplete"
        raise ExprSyntaxError(
            f"invalid expression '{text}': {reason}", exc.lex_position or 0
        ) from None
    ast: dict[str, Any] = parsed.parsed
    uses_root = False
    for node in _walk(ast):
        if node["type"] == "field" and node.get("value") == ROOT_NAME:
            uses_root = True
        if node["type"] == "function_expression":
            _check_call(text, node)
    return Expr(text, ast, uses_root)


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children", ()):
        if isinstance(child, dict):
            yield from _walk(child)


def _check_call(text: str, node: dict[str, Any]) -> None:
    name: str = node["value"]
    offset = max(text.find(f"{name}("), 0)
    spec = _FUNCTIONS.FUNCTION_TABLE.get(name)
    if spec is None:
        raise ExprSyntaxError(
            f"unknown function '{name}()' in expression '{text}' "
            f"(known: {', '.join(function_names())})",
            offset,
        )
    signature = spec["signature"]
    given = len(node["children"])
    variadic = bool(signature) and signature[-1].get("variadic")
    wanted = len(signature)
    if (given < wanted) if variadic else (given != wanted):
        plural = "s" if wanted != 1 else ""
        least = "at least " if variadic else ""
        raise ExprSyntaxError(
            f"function '{name}()' takes {least}{wanted} argument{plural}, got {given} "
            f"in expression '{text}'",
            offset,
        )


Path = tuple[str, ...]
_PROJECTIONS = ("projection", "value_projection", "filter_projection")
_KEEPS_ITEMS = ("sort", "sort_by", "reverse", "min_by", "max_by", "not_null")


def expr_paths(expr: Expr) -> list[Path]:
    """Source paths an expression reads, relative to its item (`_root` first for the root).

    Paths under projections continue from the list (`OrderItems[].Product2.Name` gives
    ("OrderItems", "Product2", "Name")); prefixes are included.
    """
    found: list[Path] = []

    def visit(node: dict[str, Any], ctx: Path | None) -> Path | None:
        kind, children = node["type"], node.get("children", [])
        if kind == "field":
            if ctx is None:
                return None
            path = (*ctx, node["value"])
            found.append(path)
            return path
        if kind in ("subexpression", "pipe"):
            current = ctx
            for child in children:
                current = visit(child, current)
            return current
        if kind in _PROJECTIONS:
            left = visit(children[0], ctx)
            if kind == "filter_projection":
                visit(children[2], left)
            return visit(children[1], left)
        if kind in ("index_expression", "flatten"):
            left = visit(children[0], ctx)
            for child in children[1:]:
                visit(child, ctx)
            return left
        if kind in ("current", "identity"):
            return ctx
        first: Path | None = None
        for index, child in enumerate(children):
            if child["type"] == "expref":
                visit(child["children"][0], first)
            else:
                result = visit(child, ctx)
                first = result if index == 0 else first
        return first if node.get("value") in _KEEPS_ITEMS else None

    visit(expr.ast, ())
    return list(dict.fromkeys(found))
