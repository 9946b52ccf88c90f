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
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    SecretStr,
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
from revflow.config_quotes import QuoteSettings, QuoteWriteback
from revflow.config_types import ConfigError as ConfigError  # re-exported
from revflow.config_types import Section as _Section
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


class AuthFlow(StrEnum):
    JWT = "jwt"
    CLIENT_CREDENTIALS = "client_credentials"


class SalesforceSettings(_Section):
    """The Salesforce org Revflow talks to."""

    instance_url: str = ""
    login_url: str = "https://login.salesforce.com"
    api_version: str = Field(default="62.0", pattern=r"^\d{2}\.0$")
    auth: AuthFlow = AuthFlow.JWT
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    username: str = ""
    private_key_file: Path | None = None
    private_key: SecretStr = SecretStr("")
    call_options_client: str = "revflow"
    integration_user_id: str = ""
    timeout_s: float = 30.0
    # the share of the org's daily API allocation (Sforce-Limit-Info M) Revflow's own
    # calls may use; beyond it non-urgent work (write-back, sweeps, lookups) pauses
    api_budget_share: float = Field(default=0.5, gt=0, le=1)
    # a single-currency org's currency, when getUserInfo (SOAP) may not be asked for it
    org_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    # how often a read that failed with an error waiting will not fix (INVALID_FIELD,
    # INSUFFICIENT_ACCESS...) is tried again while its incident is open
    incident_retry_s: float = Field(default=300.0, gt=0)
    # call pacing (salesforce/pacing.py): order reads and write-back calls are earned at
    # this many calls per activated order, plus one call per pacing_refill_s, up to
    # pacing_burst calls; a part-full read or write waits for a call's credit, at most
    # pacing_max_wait_s (longer as the budget runs low).  0 turns pacing off: then
    # ingest.batch_delay_s and writeback.max_delay_s decide the waits, as before
    calls_per_order: float = Field(default=0.07, ge=0, le=10)
    pacing_burst: float = Field(default=5.0, ge=1)
    pacing_refill_s: float = Field(default=120.0, gt=0)
    pacing_max_wait_s: float = Field(default=30.0, gt=0)
    # the rates shrink once Revflow has used this share of its budget (to 0.1x at 1.0)
    pacing_tighten_from: float = Field(default=0.5, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_auth(self) -> SalesforceSettings:
        if not self.client_id:
            return self  # not configured; `require_org` reports it when needed
        if self.auth is AuthFlow.JWT:
            if not self.username:
                raise ValueError("username is required for the JWT bearer flow")
            if not (self.private_key.get_secret_value() or self.private_key_file):
                raise ValueError("private_key or private_key_file is required for the JWT flow")
            if self.private_key_file and not self.private_key_file.is_file():
                raise ValueError(f"private_key_file {self.private_key_file} does not exist")
        elif not self.client_secret.get_secret_value():
            raise ValueError("client_secret is required for the client-credentials flow")
        return self

    def key_pem(self) -> str:
        if self.private_key.get_secret_value():
            return self.private_key.get_secret_value()
        assert self.private_key_file is not None
        return self.private_key_file.read_text()


class IngestSettings(_Section):
    """Which events Revflow listens to and how.

    ``transport``: ``pubsub`` (gRPC Pub/Sub API), ``cometd`` (Streaming API), or
    ``polling`` for orgs without Change Data Capture (the reconciliation sweep alone).
    """

    transport: Literal["cometd", "pubsub", "polling"] = "cometd"
    pubsub_endpoint: str = "api.pubsub.salesforce.com:7443"
    pubsub_tls: bool = True
    # skip change events whose changed fields are only Revflow's own write-back fields
    echo_by_fields: bool = True
    lease_s: float = Field(default=15.0, gt=0)
    # platform-event channel -> field holding the key that waiting plan steps match on
    correlation_fields: dict[str, str] = {
        "/event/Fulfillment_Callback__e": "Correlation_Key__c",
        "/event/Order_Status__e": "Order_Id__c",
    }
    channels: list[str] = ["/data/OrderChangeEvent"]
    # where a channel with no stored replay id starts: the tip (Salesforce's default)
    # or every retained event (72 h); later starts always resume from the database
    initial_replay: Literal["latest", "earliest"] = "latest"
    batch_size: int = Field(default=200, ge=1, le=2000)
    poll_interval_s: float = Field(default=0.2, gt=0)
    # unpaced (salesforce.calls_per_order 0): intake waits until a batch is full or its
    # oldest event is this old: fewer, fuller order queries (up to 200 ids each) for that
    # much latency; 0 reads at once.  Paced (the default), the pacer decides instead
    batch_delay_s: float = Field(default=0.0, ge=0, le=60)


class ReconcileSettings(_Section):
    """The SystemModstamp sweep that catches what the stream missed."""

    enabled: bool = True
    interval_s: float = Field(default=300.0, gt=0)  # polling mode uses ingest.poll_interval_s
    lookback_s: float = Field(default=72 * 3600.0, gt=0)  # first sweep: how far back
    skew_s: float = Field(default=60.0, ge=0)  # read a little before the cursor


class WritebackSettings(_Section):
    """The Salesforce fields Revflow writes back, and how often."""

    status_field: str = "Fulfillment_Status__c"
    erp_number_field: str = "ERP_Order_Number__c"
    error_field: str = "Fulfillment_Error__c"
    # the plan's due date: this Order field, else EffectiveDate (a date means its end, UTC)
    due_date_field: str = "EndDate"
    # on_time | at_risk | late (the picklist's API names); "" writes no jeopardy
    jeopardy_field: str = "Fulfillment_Jeopardy__c"
    # the link to the plan's console page (written when console.public_url is set)
    plan_url_field: str = "Revflow_Plan_URL__c"
    # at risk when the expected finish is within max(margin_s, share × expected total)
    jeopardy_margin_share: float = Field(default=0.2, ge=0, le=1)
    jeopardy_margin_s: float = Field(default=0.0, ge=0)
    # how often the flusher looks for due items (a cheap query; the pacer decides sends)
    flush_interval_s: float = Field(default=0.25, gt=0)
    # unpaced (salesforce.calls_per_order 0): a flush waits (up to this long after the
    # oldest item) until a full call of batch_size records is due, so an Order's changes
    # coalesce; 0 sends every interval.  Paced (the default), the pacer decides instead
    max_delay_s: float = Field(default=2.0, ge=0)
    lease_s: float = Field(default=30.0, gt=0)  # claimed items return to others after this
    batch_size: int = Field(default=200, ge=1, le=200)
    # create a ProcessException on the Order when a step fails fatally (plan on hold)
    process_exceptions: bool = False
    process_exception_category: str = "Fulfillment"
    process_exception_severity: str = "High"
    process_exception_priority: str = "High"
    # plan state (or "<step key>.<step state>") -> Order status value
    status_map: dict[str, str] = {
        "in_progress": "In Progress",
        "on_hold": "On Hold",
        "completed": "Completed",
        "cancelled": "Cancelled",
        "failed": "Failed",
    }
    quote: QuoteWriteback = QuoteWriteback()  # the Quote's fields (REVFLOW_WRITEBACK__QUOTE__*)


class CallbackSettings(_Section):
    """Inbound ERP callbacks (``POST /api/callbacks/{source}``, Standard Webhooks).

    ``secrets`` verify every source; ``source_secrets`` replaces them for one source
    (``{"sap": ["whsec_..."]}``).  Several secrets may be listed during rotation.
    ``tolerance_s`` bounds the ``webhook-timestamp`` skew in both directions.
    """

    secrets: list[WebhookSecret] = []
    source_secrets: dict[str, list[WebhookSecret]] = {}
    tolerance_s: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1_000_000, ge=1)

    def secrets_for(self, source: str) -> list[str]:
        return reveal(list(self.source_secrets.get(source, self.secrets)))  # type: ignore[no-any-return]


