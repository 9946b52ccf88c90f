"""Reference tables for the built-in rules (IBAN lengths, VAT id formats, VAT rates).

VAT rates are percent, standard and reduced rates plus 0 (exempt / zero-rated /
reverse charge), as published by the European Commission for 2025; mappings can
add or override countries with `rates:` on the `vat_rate_allowed` rule.
"""

from __future__ import annotations

__all__ = ["IBAN_LENGTHS", "VAT_ID_PATTERNS", "VAT_RATES"]

# ISO 13616 IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# EU VAT identification numbers after the 2-letter prefix (VIES formats; Greece is EL,
# Northern Ireland XI).
VAT_ID_PATTERNS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"[1-9]\d{1,9}",
    "SE": r"\d{10}01",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
}

# Allowed VAT rates (percent) per ISO country code.
VAT_RATES: dict[str, tuple[float, ...]] = {
    "AT": (0, 10, 13, 20),
    "BE": (0, 6, 12, 21),
    "BG": (0, 9, 20),
    "CY": (0, 3, 5, 19),
    "CZ": (0, 12, 21),
    "DE": (0, 7, 19),
    "DK": (0, 25),
    "EE": (0, 9, 13, 24),
    "ES": (0, 4, 10, 21),
    "FI": (0, 10, 14, 25.5),
    "FR": (0, 2.1, 5.5, 10, 20),
    "GR": (0, 6, 13, 24),
    "HR": (0, 5, 13, 25),
    "HU": (0, 5, 18, 27),
    "IE": (0, 4.8, 9, 13.5, 23),
    "IT": (0, 4, 5, 10, 22),
    "LT": (0, 5, 9, 21),
    "LU": (0, 3, 8, 14, 17),
    "LV": (0, 5, 12, 21),
    "MT": (0, 5, 7, 18),
    "NL": (0, 9, 21),
    "PL": (0, 5, 8, 23),
    "PT": (0, 6, 13, 23),
    "RO": (0, 5, 9, 11, 19, 21),
    "SE": (0, 6, 12, 25),
    "SI": (0, 5, 9.5, 22),
    "SK": (0, 5, 19, 23),
    "GB": (0, 5, 20),
    "CH": (0, 2.6, 3.8, 8.1),
    "NO": (0, 12, 15, 25),
}
