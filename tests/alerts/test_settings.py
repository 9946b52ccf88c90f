"""REVFLOW_ALERTS__* settings: channel secrets from files, hidden in repr, typos named."""

from __future__ import annotations

from pathlib import Path

import pytest

from revflow.config import ConfigError, load_settings


def test_secrets_come_from_files_and_stay_hidden(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "link").write_text("a-link-secret\n")
    (tmp_path / "smtp").write_text("smtp-password\n")
    (tmp_path / "slack").write_text("https://hooks.slack.com/services/T/B/x\n")
    monkeypatch.setenv("REVFLOW_ALERTS__LINK_SECRET_FILE", str(tmp_path / "link"))
    monkeypatch.setenv("REVFLOW_ALERTS__EMAIL__HOST", "smtp.example.com")
    monkeypatch.setenv("REVFLOW_ALERTS__EMAIL__PASSWORD_FILE", str(tmp_path / "smtp"))
    monkeypatch.setenv("REVFLOW_ALERTS__SLACK__WEBHOOK_URL_FILE", str(tmp_path / "slack"))
    alerts = load_settings().alerts
    assert alerts.link_key() == b"a-link-secret"
    assert alerts.email.password is not None
    assert alerts.email.password.get_secret_value() == "smtp-password"
    assert alerts.slack.configured and alerts.email.configured and not alerts.teams.configured
    shown = repr(alerts)
    assert "smtp-password" not in shown and "hooks.slack.com" not in shown
    assert "a-link-secret" not in shown


def test_a_mistyped_setting_is_named_with_a_suggestion(monkeypatch) -> None:
    monkeypatch.setenv("REVFLOW_ALERTS__EMAIL__HOTS", "smtp.example.com")
    with pytest.raises(ConfigError, match="REVFLOW_ALERTS__EMAIL__HOTS.*EMAIL__HOST"):
        load_settings()


def test_both_a_secret_and_its_file_is_refused(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "link").write_text("x")
    monkeypatch.setenv("REVFLOW_ALERTS__LINK_SECRET", "y")
    monkeypatch.setenv("REVFLOW_ALERTS__LINK_SECRET_FILE", str(tmp_path / "link"))
    refused = "REVFLOW_ALERTS: .*give link_secret or link_secret_file, not both"
    with pytest.raises(ConfigError, match=refused):
        load_settings()
