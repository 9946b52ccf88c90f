import json

import pytest

from revflow.config import ConfigError, load_settings
from revflow.connectors.signing import generate_secret

GOOD_SECRET = generate_secret()
OTHER_SECRET = generate_secret()


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


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [("REVFLOW_API_PROT", "REVFLOW_API_PORT"), ("REVFLOW_LOGLEVEL", "REVFLOW_LOG_LEVEL")],
)
def test_misspelt_top_level_variable_is_refused_with_a_suggestion(
    monkeypatch, variable, suggestion
):
    monkeypatch.setenv(variable, "9000")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == f"unknown setting {variable} (did you mean {suggestion}?)"


def test_misspelt_nested_variable_gets_a_suggestion(monkeypatch):
    monkeypatch.setenv("REVFLOW_WORKER__CONCURENCY", "3")
    with pytest.raises(ConfigError, match=r"did you mean REVFLOW_WORKER__CONCURRENCY\?"):
        load_settings()


def test_variables_that_are_not_settings_are_left_alone(monkeypatch):
    monkeypatch.setenv("REVFLOW_TRYTON_CACHE", "/tmp/x")
    monkeypatch.setenv("REVFLOW_BENCH_DATABASE_URL", "sqlite:///x")
    assert load_settings().api_port == 8080


def test_misspelt_key_in_file_gets_a_suggestion(tmp_path):
    f = tmp_path / "revflow.yaml"
    f.write_text("api_prot: 9000\n")
    with pytest.raises(ConfigError, match=r"REVFLOW_API_PROT in .*did you mean REVFLOW_API_PORT"):
        load_settings(f)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("REVFLOW_ERP__SECRETS", json.dumps([GOOD_SECRET, "not-a-secret"]), "ERP__SECRETS[1]"),
        ("REVFLOW_ERP__SECRETS", json.dumps(["whsec_!!notbase64"]), "ERP__SECRETS[0]"),
        ("REVFLOW_CALLBACKS__SECRETS", json.dumps(["c2VjcmV0"]), "CALLBACKS__SECRETS[0]"),
        (
            "REVFLOW_CALLBACKS__SOURCE_SECRETS",
            json.dumps({"sap": ["whsec_"]}),
            "CALLBACKS__SOURCE_SECRETS__SAP[0]",
        ),
    ],
)
def test_bad_webhook_secret_names_its_setting_not_its_value(monkeypatch, variable, value, named):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"invalid setting REVFLOW_{named}: Value error, webhook secret is ")
    assert "not-a-secret" not in message and "notbase64" not in message


def test_repr_str_and_json_of_settings_hide_every_secret(tmp_path):
    key_file = tmp_path / "key.pem"
    key_file.write_text("unused")
    hidden = {
        "db-password": "postgresql+asyncpg://revflow:db-password@db.example/revflow",
        "client-secret-value": None,
        "PRIVATE-KEY-PEM": None,
        GOOD_SECRET: None,
        OTHER_SECRET: None,
        "tryton-password": None,
    }
    settings = load_settings(
        database_url=hidden["db-password"],
        salesforce={
            "client_id": "cid",
            "auth": "client_credentials",
            "client_secret": "client-secret-value",
            "private_key": "PRIVATE-KEY-PEM",
        },
        erp={"url": "https://erp.example/hook", "secrets": [GOOD_SECRET]},
        callbacks={"secrets": [OTHER_SECRET], "source_secrets": {"sap": [GOOD_SECRET]}},
    )
    tryton = load_settings(erp={"type": "tryton", "password": "tryton-password"})
    shown = [repr(settings), str(settings), settings.model_dump_json()]
    shown += [repr(tryton), str(tryton), tryton.model_dump_json()]
    for text in shown:
        for secret in hidden:
            assert secret not in text
    assert "revflow:***@db.example" in shown[0]
    # the values themselves are intact where they are used
    assert settings.salesforce.client_secret.get_secret_value() == "client-secret-value"
    assert settings.erp.connector_options()["secrets"] == [GOOD_SECRET]
    assert settings.callbacks.secrets_for("sap") == [GOOD_SECRET]
    assert tryton.erp.connector_options()["password"] == "tryton-password"
    assert settings.database_url == hidden["db-password"]


def test_bad_erp_external_id_names_the_setting(monkeypatch):
    monkeypatch.setenv("REVFLOW_ERP__EXTERNAL_ID", "result.documentNo[")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("invalid setting REVFLOW_ERP__EXTERNAL_ID: ")
    assert "bad JMESPath expression 'result.documentNo['" in message
    monkeypatch.setenv("REVFLOW_ERP__EXTERNAL_ID", "result.documentNo")
    assert load_settings().erp.model_dump()["external_id"] == "result.documentNo"
