"""Durations in plan files."""

from __future__ import annotations

import pytest

from revflow.plans.rules import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1h30m", 5400),
        ("P1D", 86400),
        ("PT2H30M", 9000),
        ("P1W", 604800),
        (45, 45.0),
        (1.5, 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "P", "PT", "-3s", "1.5", True, -1])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)
