"""Named connectors in configuration: every shipped type, secrets from env and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from revflow.config import ConfigError, Settings, load_settings
from revflow.connector_settings import (
    AmqpConnectorSettings,
    NetSuiteConnectorSettings,
    QuickBooksConnectorSettings,
    TrytonConnectorSettings,
    WebhookConnectorSettings,
    XeroConnectorSettings,
)
from revflow.connectors.amqp import AmqpConnector
from revflow.connectors.base import CallContext
from revflow.connectors.errors import FatalError
from revflow.connectors.netsuite import NetSuiteConnector
from revflow.connectors.quickbooks import QuickBooksConnector
from revflow.connectors.rest import RestConnector
from revflow.connectors.sap_s4 import SapS4SalesOrderConnector
from revflow.connectors.signing import generate_secret
from revflow.connectors.tryton import TrytonConnector
from revflow.connectors.webhook import WebhookConnector
from revflow.connectors.xero import XeroConnector
from revflow.db.database import Database
from revflow.service import build_connectors
from revflow.webhooks.guard import EndpointGuard

WHSEC = generate_secret()

CONFIG = """
connectors:
  sales:
    type: tryton
    url: http://tryton.internal:8000
    database: erp
    user: revflow
  warehouse:
    type: amqp
    exchange: warehouse
    routing_key: orders.new
  accounting:
    type: xero
    tenant_id: 4f5e-tenant
    client_id: xero-client
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_three_connectors_of_different_types_from_file_env_and_secret_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "revflow.yaml", CONFIG)
    secret = write(tmp_path, "xero-secret", "s3cr3t-xero\n")
    monkeypatch.setenv("REVFLOW_CONNECTORS__SALES__PASSWORD", "tryton-pw")
    monkeypatch.setenv("REVFLOW_CONNECTORS__WAREHOUSE__URL", "amqp://wh:amqp-pw@rabbit:5672/")
    monkeypatch.setenv("REVFLOW_CONNECTORS__ACCOUNTING__CLIENT_SECRET_FILE", str(secret))

    settings = load_settings(config)

    found = settings.all_connectors()
    assert list(found) == ["sales", "warehouse", "accounting"]  # no erp: none configured
    sales, warehouse, accounting = found.values()
    assert isinstance(sales, TrytonConnectorSettings)
    assert isinstance(warehouse, AmqpConnectorSettings)
    assert isinstance(accounting, XeroConnectorSettings)
    assert sales.connector_options()["password"] == "tryton-pw"
    assert warehouse.connector_options()["url"] == "amqp://wh:amqp-pw@rabbit:5672/"
    assert accounting.connector_options()["client_secret"] == "s3cr3t-xero"  # stripped
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret_text in ("tryton-pw", "amqp-pw", "s3cr3t-xero"):
        assert secret_text not in shown
    assert settings.missing_connector_settings() == []


def test_connectors_from_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVFLOW_CONNECTORS__BILLING__TYPE", "webhook")
    monkeypatch.setenv("REVFLOW_CONNECTORS__BILLING__URL", "https://billing.example/hooks")
    monkeypatch.setenv("REVFLOW_CONNECTORS__BILLING__SECRETS", json.dumps([WHSEC]))
    monkeypatch.setenv("REVFLOW_CONNECTORS__BILLING__EVENT_TYPES", '{"invoice.create": "inv"}')
    monkeypatch.setenv("REVFLOW_CONNECTORS__QBO__TYPE", "quickbooks")
    monkeypatch.setenv("REVFLOW_CONNECTORS__QBO__REALM_ID", "9130")

    settings = load_settings()

    billing = settings.connectors["billing"]
    assert isinstance(billing, WebhookConnectorSettings)
    assert billing.event_types == {"invoice.create": "inv"}
    assert billing.connector_options()["secrets"] == [WHSEC]
    assert isinstance(settings.connectors["qbo"], QuickBooksConnectorSettings)
    assert settings.missing_connector_settings() == [
        "REVFLOW_CONNECTORS__QBO__CLIENT_ID",
        "REVFLOW_CONNECTORS__QBO__CLIENT_SECRET",
        "REVFLOW_CONNECTORS__QBO__REFRESH_TOKEN",
    ]


def test_erp_variables_stay_the_connector_named_erp_of_any_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REVFLOW_ERP__TYPE", "netsuite")
    monkeypatch.setenv("REVFLOW_ERP__ACCOUNT_ID", "1234567_SB1")
    monkeypatch.setenv("REVFLOW_ERP__ACCESS_TOKEN", "fixed-token")
    monkeypatch.setenv("REVFLOW_CONNECTORS__WAREHOUSE__TYPE", "amqp")
    monkeypatch.setenv("REVFLOW_CONNECTORS__WAREHOUSE__URL", "amqp://guest:guest@127.0.0.1/")

    settings = load_settings()

    assert list(settings.all_connectors()) == ["erp", "warehouse"]
    assert isinstance(settings.erp, NetSuiteConnectorSettings)
    assert settings.connector_actions()["erp"] == {"sales_order.create", "create_sales_order"}
    assert settings.connector_actions()["warehouse"] is None  # any action


