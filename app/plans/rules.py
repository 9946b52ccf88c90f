"""Building blocks of plan files: explained conditions, durations and value templates.

Conditions use the mapping engine's syntax (``{path, equals|not_equals|in|not_in|
exists}``, ``all``/``any``/``not``) plus ``gt``/``gte``/``lt``/``lte``; unlike mapping
conditions they say *why* they hold, for ``explain``.  Paths resolve against the
scope item (the order, a line or a bundle); ``$.`` paths against the order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from revflow.mapping.paths import PathRef, Scope, parse_path
from revflow.mapping.templates import Template, parse_template

__all__ = [
    "COMBINATORS",
    "OPERATORS",
    "All",
    "AnyOf",
    "Compare",
    "Cond",
    "Not",
    "Value",
    "Verdict",
    "compile_condition",
    "compile_value",
    "format_duration",
    "parse_duration",
    "show",
]

OPERATORS = ("equals", "not_equals", "in", "not_in", "exists", "gt", "gte", "lt", "lte")
COMBINATORS = ("all", "any", "not")
_SYMBOL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str


def show(value: Any) -> str:
    """A value as explanations print it: numbers bare, text quoted, lists in brackets."""
    if isinstance(value, list | tuple | frozenset | set):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


class Cond:
    """A compiled condition; ``check`` never raises on record data."""

    def check(self, scope: Scope) -> Verdict:
        raise NotImplementedError

    def test(self, scope: Scope) -> bool:
        return self.check(scope).ok


@dataclass(frozen=True, slots=True)
class Compare(Cond):
    path: PathRef
    op: str
    operand: Any

    def check(self, scope: Scope) -> Verdict:
        value = self.path.get(scope)
        name = str(self.path)
        if self.op == "exists":
            ok = (value is not None) is bool(self.operand)
            return Verdict(ok, f"{name} {'exists' if value is not None else 'is missing'}")
        if self.op in _SYMBOL:
            sym = _SYMBOL[self.op]
            if value is None:
                return Verdict(False, f"{name} is missing (needs {sym} {show(self.operand)})")
            try:
                ok = bool(_ORDERED[self.op](value, self.operand))
            except TypeError:
                return Verdict(False, f"{name} {show(value)} cannot be compared with {sym}")
            return Verdict(
                ok, f"{name} {show(value)} is {'' if ok else 'not '}{sym} {show(self.operand)}"
            )
        if self.op in ("equals", "not_equals"):
            same = bool(value == self.operand)
            ok = same if self.op == "equals" else not same
            shown = "is missing" if value is None else f"is {show(value)}"
            return Verdict(ok, f"{name} {shown}" + ("" if same else f", not {show(self.operand)}"))
        inside = value in self.operand
        ok = inside if self.op == "in" else not inside
        what = "missing" if value is None else show(value)
        return Verdict(ok, f"{name} {what} is {'' if inside else 'not '}in {show(self.operand)}")


_ORDERED: dict[str, Callable[[Any, Any], Any]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


@dataclass(frozen=True, slots=True)
class All(Cond):
    items: tuple[Cond, ...]

    def check(self, scope: Scope) -> Verdict:
        verdicts = [c.check(scope) for c in self.items]
        failed = [v.reason for v in verdicts if not v.ok]
        return Verdict(not failed, " and ".join(failed or [v.reason for v in verdicts]))


@dataclass(frozen=True, slots=True)
class AnyOf(Cond):
    items: tuple[Cond, ...]

    def check(self, scope: Scope) -> Verdict:
        verdicts = [c.check(scope) for c in self.items]
        passed = [v.reason for v in verdicts if v.ok]
        if passed:
            return Verdict(True, passed[0])
        return Verdict(False, "none holds: " + "; ".join(v.reason for v in verdicts))


@dataclass(frozen=True, slots=True)
class Not(Cond):
    item: Cond

    def check(self, scope: Scope) -> Verdict:
        inner = self.item.check(scope)  # its reason is already the fact that decides
        return Verdict(not inner.ok, inner.reason)


Report = Callable[[Any, str], None]  # (position or None, message)


def compile_condition(raw: Any, report: Report, pos: Any = None) -> Cond | None:
    """Compile a plain or located condition mapping; problems go to ``report``."""
    if not isinstance(raw, dict):
        report(pos, "a condition must be a mapping")
        return None
    here = _pos_of(raw, pos)
    words = [k for k in COMBINATORS if k in raw]
    if words:
        word = words[0]
        if len(raw) != 1:
            report(here, f"'{word}' must be the only key of a condition")
            return None
        inner, inner_pos = raw[word], _value_pos(raw, word, here)
        if word == "not":
            item = compile_condition(inner, report, inner_pos)
            return Not(item) if item else None
        if not isinstance(inner, list) or not inner:
            report(inner_pos, f"'{word}' needs a non-empty list of conditions")
            return None
        positions = getattr(inner, "item_pos", [inner_pos] * len(inner))
        items = [compile_condition(c, report, p) for c, p in zip(inner, positions, strict=True)]
        if any(i is None for i in items):
            return None
        conds = tuple(i for i in items if i is not None)
        return All(conds) if word == "all" else AnyOf(conds)
    for key in raw:
        if key != "path" and key not in OPERATORS:
            report(_key_pos(raw, key, here), f"unknown condition key '{key}'")
            return None
    ops = [k for k in OPERATORS if k in raw]
    if "path" not in raw or len(ops) != 1:
        report(
            here,
            f"a condition needs 'path' and exactly one of {', '.join(OPERATORS)} (or all/any/not)",
        )
        return None
    try:
        path = parse_path(str(raw["path"])) if isinstance(raw["path"], str) else None
    except ValueError as exc:
        report(_value_pos(raw, "path", here), str(exc))
        return None
    if path is None:
        report(_value_pos(raw, "path", here), "a path must be text")
        return None
    op = ops[0]
    operand = _plain(raw[op])
    if op in ("in", "not_in"):
        if not isinstance(operand, list):
            report(_value_pos(raw, op, here), f"'{op}' needs a list")
            return None
        operand = tuple(operand)
    if op == "exists" and not isinstance(operand, bool):
        report(_value_pos(raw, op, here), "'exists' must be true or false")
        return None
    if op in _SYMBOL and (isinstance(operand, bool) or not isinstance(operand, int | float | str)):
        report(_value_pos(raw, op, here), f"'{op}' needs a number, date or text")
        return None
    return Compare(path, op, operand)


def _pos_of(raw: Any, default: Any) -> Any:
    return getattr(raw, "pos", default)


def _key_pos(raw: Any, key: str, default: Any) -> Any:
    return getattr(raw, "key_pos", {}).get(key, default)


def _value_pos(raw: Any, key: str, default: Any) -> Any:
    return getattr(raw, "value_pos", {}).get(key, default)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- durations ---------------------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SHORT = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?\Z"
)
DURATION_HELP = "use e.g. 500ms, 30s, 5m, 2h, 1d, 1h30m or ISO 8601 like PT5M, P1D"


def parse_duration(value: Any) -> float:
    """Seconds in ``value``: a number of seconds, ``500ms``/``30s``/``1h30m`` or ISO 8601."""
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}: {DURATION_HELP}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"bad duration {value!r}: must not be negative")
        return float(value)
    text = str(value).strip()
    if text.startswith("P"):
        m = _ISO.match(text)
        if m and text not in ("P", "PT") and not text.endswith("T"):
            parts = {k: float(v) for k, v in m.groupdict().items() if v}
            return sum(parts.get(k, 0.0) * _UNITS[k] for k in ("w", "d", "h", "m", "s"))
    elif text and _SHORT.sub("", text) == "":
        return sum(float(n) * _UNITS[u] for n, u in _SHORT.findall(text))
    raise ValueError(f"bad duration {str(value)!r}: {DURATION_HELP}")


def format_duration(seconds: float) -> str:
    """A compact human form: 90 -> '1m30s', 0.5 -> '500ms'."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = [], int(seconds)
    for unit in ("d", "h", "m", "s"):
        n, rest = divmod(rest, int(_UNITS[unit]))
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


# -- value templates -----------------------------------------------------------

_EXACT = re.compile(r"\{([$A-Za-z_][$.A-Za-z0-9_]*)\}\Z")


@dataclass(frozen=True, slots=True)
class Value:
    """A constant tree whose strings may hold ``{path}`` placeholders.

    A string that is exactly one placeholder keeps the value's type ("{Quantity}" -> 2).
    """

    raw: Any
    compiled: Any

    def render(self, scope: Scope) -> Any:
        return _render(self.compiled, scope)


def compile_value(raw: Any) -> Value:
    """Compile placeholders in every string of ``raw``; raises ValueError on bad templates."""
    return Value(_plain(raw), _compile(_plain(raw)))


def _compile(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _compile(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_compile(v) for v in raw]
    if isinstance(raw, str) and "{" in raw:
        exact = _EXACT.match(raw)
        if exact:
            return parse_path(exact.group(1))
        return parse_template(raw, allow_value=False)
    return raw


def _render(node: Any, scope: Scope) -> Any:
    if isinstance(node, dict):
        return {k: _render(v, scope) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, scope) for v in node]
    if isinstance(node, PathRef):
        return node.get(scope)
    if isinstance(node, Template):
        return node.render(scope)
    return node
