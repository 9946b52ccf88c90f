from __future__ import annotations

import decimal
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revflow.mapping.errors import TransformError
from revflow.mapping.numbers import quantize, round_text, to_decimal


def reference_quantize(number: Decimal, places: int) -> str:
    """Rounding as the code did before the fixed context: a fresh local context per call."""
    with decimal.localcontext() as ctx:
        ctx.prec = max(28, number.adjusted() + places + 2)
        return format(number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


@given(
    number=st.decimals(
        allow_nan=False, allow_infinity=False, min_value=-(10**40), max_value=10**40
    ),
    places=st.integers(0, 20),
)
def test_quantize_matches_a_fresh_context(number: Decimal, places: int) -> None:
    assert quantize(number, places) == reference_quantize(number, places)


@pytest.mark.parametrize(
    ("number", "places", "text"),
    [("2.345", 2, "2.35"), ("-2.345", 2, "-2.35"), ("1E+30", 2, "1" + "0" * 30 + ".00"),
     ("0.5", 0, "1"), ("1.0005", 3, "1.001")],
)  # fmt: skip
def test_quantize_rounds_half_up(number: str, places: int, text: str) -> None:
    assert quantize(Decimal(number), places) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1, Decimal("0.1")), (" 12.50 ", Decimal("12.50")), (7, Decimal(7)),
     (Decimal("3.3"), Decimal("3.3"))],
)  # fmt: skip
def test_to_decimal(value: object, expected: Decimal) -> None:
    assert to_decimal(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [(True, "expected a number"), ("abc", "cannot parse"), (float("inf"), "finite"),
     ("NaN", "finite"), ([1], "expected a number, got list")],
)  # fmt: skip
def test_to_decimal_rejects(value: object, message: str) -> None:
    with pytest.raises(TransformError, match=message):
        to_decimal(value)


@given(
    value=st.one_of(st.floats(), st.integers(), st.decimals(), st.text(max_size=8)),
    places=st.integers(0, 20),
)
def test_round_text_equals_quantize_of_to_decimal(value: object, places: int) -> None:
    try:
        expected = quantize(to_decimal(value), places)
    except TransformError as exc:
        with pytest.raises(TransformError, match="^" + re.escape(str(exc)) + "$"):
            round_text(value, places)
    else:
        assert round_text(value, places) == expected


@given(cents=st.integers(-(10**15), 10**15), scale=st.sampled_from([1, 10, 100, 1000, 10**4]))
def test_round_text_of_amount_like_floats_equals_quantize(cents: int, scale: int) -> None:
    value = cents / scale  # the floats Salesforce sends for currency fields
    for places in (0, 1, 2, 3, 4, 20):
        assert round_text(value, places) == quantize(to_decimal(value), places)


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [(100.0, 2, "100.00"), (100.0, 0, "100"), (-0.0, 2, "-0.00"), (-0.0, 0, "-0"),
     (2.5, 0, "3"), (12.345, 2, "12.35"), (0.125, 3, "0.125"), (1e16, 2, "10000000000000000.00"),
     (1e-05, 2, "0.00"), (1.5e-05, 5, "0.00002"), (123.4, 25, "123.4" + "0" * 24)],
)  # fmt: skip
def test_round_text_of_floats(value: float, places: int, text: str) -> None:
    assert round_text(value, places) == text