def test_default_erp_is_the_webhook_connector_when_nothing_is_configured() -> None:
    settings = Settings()
    assert list(settings.all_connectors()) == ["erp"]
    with pytest.raises(ConfigError, match=r"missing setting REVFLOW_SALESFORCE__INSTANCE_URL"):
        settings.require_org()
    assert settings.missing_connector_settings() == [
        "REVFLOW_ERP__URL",
        "REVFLOW_ERP__SECRETS",
    ]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"REVFLOW_CONNECTORS__WH__TYPE": "sqs"},
            "invalid setting REVFLOW_CONNECTORS__WH: type must be one of webhook, tryton, amqp,",
        ),
        (
            {"REVFLOW_CONNECTORS__WH__URL": "amqp://x/"},
            "invalid setting REVFLOW_CONNECTORS__WH: type must be one of webhook,",
        ),
        (
            {"REVFLOW_CONNECTORS__WH__TYPE": "amqp", "REVFLOW_CONNECTORS__WH__EXCHANG": "x"},
            "unknown setting REVFLOW_CONNECTORS__WH__EXCHANG "
            "(did you mean REVFLOW_CONNECTORS__WH__EXCHANGE?)",
        ),
        (
            {"REVFLOW_CONNECTORS__WH__TYPE": "amqp", "REVFLOW_CONNECTORS__WH__URL": "http://x"},
            "invalid setting REVFLOW_CONNECTORS__WH__URL: Value error, url must start with amqp",
        ),
        (
            {"REVFLOW_CONNECTORS__WH__TYPE": "xero", "REVFLOW_CONNECTORS__WH__TIMEOUT_S": "-1"},
            "invalid setting REVFLOW_CONNECTORS__WH__TIMEOUT_S: Input should be greater than 0",
        ),
        (
            {
                "REVFLOW_CONNECTORS__WH__TYPE": "webhook",
                "REVFLOW_CONNECTORS__WH__MAX_CONNECTIONS": "0",
            },
            "invalid setting REVFLOW_CONNECTORS__WH__MAX_CONNECTIONS: "
            "Input should be greater than or equal to 1",
        ),
        (
            {"REVFLOW_CONNECTORS__BAD-NAME__TYPE": "amqp"},
            "invalid setting REVFLOW_CONNECTORS: Value error, connector name 'bad-name'",
        ),
        (
            {
                "REVFLOW_ERP__URL": "https://erp.example",
                "REVFLOW_CONNECTORS__ERP__TYPE": "amqp",
            },
            "connector 'erp' is set twice",
        ),
    ],
)
def test_bad_connector_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert message in str(err.value)


def test_bad_connector_in_file_names_file_and_setting(tmp_path: Path) -> None:
    config = write(
        tmp_path, "c.yaml", "connectors:\n  ns:\n    type: netsuite\n    recordtype: x\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(err.value).startswith(
        f"unknown setting REVFLOW_CONNECTORS__NS__RECORDTYPE in {config}"
    )


