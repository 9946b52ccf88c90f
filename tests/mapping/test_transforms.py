from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revflow.mapping.paths import Scope
from revflow.mapping.transforms import (
    CURRENCY_PLACES,
    CompileContext,
    LookupTable,
    TransformConfigError,
    TransformError,
    build_transform,
    currency_places,
)

ROOT = {"CurrencyIsoCode": "EUR", "Fx": {"Code": "JPY"}, "TotalAmount": 250.0, "City": "Berlin"}
SCOPE = Scope(ROOT, ROOT)
VAT = LookupTable("vat", {"DE": 19, "FR": 20, "NO": 25}, 0)


def run(name: str, args: Any, value: Any, root: dict | None = None) -> Any:
    transform = build_transform(name, args, CompileContext({"vat": VAT}))
    scope = SCOPE if root is None else Scope(root, root)
    return transform(value, scope)


# -- text and numbers ---------------------------------------------------------------


def test_text_transforms() -> None:
    assert run("upper", None, "de") == "DE"
    assert run("lower", None, "DE") == "de"
    assert run("strip", None, "  x ") == "x"
    assert run("str", None, 12) == "12"
    assert run("str", None, True) == "true"


def test_text_transform_rejects_numbers() -> None:
    with pytest.raises(TransformError, match="expected text"):
        run("upper", None, 12)


@pytest.mark.parametrize(
    ("value", "expected"), [(2, 2), (2.0, 2), ("3", 3), (" 4 ", 4), ("5.0", 5)]
)
def test_int(value: Any, expected: int) -> None:
    assert run("int", None, value) == expected


@pytest.mark.parametrize("value", [2.5, "abc", True, "nan"])
def test_int_rejects(value: Any) -> None:
    with pytest.raises(TransformError):
        run("int", None, value)


@pytest.mark.parametrize(
    ("args", "value", "expected"),
    [
        (None, 2.5, "2.5"),
        ({"places": 2}, 2, "2.00"),
        ({"places": 2}, 2.675, "2.68"),  # float repr, not binary 2.67499...
        (2, "1.005", "1.01"),
        (0, 2.5, "3"),
        (0, -2.5, "-3"),
        (3, Decimal("1E+3"), "1000.000"),
    ],
)
def test_decimal(args: Any, value: Any, expected: str) -> None:
    assert run("decimal", args, value) == expected


@pytest.mark.parametrize("args", [{"places": -1}, {"places": "2"}, {"scale": 2}, [1]])
def test_decimal_bad_options(args: Any) -> None:
    with pytest.raises(TransformConfigError):
        run("decimal", args, 1)


# -- money ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "value", "expected"),
    [
        ("EUR", 100, "100.00"),
        ("EUR", 0.125, "0.13"),
        ("EUR", 2.675, "2.68"),
        ("EUR", -0.005, "-0.01"),
        ("usd", "19.999", "20.00"),
        ("JPY", 1234.5, "1235"),
        ("JPY", 1234.4, "1234"),
        ("KWD", 1.2345, "1.235"),
        ("BHD", 10, "10.000"),
        ("XYZ", 1, "1.00"),
    ],
)
def test_money_rounds_to_currency_minor_units(currency: str, value: Any, expected: str) -> None:
    assert run("money", None, value, {"CurrencyIsoCode": currency}) == expected


def test_money_currency_from_path_or_fixed_code() -> None:
    assert run("money", {"currency": "Fx.Code"}, 10.5) == "11"
    assert run("money", "Fx.Code", 10.4) == "10"
    assert run("money", {"currency_code": "KWD"}, 1) == "1.000"


def test_money_missing_currency_is_a_record_error() -> None:
    with pytest.raises(TransformError, match=r"currency at \$.CurrencyIsoCode is missing"):
        run("money", None, 1, {})


@pytest.mark.parametrize("value", ["abc", True, float("nan"), float("inf"), {"a": 1}])
def test_money_rejects_non_numbers(value: Any) -> None:
    with pytest.raises(TransformError):
        run("money", None, value)


@pytest.mark.parametrize(
    "args", [{"currency": "X", "currency_code": "EUR"}, {"currency_code": "EURO"}, {"currency": 1}]
)
def test_money_bad_options(args: Any) -> None:
    with pytest.raises(TransformConfigError):
        run("money", args, 1)


def test_currency_places() -> None:
    assert (currency_places("JPY"), currency_places("bhd"), currency_places("EUR")) == (0, 3, 2)


