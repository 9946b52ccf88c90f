"""The login service's pure helpers (the flow itself: tests/api/test_oidc.py)."""

from __future__ import annotations

import pytest

from revflow.security.oidc.errors import TokenRejected
from revflow.security.oidc.login import printable, safe_return_to, subject_of


@pytest.mark.parametrize(
    ("asked", "landed"),
    [
        (None, "/"),
        ("", "/"),
        ("/api/fallout?order_id=801", "/api/fallout?order_id=801"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("api/fallout", "/"),
    ],
)
def test_return_to_stays_on_revflow(asked: str | None, landed: str) -> None:
    assert safe_return_to(asked) == landed


def test_the_subject_names_issuer_and_sub() -> None:
    assert subject_of("https://idp.example.com", "u-1") == "oidc:https://idp.example.com#u-1"


def test_a_long_issuer_is_shortened_to_its_host() -> None:
    issuer = "https://login.microsoftonline.com/" + "0" * 36 + "/v2.0"
    sub = "A" * 43
    assert subject_of(issuer, sub) == f"oidc:login.microsoftonline.com#{sub}"


def test_a_subject_that_cannot_be_an_actor_is_refused() -> None:
    with pytest.raises(TokenRejected, match="longer than 100"):
        subject_of("https://idp.example.com", "x" * 100)
    with pytest.raises(TokenRejected, match="characters"):
        subject_of("https://idp.example.com", "u-1\r\nforged")


def test_provider_text_loses_control_characters() -> None:
    assert printable("denied\r\n\u008bforged", 100) == "deniedforged"
    assert printable("x" * 50, 10) == "x" * 10
