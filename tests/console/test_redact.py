from typing import Any

from revflow.console.redact import REDACTED, is_secret_key, redact, redact_text


def test_secret_keys_are_masked_at_any_depth() -> None:
    value: dict[str, Any] = {
        "payload": {"name": "Acme", "api_key": "abc123", "lines": [{"Client-Secret": "s"}]},
        "Authorization": "Bearer abcdefghijkl",
        "password": "",
    }
    out = redact(value)
    assert out["payload"]["name"] == "Acme"
    assert out["payload"]["api_key"] == REDACTED
    assert out["payload"]["lines"][0]["Client-Secret"] == REDACTED
    assert out["Authorization"] == REDACTED
    assert out["password"] == ""  # nothing to hide
    assert value["payload"]["api_key"] == "abc123"  # the input is not changed


def test_credentials_inside_text_are_masked() -> None:
    text = (
        "POST failed: Authorization: Bearer eyJhbGciOi.xyz; via https://bob:hunter2@erp.example/x"
    )
    out = redact_text(text)
    assert "eyJhbGciOi" not in out and "hunter2" not in out
    assert "https://bob:***@erp.example/x" in out


def test_ordinary_keys_are_kept() -> None:
    assert not is_secret_key("Quantity")
    assert is_secret_key("refresh_token")
    assert redact({"n": 3, "ok": True, "none": None}) == {"n": 3, "ok": True, "none": None}
