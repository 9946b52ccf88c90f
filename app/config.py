"""Revflow's settings: ``REVFLOW_*`` environment variables and an optional config file.

Nested settings use ``__`` in variable names (``REVFLOW_SALESFORCE__INSTANCE_URL``).
A YAML or TOML file named by ``REVFLOW_CONFIG_FILE`` (or ``--config``) supplies
defaults; the environment wins over the file.  ``load_settings`` turns every
problem into one ``ConfigError`` that names the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

from revflow.alerts.settings import AlertSettings
from revflow.api.http_settings import HttpSettings
from revflow.comments.settings import CommentSettings
from revflow.config_names import (
    connector_hint,
    env_name,
    extra_hint,
    setting_loc,
    unknown_variables,
)
from revflow.config_quotes import QuoteSettings
from revflow.config_sections import AuthFlow as AuthFlow
from revflow.config_sections import CallbackSettings as CallbackSettings
from revflow.config_sections import IngestSettings as IngestSettings
from revflow.config_sections import ReconcileSettings as ReconcileSettings
from revflow.config_sections import SalesforceSettings as SalesforceSettings
from revflow.config_sections import SupervisorSettings as SupervisorSettings
from revflow.config_sections import WebhookSettings as WebhookSettings
from revflow.config_sections import WorkerSettings as WorkerSettings
from revflow.config_sections import WritebackSettings as WritebackSettings
from revflow.config_types import ConfigError as ConfigError  # re-exported
from revflow.config_types import WebhookSecret as WebhookSecret
from revflow.config_types import reveal as reveal
from revflow.connector_settings import (
    CONNECTOR_NAME,
    ConnectorSettings,
    ErpSettings,
)
from revflow.connector_settings import TrytonConnectorSettings as TrytonConnectorSettings
from revflow.connector_settings import WebhookConnectorSettings as WebhookConnectorSettings
from revflow.links import ConsoleSettings
from revflow.resources import default_mappings_dir
from revflow.retention.settings import RetentionSettings
from revflow.security.keyring import KeyringSettings
from revflow.security.oidc.settings import OidcSettings
from revflow.security.settings import SecuritySettings

ENV_PREFIX = "REVFLOW_"


class Settings(BaseSettings):
    """All of Revflow's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    # a str (many modules take it), shown without its password by repr() and dumps
    database_url: str = Field(default="sqlite+aiosqlite:///revflow.sqlite", repr=False)
    # default: ./mappings if there is one, else the mappings the package ships
    mappings_dir: Path = Field(default_factory=default_mappings_dir)
    # a plan definition file (plans/*.yaml); unset: the built-in order_fulfillment plan
    plan_file: Path | None = None
    order_mapping: str = "order_to_sales_order"
    invoice_mapping: str = "order_to_invoice"
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    # operator API requests with a larger body get 413 before they are read
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # how long `revflow run` / `db upgrade` wait for an unreachable database at start
    database_wait_s: float = Field(default=30.0, ge=0)
    # PostgreSQL connections per process: pool_size kept open, max_overflow more at peaks
    # (every process's sum must stay under the server's max_connections: docs/scaling.md)
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=20, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    salesforce: SalesforceSettings = SalesforceSettings()
    ingest: IngestSettings = IngestSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    writeback: WritebackSettings = WritebackSettings()
    erp: ErpSettings = WebhookConnectorSettings()
    # named connectors (REVFLOW_CONNECTORS__<NAME>__TYPE=...); plans name them
    connectors: dict[str, ConnectorSettings] = {}
    worker: WorkerSettings = WorkerSettings()
    callbacks: CallbackSettings = CallbackSettings()
    webhooks: WebhookSettings = WebhookSettings()
    supervisor: SupervisorSettings = SupervisorSettings()
    console: ConsoleSettings = ConsoleSettings()
    security: SecuritySettings = SecuritySettings()
    http: HttpSettings = HttpSettings()
    keyring: KeyringSettings = KeyringSettings()
    oidc: OidcSettings = OidcSettings()
    retention: RetentionSettings = RetentionSettings()
    quotes: QuoteSettings = QuoteSettings()
    alerts: AlertSettings = AlertSettings()
    comments: CommentSettings = CommentSettings()

    def __repr_args__(self) -> Any:
        from revflow.db.engine import hide_password

        yield "database_url", hide_password(self.database_url)
        yield from super().__repr_args__()

    @field_serializer("database_url", when_used="json")
    def _hide_database_password(self, url: str) -> str:
        from revflow.db.engine import hide_password

        return hide_password(url)

    @field_validator("connectors")
    @classmethod
    def _check_connector_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not CONNECTOR_NAME.match(name):
                raise ValueError(f"connector name {name!r} is not [a-z][a-z0-9_]{{0,31}}")
        return value

    @model_validator(mode="after")
    def _erp_once(self) -> Settings:
        if "erp" in self.connectors and "erp" in self.model_fields_set:
            raise ValueError("connector 'erp' is set twice: in erp and in connectors.erp")
        return self

    def all_connectors(self) -> dict[str, ConnectorSettings]:
        """Every configured connector by name.

        The ``erp`` section is the connector named erp when it is set, or when no
        ``connectors`` are (Revflow's one connector before named connectors).
        """
        found: dict[str, ConnectorSettings] = {}
        if "erp" in self.model_fields_set or not self.connectors:  # the ERP_* settings
            found["erp"] = self.erp
        found.update(self.connectors)
        return found

    def connector_actions(self) -> dict[str, frozenset[str] | None]:
        """Connector name -> the actions it performs (None: any), for ``plans lint``."""
        return {name: c.supported_actions() for name, c in self.all_connectors().items()}

    def missing_connector_settings(self, names: Iterable[str] | None = None) -> list[str]:
        """The variable names of the settings connectors ``names`` (default: all) lack."""
        found = self.all_connectors()
        out = []
        for name in found if names is None else names:
            if name in found:
                loc = (
                    ("erp",)
                    if name == "erp" and "erp" not in self.connectors
                    else ("connectors", name)
                )
                out += [env_name(ENV_PREFIX, (*loc, key)) for key in found[name].missing()]
        return out

    def require_org(self, connectors: Iterable[str] | None = None) -> None:
        """Fail unless an org and the connectors are configured (for ``revflow run``).

        ``connectors``: the ones the plan uses (default: every configured one).
        """
        missing = [
            name
            for name, value in (
                ("REVFLOW_SALESFORCE__INSTANCE_URL", self.salesforce.instance_url),
                ("REVFLOW_SALESFORCE__CLIENT_ID", self.salesforce.client_id),
            )
            if not value
        ] + self.missing_connector_settings(connectors)
        if missing:
            hint = " (a JSON list of whsec_ secrets)" if missing[0].endswith("__SECRETS") else ""
            raise ConfigError(f"missing setting {missing[0]}{hint}" + _also(missing[1:]))


