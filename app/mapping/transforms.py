"""Named transforms applied to a field's value, in order, after `default:`.

A transform is registered as a factory: it validates its options once when the
mapping is compiled (raising TransformConfigError) and returns a function
`(value, scope) -> value` that raises TransformError for bad record data.
Null values skip transforms. Numbers that must keep their precision
(`decimal`, `money`, `percent_of`) are returned as strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from revflow.clock import aware
from revflow.mapping.errors import TransformError
from revflow.mapping.lookup_tables import MISSING, LookupTable, lookup_key
from revflow.mapping.numbers import (
    CURRENCY_PLACES,
    DEFAULT_CURRENCY_PLACES,
    currency_places,
    quantize,
    round_text,
    to_decimal,
)
from revflow.mapping.paths import PathRef, Scope, parse_path, path_getter
from revflow.mapping.templates import parse_template

__all__ = [
    "CURRENCY_PLACES",
    "DEFAULT_CURRENCY_PLACES",
    "CompileContext",
    "LookupTable",
    "Transform",
    "TransformConfigError",
    "TransformError",
    "build_transform",
    "currency_places",
    "lookup_key",
    "make_table",
    "register_transform",
    "to_decimal",
    "transform_names",
]

TransformFn = Callable[[Any, Scope], Any]
Factory = Callable[[Any, "CompileContext"], TransformFn]

DEFAULT_CURRENCY_PATH = "$.CurrencyIsoCode"
_UTC = dt.UTC


class TransformConfigError(Exception):
    """A transform's options in the mapping file are invalid."""


@dataclass(frozen=True, slots=True)
class CompileContext:
    """What transform factories may consult at compile time."""

    lookups: Mapping[str, LookupTable] = field(default_factory=dict)
    paths: list[PathRef] = field(default_factory=list)  # source paths read by options


@dataclass(frozen=True, slots=True)
class Transform:
    """A compiled transform step."""

    name: str
    fn: TransformFn

    def __call__(self, value: Any, scope: Scope) -> Any:
        return self.fn(value, scope)


_REGISTRY: dict[str, Factory] = {}


def register_transform(name: str) -> Callable[[Factory], Factory]:
    """Register a transform factory under `name` (used by built-ins and extensions)."""

    def decorate(factory: Factory) -> Factory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def transform_names() -> list[str]:
    return sorted(_REGISTRY)


