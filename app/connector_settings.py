"""Connector settings: one model per shipped connector type, validated by ``type``.

A ``connectors`` section (config file or ``REVFLOW_CONNECTORS__<NAME>__<KEY>``) names
any number of connectors; the ``erp`` section (``REVFLOW_ERP__*``) is the connector
named ``erp``.  Every secret may come from a file instead: ``<key>_file`` names a file
holding it (``REVFLOW_CONNECTORS__QBO__CLIENT_SECRET_FILE=/run/secrets/qbo``; a list
of secrets is whitespace-separated).  Secrets are ``SecretStr``: hidden in repr, str
and dumps, revealed only by ``connector_options`` for ``build_connector``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, SecretStr, Tag, field_validator, model_validator

from revflow.config_types import SecretFiles, WebhookSecret, reveal, write_secret_file
from revflow.connectors.actions import TYPE_ACTIONS

__all__ = [
    "CONNECTOR_NAME",
    "AmqpConnectorSettings",
    "ConnectorSettings",
    "ErpSettings",
    "NetSuiteConnectorSettings",
    "QuickBooksConnectorSettings",
    "RestConnectorSettings",
    "SapS4ConnectorSettings",
    "TrytonConnectorSettings",
    "WebhookConnectorSettings",
    "XeroConnectorSettings",
]

CONNECTOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class ConnectorBase(SecretFiles):
    """What every connector's settings have."""

    type: str

    def supported_actions(self) -> frozenset[str] | None:
        """The actions this connector performs (``None``: any action)."""
        return TYPE_ACTIONS.get(self.type)

    def missing(self) -> list[str]:
        """The settings still needed before the connector can be built (key names)."""
        return []

    def connector_options(self) -> dict[str, Any]:
        """The options ``build_connector`` takes, secrets revealed, unset ones left out."""
        return {k: v for k, v in reveal(self.model_dump()).items() if v is not None}


def _empty(settings: ConnectorBase, *keys: str) -> list[str]:
    return [k for k in keys if not reveal(getattr(settings, k))]