@given(
    currency=st.sampled_from([*CURRENCY_PLACES, "EUR", "USD", "GBP"]),
    amount=st.decimals(min_value=-(10**12), max_value=10**12, allow_nan=False, places=6),
)
def test_money_always_has_the_currency_decimals(currency: str, amount: Decimal) -> None:
    out = run("money", None, amount, {"CurrencyIsoCode": currency})
    places = currency_places(currency)
    _, _, fraction = out.partition(".")
    assert len(fraction) == places
    assert abs(Decimal(out) - amount) <= Decimal(1).scaleb(-places) / 2


@given(amount=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_money_of_floats_is_parseable_and_close(amount: float) -> None:
    out = run("money", None, amount)
    assert abs(Decimal(out) - Decimal(repr(amount))) <= Decimal("0.005")


# -- dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "value", "expected"),
    [
        (None, "2026-01-15", "2026-01-15"),
        (None, "2026-01-15T23:30:00.000+0000", "2026-01-15"),
        ("Europe/Berlin", "2026-01-15T23:30:00.000+0000", "2026-01-16"),
        ({"tz": "America/New_York"}, "2026-01-15T03:00:00Z", "2026-01-14"),
        ({"tz": "Europe/Berlin"}, "2026-01-15T23:30:00", "2026-01-16"),  # naive = UTC
        ({"tz": "Europe/Berlin"}, "2026-01-15", "2026-01-15"),
    ],
)
def test_date(args: Any, value: str, expected: str) -> None:
    assert run("date", args, value) == expected


@pytest.mark.parametrize(
    ("args", "value", "expected"),
    [
        (None, "2026-01-15T10:00:00.000+0000", "2026-01-15T10:00:00+00:00"),
        ("Europe/Berlin", "2026-07-01T10:00:00Z", "2026-07-01T12:00:00+02:00"),
        (None, "2026-01-15", "2026-01-15T00:00:00+00:00"),
    ],
)
def test_datetime(args: Any, value: str, expected: str) -> None:
    assert run("datetime", args, value) == expected


@pytest.mark.parametrize("value", ["15.01.2026", "2026-13-01", 20260115, ""])
def test_date_rejects_unparseable(value: Any) -> None:
    with pytest.raises(TransformError):
        run("date", None, value)


def test_date_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(TransformConfigError, match="unknown time zone"):
        run("date", {"tz": "Mars/Olympus"}, "2026-01-15")


# -- tables and templates ----------------------------------------------------------


def test_map_with_and_without_default() -> None:
    values = {"Draft": "D", "Activated": "A", "true": "Y"}
    assert run("map", {"values": values}, "Activated") == "A"
    assert run("map", {"values": values}, True) == "Y"
    assert run("map", {"values": values, "default": "?"}, "Cancelled") == "?"
    with pytest.raises(TransformError, match="'Cancelled' is not in lookup 'map'"):
        run("map", {"values": values}, "Cancelled")


@pytest.mark.parametrize("args", [None, {"Draft": "D"}, {"values": {}}, {"values": [1]}])
def test_map_bad_options(args: Any) -> None:
    with pytest.raises(TransformConfigError):
        run("map", args, "x")


def test_lookup() -> None:
    assert run("lookup", "vat", "DE") == 19
    assert run("lookup", {"table": "vat"}, "NO") == 25
    assert run("lookup", "vat", "US") == 0
    assert run("lookup", {"table": "vat", "default": None}, "US") is None


def test_lookup_undefined_table() -> None:
    with pytest.raises(TransformConfigError, match="undefined lookup 'rates' \\(known: vat\\)"):
        run("lookup", "rates", "DE")


def test_format_and_concat() -> None:
    assert run("format", "SF-{value}/{City}", "42") == "SF-42/Berlin"
    assert run("format", {"template": "{value:>5}|{Missing}|"}, "ab") == "   ab||"
    assert (
        run("concat", {"paths": ["City", "Missing"], "sep": ", "}, "Main St 1")
        == "Main St 1, Berlin"
    )
    assert run("concat", ["City"], "") == "Berlin"


@pytest.mark.parametrize("template", ["{", "{}", "{a!r}", "{Bad Name}", "{a:{b}}"])
def test_format_bad_templates(template: str) -> None:
    with pytest.raises(TransformConfigError):
        run("format", template, "x")


def test_percent_of() -> None:
    assert run("percent_of", "TotalAmount", 19) == "47.5"
    assert run("percent_of", "Missing", 19) is None


def test_unknown_transform_lists_known_ones() -> None:
    with pytest.raises(
        TransformConfigError, match=r"unknown transform 'uppercase' \(known: .*upper"
    ):
        run("uppercase", None, "x")


@pytest.mark.parametrize("name", ["upper", "lower", "strip", "str", "int"])
def test_no_option_transforms_reject_options(name: str) -> None:
    with pytest.raises(TransformConfigError, match=f"transform '{name}' takes no options"):
        run(name, {"x": 1}, "a")