def build_transform(name: str, args: Any, ctx: CompileContext) -> Transform:
    """Compile one transform; raises TransformConfigError for unknown names or bad options."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise TransformConfigError(
            f"unknown transform '{name}' (known: {', '.join(transform_names())})"
        )
    return Transform(name, factory(args, ctx))


# -- option helpers -------------------------------------------------------------


def _options(
    owner: str,
    args: Any,
    allowed: tuple[str, ...],
    shorthand: str | None = None,
    *,
    list_shorthand: bool = False,
) -> dict:
    """Options as a dict; a bare value stands for the `shorthand` option."""
    if args is None:
        return {}
    if isinstance(args, dict):
        unknown = [k for k in args if k not in allowed]
        if unknown:
            raise TransformConfigError(
                f"{owner} has unknown option '{unknown[0]}'"
                + (f" (allowed: {', '.join(allowed)})" if allowed else " (it takes no options)")
            )
        return dict(args)
    if shorthand is not None and (list_shorthand or not isinstance(args, list)):
        return {shorthand: args}
    raise TransformConfigError(f"{owner} expects options as a mapping")


def _no_options(owner: str, args: Any) -> None:
    if args not in (None, {}):
        raise TransformConfigError(f"{owner} takes no options")


def _path_option(name: str, text: Any, ctx: CompileContext) -> PathRef:
    if not isinstance(text, str):
        raise TransformConfigError(f"transform '{name}' expects a path, got {text!r}")
    try:
        path = parse_path(text)
    except ValueError as exc:
        raise TransformConfigError(f"transform '{name}': {exc}") from None
    ctx.paths.append(path)
    return path


def _zone(name: str, tz: Any) -> dt.tzinfo | None:
    if tz is None:
        return None
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise TransformConfigError(f"transform '{name}': unknown time zone {tz!r}") from None


# -- value helpers --------------------------------------------------------------


def _parse_temporal(value: Any) -> dt.date | dt.datetime:
    if isinstance(value, dt.date):  # includes datetime
        return value
    if not isinstance(value, str):
        raise TransformError(f"expected an ISO date or datetime, got {value!r}")
    text = value.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise TransformError(f"cannot parse {value!r} as a date or datetime") from None


def _aware(moment: dt.datetime, tz: dt.tzinfo | None) -> dt.datetime:
    moment = aware(moment)  # Salesforce datetimes are UTC
    return moment.astimezone(tz) if tz is not None else moment


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TransformError(f"expected text, got {type(value).__name__} {value!r}")
    return value


# -- built-in transforms --------------------------------------------------------


@register_transform("upper")
def _upper(args: Any, ctx: CompileContext) -> TransformFn:
    _no_options("transform 'upper'", args)
    return lambda value, scope: _text("upper", value).upper()


@register_transform("lower")
def _lower(args: Any, ctx: CompileContext) -> TransformFn:
    _no_options("transform 'lower'", args)
    return lambda value, scope: _text("lower", value).lower()


@register_transform("strip")
def _strip(args: Any, ctx: CompileContext) -> TransformFn:
    _no_options("transform 'strip'", args)
    return lambda value, scope: _text("strip", value).strip()


@register_transform("str")
def _str(args: Any, ctx: CompileContext) -> TransformFn:
    _no_options("transform 'str'", args)

    def apply(value: Any, scope: Scope) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            raise TransformError(f"cannot convert {type(value).__name__} to text")
        return str(value)

    return apply


@register_transform("int")
def _int(args: Any, ctx: CompileContext) -> TransformFn:
    _no_options("transform 'int'", args)

    def apply(value: Any, scope: Scope) -> int:
        number = to_decimal(value)
        if number != number.to_integral_value():
            raise TransformError(f"{value!r} is not a whole number")
        return int(number)

    return apply


@register_transform("decimal")
def _decimal(args: Any, ctx: CompileContext) -> TransformFn:
    opts = _options("transform 'decimal'", args, ("places",), shorthand="places")
    places = opts.get("places")
    if places is not None and (
        isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 18
    ):
        raise TransformConfigError("transform 'decimal': places must be an integer 0..18")

    def apply(value: Any, scope: Scope) -> str:
        number = to_decimal(value)
        return format(number, "f") if places is None else quantize(number, places)

    return apply


@register_transform("money")
def _money(args: Any, ctx: CompileContext) -> TransformFn:
    opts = _options("transform 'money'", args, ("currency", "currency_code"), shorthand="currency")
    if "currency" in opts and "currency_code" in opts:
        raise TransformConfigError("transform 'money': give either currency or currency_code")
    fixed = opts.get("currency_code")
    if fixed is not None and not (isinstance(fixed, str) and len(fixed) == 3 and fixed.isalpha()):
        raise TransformConfigError(f"transform 'money': invalid currency_code {fixed!r}")
    path = _path_option("money", opts.get("currency", DEFAULT_CURRENCY_PATH), ctx)

    read = path_getter(path)
    # the default `$.CurrencyIsoCode` is read inline from a dict record (a call less
    # on every line)
    key = path.parts[0] if path.absolute and len(path.parts) == 1 else None
    seen: dict[str, int] = {}  # valid codes -> places; records use few codes

    def apply(value: Any, scope: Scope) -> str:
        code: Any
        if fixed is not None:
            code = fixed
        elif key is not None and type(root := scope.root) is dict:
            code = root.get(key)
        else:
            code = read(scope)
        places = seen.get(code) if type(code) is str else None
        if places is None:
            if code is None:
                raise TransformError(
                    f"currency at {path} is missing (set money: {{currency_code: XXX}} "
                    "for single-currency orgs)"
                )
            if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
                raise TransformError(f"invalid currency code {code!r} at {path}")
            places = currency_places(code)
            if len(seen) < 1024:
                seen[code] = places
        return round_text(value, places)

    return apply


@register_transform("percent_of")
def _percent_of(args: Any, ctx: CompileContext) -> TransformFn:
    opts = _options("transform 'percent_of'", args, ("path",), shorthand="path")
    if "path" not in opts:
        raise TransformConfigError("transform 'percent_of' needs a path")
    base = _path_option("percent_of", opts["path"], ctx)

    def apply(value: Any, scope: Scope) -> str | None:
        amount = base.get(scope)
        if amount is None:
            return None
        return format(to_decimal(value) * to_decimal(amount) / 100, "f")

    return apply


@register_transform("date")
def _date(args: Any, ctx: CompileContext) -> TransformFn:
    tz = _zone("date", _options("transform 'date'", args, ("tz",), shorthand="tz").get("tz"))

    def apply(value: Any, scope: Scope) -> str:
        moment = _parse_temporal(value)
        if isinstance(moment, dt.datetime):
            return (_aware(moment, tz) if tz is not None else moment).date().isoformat()
        return moment.isoformat()

    return apply


@register_transform("datetime")
def _datetime(args: Any, ctx: CompileContext) -> TransformFn:
    tz = _zone(
        "datetime", _options("transform 'datetime'", args, ("tz",), shorthand="tz").get("tz")
    )

    def apply(value: Any, scope: Scope) -> str:
        moment = _parse_temporal(value)
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime.combine(moment, dt.time(), tzinfo=tz or _UTC)
        return _aware(moment, tz).isoformat()

    return apply


def make_table(name: str, owner: str, spec: Any) -> LookupTable:
    """Build a table from `{values: {...}, default: ...}`; `owner` prefixes error messages."""
    opts = _options(owner, spec, ("values", "default"))
    values = opts.get("values")
    if not isinstance(values, dict) or not values:
        raise TransformConfigError(f"{owner} needs 'values:' as a non-empty mapping")
    return LookupTable(name, dict(values), opts.get("default", MISSING))


@register_transform("map")
def _map(args: Any, ctx: CompileContext) -> TransformFn:
    table = make_table("map", "transform 'map'", args)
    return lambda value, scope: table.get(value)


@register_transform("lookup")
def _lookup(args: Any, ctx: CompileContext) -> TransformFn:
    opts = _options("transform 'lookup'", args, ("table", "default"), shorthand="table")
    name = opts.get("table")
    if not isinstance(name, str):
        raise TransformConfigError("transform 'lookup' needs a table name")
    table = ctx.lookups.get(name)
    if table is None:
        known = ", ".join(sorted(ctx.lookups)) or "none declared"
        raise TransformConfigError(f"undefined lookup '{name}' (known: {known})")
    if "default" in opts:
        table = LookupTable(table.name, table.values, opts["default"])
    return lambda value, scope: table.get(value)


@register_transform("format")
def _format(args: Any, ctx: CompileContext) -> TransformFn:
    opts = _options("transform 'format'", args, ("template",), shorthand="template")
    if not isinstance(opts.get("template"), str):
        raise TransformConfigError("transform 'format' needs a template string")
    try:
        template = parse_template(opts["template"], allow_value=True)
    except ValueError as exc:
        raise TransformConfigError(str(exc)) from None
    ctx.paths.extend(part.path for part in template.parts if part.path is not None)
    return lambda value, scope: template.render(scope, value)


@register_transform("concat")
def _concat(args: Any, ctx: CompileContext) -> TransformFn:
    opts = _options(
        "transform 'concat'", args, ("paths", "sep"), shorthand="paths", list_shorthand=True
    )
    texts = opts.get("paths")
    if not isinstance(texts, list) or not texts:
        raise TransformConfigError("transform 'concat' needs 'paths:' as a list")
    paths = [_path_option("concat", p, ctx) for p in texts]
    sep = opts.get("sep", "")
    if not isinstance(sep, str):
        raise TransformConfigError("transform 'concat': sep must be text")

    def apply(value: Any, scope: Scope) -> str:
        items = [value, *(p.get(scope) for p in paths)]
        return sep.join(str(i) for i in items if i is not None and i != "")

    return apply