class WebhookConnectorSettings(ConnectorBase):
    """Standard Webhooks deliveries to one URL (connectors/webhook.py)."""

    secret_lists = frozenset({"secrets"})

    type: Literal["webhook"] = "webhook"
    url: str = ""
    secrets: list[WebhookSecret] = []
    timeout_s: float = Field(default=10.0, gt=0)
    # connections open to the endpoint at most (httpx's Limits.max_connections)
    max_connections: int = Field(default=100, ge=1, le=10_000)
    # JMESPath to the ERP's id in its answer (connectors/external_id.py); unset: id, erp_number
    external_id: str | None = None
    event_types: dict[str, str] = {}  # action -> message type (unset: the action)

    @field_validator("secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value  # "whsec_new whsec_old"

    @field_validator("external_id")
    @classmethod
    def _check_external_id(cls, value: str | None) -> str | None:
        from revflow.connectors.external_id import compile_path

        if value is not None:
            compile_path(value)  # ValueError says where the expression breaks
        return value

    def missing(self) -> list[str]:
        return _empty(self, "url", "secrets")


class TrytonConnectorSettings(ConnectorBase):
    """A Tryton ERP over JSON-RPC (connectors/tryton.py)."""

    secret_fields = frozenset({"password"})

    type: Literal["tryton"]
    url: str = ""  # http://host:8000 (the database name is added to the path)
    database: str = ""
    user: str = ""
    password: SecretStr = SecretStr("")
    language: str = "en"
    timeout_s: float = Field(default=30.0, gt=0)
    product_codes: dict[str, str] = {}  # Salesforce product code -> Tryton product code
    max_concurrency: int = Field(default=4, ge=1)

    def missing(self) -> list[str]:
        return _empty(self, "url", "database", "user", "password")


class AmqpConnectorSettings(ConnectorBase):
    """RabbitMQ with publisher confirms (connectors/amqp.py).  ``url`` holds the password."""

    secret_fields = frozenset({"url"})

    type: Literal["amqp"]
    url: SecretStr = SecretStr("")  # amqp://user:password@host:5672/vhost
    exchange: str = ""  # "": the default exchange (routing key = queue name)
    routing_key: str | None = None  # else the action name
    routing_keys: dict[str, str] = {}  # action -> routing key
    event_types: dict[str, str] = {}  # action -> message type
    declare_exchange: str | None = None  # declare a durable exchange of this type
    timeout_s: float = Field(default=10.0, gt=0)
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if text and not text.startswith(("amqp://", "amqps://")):
            raise ValueError("url must start with amqp:// or amqps://")  # never echo it
        return value

    def missing(self) -> list[str]:
        return _empty(self, "url")


class RestAuthSettings(SecretFiles):
    """``auth`` of a REST connector: none, api_key, basic, bearer or oauth2."""

    secret_fields = frozenset({"key", "password", "token", "client_secret"})

    type: Literal["none", "api_key", "basic", "bearer", "oauth2"] = "none"
    key: SecretStr | None = None  # api_key
    header: str | None = None  # api_key (default X-API-Key)
    prefix: str | None = None  # api_key
    username: str | None = None  # basic
    password: SecretStr | None = None  # basic
    token: SecretStr | None = None  # bearer
    token_url: str | None = None  # oauth2 client credentials
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["body", "basic"] | None = None

    @model_validator(mode="after")
    def _check_kind(self) -> RestAuthSettings:
        needs = {
            "api_key": ("key",),
            "basic": ("username", "password"),
            "bearer": ("token",),
            "oauth2": ("token_url", "client_id", "client_secret"),
        }.get(self.type, ())
        absent = [k for k in needs if not reveal(getattr(self, k))]
        if absent:
            raise ValueError(f"auth type {self.type} needs {', '.join(absent)}")
        return self


class RestConnectorSettings(ConnectorBase):
    """A JSON HTTP API described by its actions (connectors/rest.py)."""

    type: Literal["rest"]
    base_url: str = ""
    timeout_s: float = Field(default=30.0, gt=0)
    headers: dict[str, str] = {}
    idempotency_header: str | None = "Idempotency-Key"
    mappings_dir: Path | None = None  # unset: the mappings Revflow uses
    auth: RestAuthSettings = RestAuthSettings()
    # action -> {method, path, body, mapping, external_id, idempotency_header, find}
    actions: dict[str, dict[str, Any]] = {}

    def supported_actions(self) -> frozenset[str] | None:
        return frozenset(self.actions)

    def missing(self) -> list[str]:
        return _empty(self, "base_url", "actions")

    def connector_options(self) -> dict[str, Any]:
        options = super().connector_options()
        options["auth"] = {k: v for k, v in reveal(self.auth.model_dump()).items() if v is not None}
        options["idempotency_header"] = self.idempotency_header  # None means: no header
        return options


class _OAuthConnector(ConnectorBase):
    """OAuth 2.0 client settings shared by NetSuite, SAP, QuickBooks and Xero."""

    secret_fields = frozenset({"client_secret", "refresh_token", "access_token"})

    client_id: str = ""
    client_secret: SecretStr | None = None
    token_url: str | None = None  # unset: the system's own token endpoint
    scope: str | None = None
    access_token: SecretStr | None = None  # a fixed token managed outside Revflow
    timeout_s: float = Field(default=30.0, gt=0)

    def _credentials(self, *alternatives: tuple[str, ...]) -> list[str]:
        """``[]`` when one alternative is complete, else what the first one lacks."""
        if any(not _empty(self, *keys) for keys in alternatives):
            return []
        return _empty(self, *alternatives[0])


class _RefreshTokenFile(_OAuthConnector):
    """A refresh token that may rotate: kept in ``refresh_token_file`` if given."""

    refresh_token: SecretStr | None = None
    # read at start; a rotated refresh token is written back to it
    refresh_token_file: Path | None = None

    def connector_options(self) -> dict[str, Any]:
        options = super().connector_options()
        options.pop("refresh_token_file", None)
        if self.refresh_token_file is not None:
            options["on_refresh_token"] = _store_refresh_token(self.refresh_token_file)
        return options


def _store_refresh_token(path: Path) -> Callable[[str], None]:
    def store(token: str) -> None:
        write_secret_file(path, token)

    return store


class NetSuiteConnectorSettings(_RefreshTokenFile):
    """NetSuite REST record API (connectors/netsuite.py).

    Tokens: the client-credentials (machine-to-machine) grant with ``client_id``,
    ``certificate_id`` and ``private_key`` (a JWT assertion signed per request for a
    token), or the authorization-code grant's ``refresh_token`` with ``client_id`` and
    ``client_secret``, or a fixed ``access_token``.
    """

    secret_fields = _OAuthConnector.secret_fields | {"private_key"}

    type: Literal["netsuite"]
    account_id: str = ""  # 1234567_SB1
    base_url: str | None = None  # else from account_id
    record_type: str = "salesOrder"
    currency_ids: dict[str, str] = {}
    certificate_id: str = ""
    private_key: SecretStr | None = None  # PEM
    algorithm: Literal["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"] = "PS256"
    scope: str | None = "rest_webservices"

    def missing(self) -> list[str]:
        where = [] if self.account_id or self.base_url else ["account_id"]
        return where + self._credentials(
            ("client_id", "certificate_id", "private_key"),
            ("client_id", "client_secret", "refresh_token"),
            ("access_token",),
        )


class SapS4ConnectorSettings(_OAuthConnector):
    """SAP S/4HANA Cloud sales orders over OData (connectors/sap_s4.py).

    Credentials: the communication user's ``username`` and ``password``, or an OAuth
    client (``token_url``, ``client_id``, ``client_secret``; client-credentials grant).
    """

    secret_fields = _OAuthConnector.secret_fields | {"password"}

    type: Literal["sap_s4"]
    base_url: str = ""
    username: str | None = None
    password: SecretStr | None = None
    sales_order_type: str = "OR"
    sales_organization: str = "1010"
    distribution_channel: str = "10"
    organization_division: str = "00"
    default_unit: str = "PC"
    price_condition_type: str | None = None
    service_path: str = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"

    def missing(self) -> list[str]:
        return _empty(self, "base_url") + self._credentials(
            ("username", "password"),
            ("token_url", "client_id", "client_secret"),
            ("access_token",),
        )


class QuickBooksConnectorSettings(_RefreshTokenFile):
    """QuickBooks Online invoices (connectors/quickbooks.py); refresh-token grant."""

    type: Literal["quickbooks"]
    realm_id: str = ""
    sandbox: bool = False
    base_url: str | None = None
    minor_version: str = "75"

    def missing(self) -> list[str]:
        return _empty(self, "realm_id") + self._credentials(
            ("client_id", "client_secret", "refresh_token"), ("access_token",)
        )


class XeroConnectorSettings(_OAuthConnector):
    """Xero invoices (connectors/xero.py); a custom connection's client credentials."""

    type: Literal["xero"]
    tenant_id: str = ""
    account_code: str = "200"
    invoice_status: str = "AUTHORISED"
    line_amount_types: str = "Exclusive"

    def missing(self) -> list[str]:
        return _empty(self, "tenant_id") + self._credentials(
            ("client_id", "client_secret"), ("access_token",)
        )


def _type_of(default: str | None) -> Callable[[Any], str | None]:
    def discriminate(value: Any) -> str | None:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return str(kind) if kind else default

    return discriminate


_TYPES = (
    Annotated[WebhookConnectorSettings, Tag("webhook")]
    | Annotated[TrytonConnectorSettings, Tag("tryton")]
    | Annotated[AmqpConnectorSettings, Tag("amqp")]
    | Annotated[RestConnectorSettings, Tag("rest")]
    | Annotated[NetSuiteConnectorSettings, Tag("netsuite")]
    | Annotated[SapS4ConnectorSettings, Tag("sap_s4")]
    | Annotated[QuickBooksConnectorSettings, Tag("quickbooks")]
    | Annotated[XeroConnectorSettings, Tag("xero")]
)
TYPE_TAGS = ("webhook", "tryton", "amqp", "rest", "netsuite", "sap_s4", "quickbooks", "xero")

MODELS: dict[str, type[ConnectorBase]] = {
    "webhook": WebhookConnectorSettings,
    "tryton": TrytonConnectorSettings,
    "amqp": AmqpConnectorSettings,
    "rest": RestConnectorSettings,
    "netsuite": NetSuiteConnectorSettings,
    "sap_s4": SapS4ConnectorSettings,
    "quickbooks": QuickBooksConnectorSettings,
    "xero": XeroConnectorSettings,
}


def setting_keys(kind: str) -> list[str]:
    """The keys a connector of type ``kind`` takes, ``<secret>_file`` ones included."""
    model = MODELS.get(kind)
    if model is None:
        return []
    files = [f"{n}_file" for n in model.secret_fields | model.secret_lists]
    return [*model.model_fields, *files]


_TYPE_ERROR = {
    "custom_error_type": "connector_type",
    "custom_error_message": f"type must be one of {', '.join(TYPE_TAGS)}",
}
# a named connector: ``type`` is required
ConnectorSettings = Annotated[_TYPES, Discriminator(_type_of(None), **_TYPE_ERROR)]
# the ``erp`` section: ``webhook`` when no type is given (REVFLOW_ERP__URL alone)
ErpSettings = Annotated[_TYPES, Discriminator(_type_of("webhook"), **_TYPE_ERROR)]