class WebhookSettings(_Section):
    """Webhook deliveries: the retry schedule and when an endpoint is disabled.

    ``retry_schedule``: seconds to wait after each failed attempt (Svix's: 5 s, 5 min,
    30 min, 2 h, 5 h, 10 h, 10 h), with +/- ``retry_jitter``; it is the default policy
    of webhook callout steps unless the worker's retry settings are set (or ``[]``).
    An endpoint is disabled at once on 410, after failing for ``disable_after_s``
    without a success in between, or after ``disable_after_failures`` failed attempts
    in a row (0: off).
    """

    retry_schedule: list[float] = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    retry_jitter: float = Field(default=0.2, ge=0, le=1)
    disable_after_s: float = Field(default=5 * 86400.0, gt=0)
    disable_after_failures: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_schedule(self) -> WebhookSettings:
        if any(d < 0 for d in self.retry_schedule):
            raise ValueError("retry_schedule delays must be >= 0")
        return self


class WorkerSettings(_Section):
    """The step worker."""

    concurrency: int = Field(default=32, ge=1)
    lease_s: float = Field(default=30.0, gt=0)
    poll_interval_s: float = Field(default=0.1, gt=0)  # SQLite, or no notifications
    # PostgreSQL: woken by LISTEN/NOTIFY; polls this often anyway (and at retries' due time)
    idle_poll_s: float = Field(default=2.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    initial_interval_s: float = Field(default=0.5, gt=0)
    backoff_coefficient: float = Field(default=2.0, ge=1)
    maximum_interval_s: float = Field(default=300.0, gt=0)
    jeopardy_sweep_s: float = Field(default=60.0, gt=0)  # re-check open plans' jeopardy


class SupervisorSettings(_Section):
    """Restarts of failed loops (backoff with jitter) and when a silent loop counts as stale."""

    initial_interval_s: float = Field(default=0.5, gt=0)
    backoff_coefficient: float = Field(default=2.0, ge=1)
    maximum_interval_s: float = Field(default=30.0, gt=0)
    jitter: float = Field(default=0.2, ge=0, lt=1)
    # a loop without progress for max(stale_after_s, 3 x its interval) makes /readyz 503
    stale_after_s: float = Field(default=30.0, gt=0)


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
