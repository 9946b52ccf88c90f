"""The sections of Revflow's settings that the service's own loops read: Salesforce,
ingest, reconcile, write-back, callbacks, webhooks, the step worker, the supervisor.

``revflow.config`` assembles them into ``Settings`` and re-exports them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    model_validator,
)

from revflow.config_quotes import QuoteWriteback
from revflow.config_types import ConfigError as ConfigError  # re-exported
from revflow.config_types import Section as _Section
from revflow.config_types import WebhookSecret as WebhookSecret
from revflow.config_types import reveal as reveal
from revflow.connector_settings import TrytonConnectorSettings as TrytonConnectorSettings
from revflow.connector_settings import WebhookConnectorSettings as WebhookConnectorSettings


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
