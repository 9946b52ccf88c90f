"""REVFLOW_OIDC__* settings: a bad or missing one is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from revflow.config import ConfigError, load_settings
from revflow.security.identity import Role

BASE = {
    "REVFLOW_OIDC__ISSUER": "https://login.example.com/realms/acme",
    "REVFLOW_OIDC__CLIENT_ID": "revflow",
    "REVFLOW_OIDC__CLIENT_SECRET": "s3cret",
    "REVFLOW_OIDC__REDIRECT_BASE_URL": "https://revflow.example.com/",
}


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str):
    for key, value in (BASE | env).items():
        if value:
            monkeypatch.setenv(key, value)
        else:
            monkeypatch.delenv(key, raising=False)
    return load_settings()


def test_oidc_is_off_unless_an_issuer_is_set() -> None:
    assert not load_settings().oidc.enabled


def test_a_complete_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    oidc = settings_with(monkeypatch, REVFLOW_OIDC__GROUP_ROLES='{"revflow-admins": "admin"}').oidc
    assert oidc.enabled
    assert oidc.redirect_uri == "https://revflow.example.com/api/auth/oidc/callback"
    assert oidc.after_logout_url == "https://revflow.example.com/"
    assert oidc.group_roles == {"revflow-admins": Role.ADMIN}
    assert oidc.secret() == "s3cret"
    assert "s3cret" not in repr(oidc)


def test_the_secret_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "oidc-secret"
    secret.write_text("from-a-file\n")
    oidc = settings_with(
        monkeypatch, REVFLOW_OIDC__CLIENT_SECRET="", REVFLOW_OIDC__CLIENT_SECRET_FILE=str(secret)
    ).oidc
    assert oidc.secret() == "from-a-file"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REVFLOW_OIDC__ISSUER": "http://login.example.com"},
            "invalid setting REVFLOW_OIDC__ISSUER: Value error, issuer must use https",
        ),
        (
            {"REVFLOW_OIDC__ISSUER": "login.example.com"},
            "invalid setting REVFLOW_OIDC__ISSUER: Value error, issuer must be an https:// URL",
        ),
        ({"REVFLOW_OIDC__CLIENT_ID": ""}, "REVFLOW_OIDC__CLIENT_ID is required with an issuer"),
        (
            {"REVFLOW_OIDC__REDIRECT_BASE_URL": ""},
            "REVFLOW_OIDC__REDIRECT_BASE_URL is required with an issuer",
        ),
        (
            {"REVFLOW_OIDC__CLIENT_SECRET": ""},
            "REVFLOW_OIDC__CLIENT_SECRET or REVFLOW_OIDC__CLIENT_SECRET_FILE is required",
        ),
        (
            {"REVFLOW_OIDC__CLIENT_SECRET_FILE": "/nonexistent/secret"},
            "REVFLOW_OIDC__CLIENT_SECRET_FILE /nonexistent/secret does not exist",
        ),
        (
            {"REVFLOW_OIDC__GROUP_ROLES": '{"ops": "boss"}'},
            "invalid setting REVFLOW_OIDC__GROUP_ROLES__OPS",
        ),
        (
            {"REVFLOW_OIDC__SCOPES": '["email"]'},
            "invalid setting REVFLOW_OIDC__SCOPES: Value error, scopes must include openid",
        ),
        ({"REVFLOW_OIDC__ISSUR": "x"}, "unknown setting REVFLOW_OIDC__ISSUR"),
    ],
)
def test_a_bad_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        settings_with(monkeypatch, **env)
    assert message in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_plain_http_is_allowed_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    oidc = settings_with(monkeypatch, REVFLOW_OIDC__ISSUER="http://127.0.0.1:8443").oidc
    assert oidc.issuer == "http://127.0.0.1:8443"
