"""Validation rules (top-level `rules:`): checked on the source record before any field.

    rules:
      - { rule: iban, path: Account.IBAN__c }
      - { rule: vat_rate_allowed, each: OrderItems, path: Tax_Rate__c }
      - { rule: expr, name: has_lines, expr: "length(OrderItems) > `0`", message: no lines }

A rule factory validates its options at compile time (RuleConfigError) and
returns `check(value, scope) -> failure message | None`. Every rule except
`required` and `expr` passes when the value is null. Mapping.apply collects the
failures of all rules and raises MappingRuleError.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from revflow.mapping.conditions import Condition
from revflow.mapping.errors import RuleFailure
from revflow.mapping.expressions import Expr, ExprRuntimeError
from revflow.mapping.paths import PathRef, Scope, path_getter
from revflow.mapping.tax_tables import IBAN_LENGTHS, VAT_ID_PATTERNS, VAT_RATES
from revflow.mapping.transforms import TransformError, to_decimal

__all__ = ["RULE_KEYS", "Rule", "RuleConfigError", "build_check", "compile_pass", "rule_names"]

Check = Callable[[Any, Scope], str | None]
PathOf = Callable[[str, Any], PathRef]  # (option name, raw text) -> compiled path, recorded
Factory = Callable[[dict[str, Any], PathOf], Check]

# Keys every rule accepts; the rest are the rule's own options.
RULE_KEYS = ("rule", "name", "path", "each", "when", "message", "description")
OPTIONS: dict[str, tuple[str, ...]] = {
    "required": (),
    "pattern": ("regex",),
    "allowed_values": ("values",),
    "amount_threshold": ("min", "max"),
    "iban": (),
    "vat_id": ("country",),
    "vat_rate_allowed": ("country", "rates"),
    "expr": ("expr",),
}
NEEDS_PATH = ("required", "pattern", "allowed_values", "amount_threshold", "iban", "vat_id",
              "vat_rate_allowed")  # fmt: skip
DEFAULT_COUNTRY_PATH = "$.Account.BillingCountry"


class RuleConfigError(Exception):
    """A rule's options in the mapping file are invalid."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule; `failures(record)` never raises except for expression errors."""

    name: str
    line: int
    path: PathRef | None
    each: PathRef | None
    when: Condition | None
    check: Check
    message: str | None = None

    def failures(self, record: Any) -> list[RuleFailure]:
        """Every failure of this rule on `record` (one per failing list item)."""
        root = Scope(record, record)
        if self.each is None:
            found = self._one(root, str(self.path or ""))
            return [found] if found else []
        items = self.each.get(root)
        if not isinstance(items, list | tuple):
            return []
        out = []
        for index, item in enumerate(items):
            key = f"{self.each}[{index}]" + (f".{self.path}" if self.path else "")
            found = self._one(Scope(record, item), key)
            if found:
                out.append(found)
        return out

    def _one(self, scope: Scope, key: str) -> RuleFailure | None:
        try:
            if self.when is not None and not self.when.test(scope):
                return None
        except ExprRuntimeError as exc:
            return RuleFailure(self.name, key, self.line, f"its 'when' condition failed: {exc}")
        value = self.path.get(scope) if self.path is not None else None
        message = self.check(value, scope)
        if message is None:
            return None
        return RuleFailure(self.name, key, self.line, self.message or message)


def compile_pass(rules: tuple[Rule, ...]) -> Callable[[Scope], bool]:
    """Whether every rule surely passes on the record of a root scope (built once).

    A plain rule (a path, no `each:` or `when:`) is checked without building failures;
    False (any failure, any exception) sends the caller to `Rule.failures`, which
    reports exactly what is wrong.
    """
    tests = [_pass_test(rule) for rule in rules]
    if not tests:
        return lambda scope: True

    def passes(scope: Scope) -> bool:
        try:
            for test in tests:
                if not test(scope):
                    return False
        except Exception:
            return False
        return True

    return passes