def test_secret_file_problems_name_the_key_not_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVFLOW_CONNECTORS__S__TYPE", "sap_s4")
    monkeypatch.setenv("REVFLOW_CONNECTORS__S__PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match=r"REVFLOW_CONNECTORS__S: .*password_file: cannot read"):
        load_settings()
    monkeypatch.setenv("REVFLOW_CONNECTORS__S__PASSWORD_FILE", str(write(tmp_path, "pw", "p")))
    monkeypatch.setenv("REVFLOW_CONNECTORS__S__PASSWORD", "also-given")
    with pytest.raises(ConfigError, match="give password or password_file, not both") as err:
        load_settings()
    assert "also-given" not in str(err.value)


def test_webhook_secrets_from_a_file_are_whitespace_separated(tmp_path: Path) -> None:
    new, old = generate_secret(), generate_secret()
    path = write(tmp_path, "secrets", f"{new}\n{old}\n")
    settings = WebhookConnectorSettings.model_validate(
        {"url": "https://x.example", "secrets_file": str(path)}
    )
    assert settings.connector_options()["secrets"] == [new, old]


async def test_every_type_builds_from_settings_without_touching_the_network(
    tmp_path: Path,
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    connectors: dict[str, Any] = {
        "hook": {"type": "webhook", "url": "https://h.example", "secrets": [WHSEC]},
        "api": {
            "type": "rest",
            "base_url": "https://api.example",
            "auth": {"type": "bearer", "token": "t"},
            "actions": {"create_sales_order": {"path": "/orders"}},
        },
        "mq": {"type": "amqp", "url": "amqp://guest:guest@127.0.0.1:5672/"},
        "ns": {
            "type": "netsuite",
            "account_id": "1234567_SB1",
            "client_id": "ns-client",
            "certificate_id": "cert-1",
            "private_key": pem,
        },
        "sap": {
            "type": "sap_s4",
            "base_url": "https://my1-api.s4hana.cloud.sap",
            "token_url": "https://sap.example/oauth/token",
            "client_id": "c",
            "client_secret": "s",
        },
        "qbo": {
            "type": "quickbooks",
            "realm_id": "9130",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
        },
        "xero": {"type": "xero", "tenant_id": "t", "client_id": "c", "client_secret": "s"},
        "erp": {
            "type": "tryton",
            "url": "http://127.0.0.1:8000",
            "database": "d",
            "user": "u",
            "password": "p",
        },
    }
    settings = load_settings(connectors=connectors, mappings_dir=str(tmp_path))
    assert settings.missing_connector_settings() == []
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/x.sqlite")
    async with httpx.AsyncClient() as http:
        built, webhooks = build_connectors(settings, db, http)
        try:
            kinds = {name: type(c) for name, c in built.items()}
            assert kinds == {
                "hook": EndpointGuard,
                "api": RestConnector,
                "mq": AmqpConnector,
                "ns": NetSuiteConnector,
                "sap": SapS4SalesOrderConnector,
                "qbo": QuickBooksConnector,
                "xero": XeroConnector,
                "erp": TrytonConnector,
            }
            assert webhooks == {"hook": "https://h.example"}
            hook = built["hook"]
            assert isinstance(hook, EndpointGuard) and isinstance(hook.inner, WebhookConnector)
            assert hook.inner._pool is not None  # its own pool (connectors/aiohttp_pool.py)
            assert hook.inner.client is not http
            assert isinstance(built["api"], RestConnector) and built["api"].client is http
        finally:
            for connector in built.values():
                await connector.aclose()
    await db.dispose()


def test_an_incomplete_connector_is_refused_by_revflow_run_naming_each_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REVFLOW_SALESFORCE__INSTANCE_URL", "https://x.my.salesforce.com")
    monkeypatch.setenv("REVFLOW_SALESFORCE__AUTH", "client_credentials")
    monkeypatch.setenv("REVFLOW_SALESFORCE__CLIENT_ID", "id")
    monkeypatch.setenv("REVFLOW_SALESFORCE__CLIENT_SECRET", "secret")
    monkeypatch.setenv("REVFLOW_CONNECTORS__NS__TYPE", "netsuite")
    monkeypatch.setenv("REVFLOW_CONNECTORS__NS__ACCOUNT_ID", "1")
    monkeypatch.setenv("REVFLOW_CONNECTORS__NS__CLIENT_ID", "c")
    settings = load_settings()
    with pytest.raises(ConfigError) as err:
        settings.require_org()
    assert str(err.value) == (
        "missing setting REVFLOW_CONNECTORS__NS__CERTIFICATE_ID "
        "(also missing: REVFLOW_CONNECTORS__NS__PRIVATE_KEY)"
    )


@respx.mock
async def test_a_rotated_refresh_token_is_written_back_to_its_file(tmp_path: Path) -> None:
    token_file = write(tmp_path, "qbo-refresh", "rt-1\n")
    settings = QuickBooksConnectorSettings.model_validate(
        {
            "type": "quickbooks",
            "realm_id": "9130",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token_file": str(token_file),
            "base_url": "https://qbo.example",
        }
    )
    token = respx.post("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer").mock(
        return_value=httpx.Response(
            200, json={"access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-2"}
        )
    )
    respx.post("https://qbo.example/v3/company/9130/invoice").mock(
        return_value=httpx.Response(200, json={"Invoice": {"Id": "130"}})
    )
    from revflow.connectors.registry import build_connector

    connector = build_connector("qbo", settings.connector_options())
    payload = {
        "external_id": "801x",
        "customer": "58",
        "lines": [{"sku": "1", "quantity": 1, "unit_price": "10"}],
    }
    ctx = CallContext("k-1", "c-1", 1, "invoice.create", 5.0)
    try:
        result = await connector.call("invoice.create", payload, ctx)
        with pytest.raises(FatalError, match="no action 'sales_order.create'"):
            await connector.call("sales_order.create", payload, ctx)
    finally:
        await connector.aclose()
    assert result.external_id == "130"
    assert "refresh_token=rt-1" in token.calls[0].request.content.decode()
    assert token_file.read_text() == "rt-2\n"
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_the_built_in_plan_needs_its_erp_connector(tmp_path: Path) -> None:
    from revflow.service import Revflow

    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/x.sqlite",
        connectors={"warehouse": {"type": "amqp", "url": "amqp://guest:guest@127.0.0.1/"}},
    )
    with pytest.raises(ConfigError) as err:
        Revflow(settings, serve_api=False)
    assert str(err.value) == (
        "plan 'order_fulfillment' sends to connector(s) erp that are not configured "
        "(configured: warehouse; REVFLOW_ERP__* is the connector named erp)"
    )
