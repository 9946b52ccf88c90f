"""Decimal helpers shared by transforms and rules: parsing numbers and rounding to places.

Rounding uses precomputed exponents and a fixed context so the hot path (`money`
on every line) allocates no context per call.
"""

from __future__ import annotations

import decimal
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from revflow.mapping.errors import TransformError

__all__ = [
    "CURRENCY_PLACES",
    "DEFAULT_CURRENCY_PLACES",
    "currency_places",
    "quantize",
    "round_text",
    "to_decimal",
]

DEFAULT_CURRENCY_PLACES = 2
_ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
# ISO 4217 minor units that differ from the default of 2.
CURRENCY_PLACES: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMAL.split()},
    **{code: 3 for code in _THREE_DECIMAL.split()},
}
_PREC = 28  # enough for any amount below 10**(28 - places - 2)
_CONTEXT = decimal.Context(prec=_PREC, rounding=ROUND_HALF_UP)
_MAX_PLACES = 19  # the `decimal` transform allows 0..18
_EXPONENTS = tuple(Decimal(1).scaleb(-places) for places in range(_MAX_PLACES))


def to_decimal(value: Any) -> Decimal:
    """A finite Decimal from an int, float (via its shortest repr), Decimal or numeric string."""
    kind = type(value)
    try:
        if kind is float:
            number = Decimal(repr(value))
        elif kind is str:
            number = Decimal(value.strip())
        elif kind is bool:
            raise TransformError(f"expected a number, got {value!r}")
        elif isinstance(value, int | Decimal):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise TransformError(f"expected a number, got {type(value).__name__} {value!r}")
    except decimal.InvalidOperation:
        raise TransformError(f"cannot parse {value!r} as a number") from None
    if not number.is_finite():
        raise TransformError(f"expected a finite number, got {value!r}")
    return number


def quantize(number: Decimal, places: int) -> str:
    """`number` rounded half-up to `places` decimals, as plain text (no exponent)."""
    needed = number.adjusted() + places + 2
    if needed <= _PREC and places < _MAX_PLACES:
        return format(number.quantize(_EXPONENTS[places], context=_CONTEXT), "f")
    context = decimal.Context(prec=max(_PREC, needed), rounding=ROUND_HALF_UP)
    return format(number.quantize(Decimal(1).scaleb(-places), context=context), "f")


def round_text(value: Any, places: int) -> str:
    """quantize(to_decimal(value), places), with the common float case inlined."""
    if type(value) is float:
        # Amounts rarely carry more decimals than their currency: then the shortest
        # repr, padded with zeros, is the rounded text and no Decimal is needed.
        text = repr(value)
        dot = text.find(".")
        if dot > 0 and "e" not in text:  # finite: inf and nan have no "."
            decimals = len(text) - dot - 1
            if decimals <= places:
                return text + "0" * (places - decimals)
            if places == 0 and decimals == 1 and text[-1] == "0":
                return text[:dot]  # "100.0" -> "100"
        number = Decimal(text) if math.isfinite(value) else to_decimal(value)
    else:
        number = to_decimal(value)
    if number.adjusted() + places + 2 <= _PREC and places < _MAX_PLACES:
        return format(number.quantize(_EXPONENTS[places], context=_CONTEXT), "f")
    return quantize(number, places)


def currency_places(code: str) -> int:
    """Minor units for an ISO 4217 code: JPY 0, BHD/KWD 3, otherwise 2."""
    return CURRENCY_PLACES.get(code.upper(), DEFAULT_CURRENCY_PLACES)