def _pass_test(rule: Rule) -> Callable[[Scope], bool]:
    if rule.path is None or rule.each is not None or rule.when is not None:
        return lambda scope: not rule.failures(scope.root)
    read, check = path_getter(rule.path), rule.check
    return lambda scope: check(read(scope), scope) is None


def rule_names() -> list[str]:
    return sorted(OPTIONS)


def build_check(kind: str, opts: dict[str, Any], path_of: PathOf) -> Check:
    """Compile one rule's check; raises RuleConfigError for unknown rules or bad options."""
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise RuleConfigError(f"unknown rule '{kind}' (known: {', '.join(rule_names())})")
    unknown = [k for k in opts if k not in OPTIONS[kind]]
    if unknown:
        allowed = ", ".join(OPTIONS[kind]) or "none"
        raise RuleConfigError(
            f"rule '{kind}' has unknown option '{unknown[0]}' (allowed: {allowed})"
        )
    return factory(opts, path_of)


def _fmt(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _number_option(kind: str, name: str, raw: Any) -> Decimal | None:
    if raw is None:
        return None
    try:
        return to_decimal(raw)
    except TransformError:
        raise RuleConfigError(f"rule '{kind}': '{name}' must be a number, got {raw!r}") from None


# -- built-in rules ---------------------------------------------------------------


def _required(opts: dict[str, Any], path_of: PathOf) -> Check:
    def check(value: Any, scope: Scope) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "is required but missing"
        return None

    return check


def _pattern(opts: dict[str, Any], path_of: PathOf) -> Check:
    raw = opts.get("regex")
    if not isinstance(raw, str) or not raw:
        raise RuleConfigError("rule 'pattern' needs 'regex:' as text")
    try:
        regex = re.compile(raw)
    except re.error as exc:
        raise RuleConfigError(f"rule 'pattern': invalid regex {raw!r}: {exc}") from None

    def check(value: Any, scope: Scope) -> str | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        return None if regex.fullmatch(text) else f"{value!r} does not match /{raw}/"

    return check


def _allowed_values(opts: dict[str, Any], path_of: PathOf) -> Check:
    values = opts.get("values")
    if not isinstance(values, list) or not values:
        raise RuleConfigError("rule 'allowed_values' needs 'values:' as a non-empty list")
    shown = ", ".join(str(v) for v in values)

    def check(value: Any, scope: Scope) -> str | None:
        if value is None or value in values:
            return None
        return f"{value!r} is not one of the allowed values ({shown})"

    return check


def _amount_threshold(opts: dict[str, Any], path_of: PathOf) -> Check:
    low = _number_option("amount_threshold", "min", opts.get("min"))
    high = _number_option("amount_threshold", "max", opts.get("max"))
    if low is None and high is None:
        raise RuleConfigError("rule 'amount_threshold' needs 'min:', 'max:' or both")
    if low is not None and high is not None and low > high:
        raise RuleConfigError("rule 'amount_threshold': 'min' is greater than 'max'")

    def check(value: Any, scope: Scope) -> str | None:
        if value is None:
            return None
        try:
            amount = to_decimal(value)
        except TransformError:
            return f"{value!r} is not an amount"
        if low is not None and amount < low:
            return f"{_fmt(amount)} is below the minimum {_fmt(low)}"
        if high is not None and amount > high:
            return f"{_fmt(amount)} is above the maximum {_fmt(high)}"
        return None

    return check


def iban_problem(value: str) -> str | None:
    """Why `value` is not a valid IBAN (format, country length, mod-97), or None."""
    iban = re.sub(r"[\s-]", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}", iban):
        return "must be a country code, 2 check digits and up to 30 letters or digits"
    length = IBAN_LENGTHS.get(iban[:2])
    if length is None:
        return f"unknown IBAN country '{iban[:2]}'"
    if len(iban) != length:
        return f"an IBAN from {iban[:2]} has {length} characters, got {len(iban)}"
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return None if int(digits) % 97 == 1 else "the check digits do not match (mod-97)"


def _iban(opts: dict[str, Any], path_of: PathOf) -> Check:
    def check(value: Any, scope: Scope) -> str | None:
        if value is None:
            return None
        problem = iban_problem(str(value))
        return f"{value!r} is not a valid IBAN: {problem}" if problem else None

    return check


def vat_id_problem(value: str, country: str | None = None) -> str | None:
    """Why `value` is not a well-formed EU VAT id (optionally for `country`), or None."""
    vat = re.sub(r"[\s.\-]", "", value).upper()
    prefix = vat[:2]
    pattern = VAT_ID_PATTERNS.get(prefix)
    if pattern is None:
        return f"unknown VAT id country prefix '{prefix}'"
    if country is not None:
        expected = {"GR": "EL"}.get(country.upper(), country.upper())
        if prefix != expected:
            return f"prefix {prefix} does not match country {country}"
    if not re.fullmatch(pattern, vat[2:]):
        return f"does not match the {prefix} format"
    return None


def _vat_id(opts: dict[str, Any], path_of: PathOf) -> Check:
    country = path_of("country", opts["country"]) if "country" in opts else None

    def check(value: Any, scope: Scope) -> str | None:
        if value is None:
            return None
        code = country.get(scope) if country is not None else None
        problem = vat_id_problem(str(value), code if isinstance(code, str) and code else None)
        return f"{value!r} is not a valid VAT id: {problem}" if problem else None

    return check


def _vat_rate_allowed(opts: dict[str, Any], path_of: PathOf) -> Check:
    country = path_of("country", opts.get("country", DEFAULT_COUNTRY_PATH))
    table = {code: tuple(to_decimal(r) for r in rates) for code, rates in VAT_RATES.items()}
    extra = opts.get("rates", {})
    if not isinstance(extra, dict):
        raise RuleConfigError("rule 'vat_rate_allowed': 'rates' must map country codes to lists")
    for code, rates in extra.items():
        if not isinstance(rates, list) or not rates:
            raise RuleConfigError(f"rule 'vat_rate_allowed': rates for {code} must be a list")
        parsed = [_number_option("vat_rate_allowed", f"rates.{code}", r) for r in rates]
        if any(r is None for r in parsed):
            raise RuleConfigError(f"rule 'vat_rate_allowed': rates for {code} must be numbers")
        table[str(code).upper()] = tuple(r for r in parsed if r is not None)

    def check(value: Any, scope: Scope) -> str | None:
        if value is None:
            return None
        code = country.get(scope)
        if not isinstance(code, str) or not code:
            return f"cannot check VAT rate {value}: the country at {country} is missing"
        allowed = table.get(code.upper())
        if allowed is None:
            return f"no VAT rates are configured for {code} (add them under rates:)"
        try:
            rate = to_decimal(value)
        except TransformError:
            return f"{value!r} is not a number"
        if rate in allowed:
            return None
        shown = ", ".join(_fmt(r) for r in allowed)
        return f"{_fmt(rate)} is not an allowed VAT rate for {code.upper()} (allowed: {shown})"

    return check


def _expr(opts: dict[str, Any], path_of: PathOf) -> Check:
    expr = opts.get("expr")
    if not isinstance(expr, Expr):  # the compiler compiles `expr:` before calling us
        raise RuleConfigError("rule 'expr' needs 'expr:' as an expression")

    def check(value: Any, scope: Scope) -> str | None:
        try:
            return None if expr.test(scope) else f"{expr.text} is false"
        except ExprRuntimeError as exc:
            return f"{expr} failed: {exc}"

    return check


_FACTORIES: dict[str, Factory] = {
    "required": _required,
    "pattern": _pattern,
    "allowed_values": _allowed_values,
    "amount_threshold": _amount_threshold,
    "iban": _iban,
    "vat_id": _vat_id,
    "vat_rate_allowed": _vat_rate_allowed,
    "expr": _expr,
}