def _also(rest: list[str]) -> str:
    return f" (also missing: {', '.join(rest)})" if rest else ""


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} (REVFLOW_CONFIG_FILE) does not exist")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text())
        else:
            data = yaml.safe_load(path.read_text()) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    return data


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Read settings from the file (if any), the environment and ``overrides``."""
    unknown = unknown_variables(os.environ, ENV_PREFIX, Settings)
    if unknown:
        name, hint = unknown[0]
        raise ConfigError(f"unknown setting {name}{hint}")
    path = config_file or os.environ.get(ENV_PREFIX + "CONFIG_FILE")
    file_values = _read_file(Path(path)) if path else {}
    where = f" in {path}" if path else ""
    merged: dict[str, Any] = {}
    try:
        # one validation of file < environment < overrides, merged section by section,
        # so a connector's type may sit in the file and its secret in the environment
        env_values = EnvSettingsSource(Settings)()
        merged = _deep_merge(_deep_merge(file_values, env_values), overrides)
        return Settings.model_validate(merged)
    except SettingsError as exc:
        raise ConfigError(f"invalid setting: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = setting_loc(tuple(p for p in err["loc"] if p != "__root__"))
        if err["type"] == "extra_forbidden":
            hint = connector_hint(merged, loc, ENV_PREFIX) or extra_hint(Settings, loc, ENV_PREFIX)
            raise ConfigError(f"unknown setting {env_name(ENV_PREFIX, loc)}{where}{hint}") from None
        msg = err["msg"]
        raise ConfigError(f"invalid setting {env_name(ENV_PREFIX, loc)}{where}: {msg}") from None


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
