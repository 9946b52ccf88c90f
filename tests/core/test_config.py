import pytest

from app.config import ConfigError, load_settings


def test_defaults_use_an_sqlite_file():
    assert load_settings().database_url.startswith("sqlite")


def test_bad_env_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("REVFLOW_WORKER__CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match="REVFLOW_WORKER__CONCURRENCY"):
        load_settings()


def test_jwt_flow_needs_a_key(monkeypatch):
    monkeypatch.setenv("REVFLOW_SALESFORCE__CLIENT_ID", "abc")
    monkeypatch.setenv("REVFLOW_SALESFORCE__USERNAME", "u@x")
    with pytest.raises(ConfigError, match="REVFLOW_SALESFORCE.*private_key"):
        load_settings()


def test_file_values_with_env_override(tmp_path, monkeypatch):
    f = tmp_path / "revflow.yaml"
    f.write_text("database_url: sqlite:///from-file.db\nworker:\n  concurrency: 3\n")
    monkeypatch.setenv("REVFLOW_WORKER__CONCURRENCY", "7")
    s = load_settings(f)
    assert s.database_url == "sqlite:///from-file.db"
    assert s.worker.concurrency == 7


def test_unknown_key_in_file_is_named(tmp_path):
    f = tmp_path / "revflow.toml"
    f.write_text("[worker]\nconcurency = 3\n")
    with pytest.raises(ConfigError, match="REVFLOW_WORKER__CONCURENCY"):
        load_settings(f)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_run_requires_an_org():
    with pytest.raises(ConfigError, match="REVFLOW_SALESFORCE__INSTANCE_URL"):
        load_settings().require_org()


def test_bad_erp_external_id_names_the_setting(monkeypatch):
    monkeypatch.setenv("REVFLOW_ERP__EXTERNAL_ID", "result.documentNo[")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid setting REVFLOW_ERP__EXTERNAL_ID: ")
    assert "bad JMESPath expression 'result.documentNo['" in message
    monkeypatch.setenv("REVFLOW_ERP__EXTERNAL_ID", "result.documentNo")
    assert load_settings().erp.model_dump()["external_id"] == "result.documentNo"
