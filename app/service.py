"""The Revflow service: wires the database, Salesforce, connectors and the loops.

``Revflow`` runs the same parts for ``revflow run`` and ``revflow demo``: the event
consumer, intake, the step worker, the write-back flusher and (optionally) the API.
With ``steps_only`` it runs the step worker's loops alone: the extra processes of
``revflow run --workers N`` and ``revflow worker`` (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import uvicorn

from revflow.aio import Beat
from revflow.alerts import runtime as alert_runtime
from revflow.alerts.channels.registry import build_channels
from revflow.alerts.delivery import AlertDeliverer
from revflow.alerts.owners import OrgOwners
from revflow.api.app import create_app
from revflow.api.health import incidents_check, lease_check, loops_check
from revflow.api.serving import server_config
from revflow.comments.mirror import ChatterMirror
from revflow.config import ConfigError, Settings
from revflow.config_quotes import channel_problem
from revflow.connector_settings import RestConnectorSettings, WebhookConnectorSettings
from revflow.connectors.base import Connector
from revflow.connectors.registry import build_connector
from revflow.console.order_reader import order_reader
from revflow.db.database import Database
from revflow.db.engine import is_sqlite
from revflow.db.notify import Listener
from revflow.incidents import is_permanent
from revflow.ingest.consumer import EventConsumer
from revflow.ingest.leases import ChannelLeases
from revflow.ingest.reconcile import Reconciler
from revflow.ingest.singleton import INTAKE_LEASE, WRITEBACK_LEASE, leased
from revflow.mapping import Mapping as CompiledMapping
from revflow.mapping.store import MappingStore
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.intake import Intake
from revflow.orchestration.quotes import QuoteIntake
from revflow.orchestration.worker import Worker
from revflow.org_guard import OrgGuard
from revflow.plans.definitions import PlanDefinition, StepKind, order_fulfillment
from revflow.plans.files import load_plan_file
from revflow.resources import shipped
from revflow.retention.loop import RetentionLoop
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.budget import ApiBudget
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.org_check import OrgShape
from revflow.salesforce.pacing import pacer_for
from revflow.salesforce.writeback import WritebackFlusher
from revflow.security.oidc.provider import OidcProvider
from revflow.supervisor import Supervisor, backoff_for
from revflow.vault import configure as configure_vault
from revflow.vault.refresh_tokens import bind_refresh_tokens
from revflow.webhooks.endpoints import DisablePolicy
from revflow.webhooks.guard import EndpointGuard
from revflow.webhooks.policy import default_retry_policy

log = logging.getLogger("revflow")

# The loops a steps-only process runs.  Each claims with a lease taken under
# FOR UPDATE SKIP LOCKED, so any number of processes share the steps without running
# one twice.  Intake and reconcile (one lease between them), the consumer (one lease
# per channel), the write-back (coalesces per record), waits, jeopardy and alerts stay
# in ``revflow run``.
STEP_LOOPS = ("listener", "worker", "worker_commits", "worker_leases")


def plan_definition(settings: Settings, mappings: set[str] | None = None) -> PlanDefinition:
    """The configured plan file (its connectors and actions checked against the
    configured ones), or the built-in order_fulfillment plan."""
    retry = default_retry_policy(settings)  # the webhook schedule, or the worker's backoff
    if settings.plan_file is not None:
        definition = load_plan_file(
            settings.plan_file,
            mappings=mappings,
            connectors=settings.connector_actions(),
            default_retry=retry,
        )
        _check_source(definition, "Order", "REVFLOW_PLAN_FILE")
        return definition
    return order_fulfillment(settings.order_mapping, settings.invoice_mapping, retry)


QUOTE_PLAN = "quote_to_erp.yaml"  # the shipped Quote plan


def quote_plan_definition(
    settings: Settings, mappings: set[str] | None = None
) -> PlanDefinition | None:
    """The Quote plan (``REVFLOW_QUOTES__PLAN_FILE``, else the shipped one), or None
    when Quotes are not orchestrated.  ConfigError when the settings cannot work."""
    if not settings.quotes.enabled:
        return None
    problem = channel_problem(settings.quotes, settings.ingest)
    if problem:
        raise ConfigError(problem)
    definition = load_plan_file(
        settings.quotes.plan_file or shipped("plans") / QUOTE_PLAN,
        mappings=mappings,
        connectors=settings.connector_actions(),
        default_retry=default_retry_policy(settings),
    )
    _check_source(definition, "Quote", "REVFLOW_QUOTES__PLAN_FILE")
    return definition


def _check_source(definition: PlanDefinition, source: str, setting: str) -> None:
    if definition.source != source:
        raise ConfigError(
            f"invalid setting {setting}: {definition.file} is a plan for "
            f"{definition.source}s (source: {definition.source}), not {source}s"
        )


def build_connectors(
    settings: Settings, db: Database, http: httpx.AsyncClient
) -> tuple[dict[str, Connector], dict[str, str]]:
    """Every configured connector by name, and the webhook ones' URLs.

    Webhook connectors are guarded: disabled on 410 or persistent failure, their
    messages parked (app/webhooks).
    """
    policy = DisablePolicy(
        settings.webhooks.disable_after_s, settings.webhooks.disable_after_failures
    )
    connectors: dict[str, Connector] = {}
    webhooks: dict[str, str] = {}
    for name, options in settings.all_connectors().items():
        values = options.connector_options()
        if isinstance(options, RestConnectorSettings) and options.mappings_dir is None:
            values["mappings_dir"] = settings.mappings_dir
        # a webhook keeps its own pool (aiohttp, connectors/aiohttp_pool.py): the
        # shared httpx pool costs it more CPU than the whole rest of a callout
        shared = None if isinstance(options, WebhookConnectorSettings) else http
        try:
            connector = build_connector(name, values, http_client=shared)
        except ValueError as exc:  # the builders name the connector and the problem
            raise ConfigError(str(exc)) from None
        if isinstance(options, WebhookConnectorSettings):
            connector = EndpointGuard(connector, db, name=name, url=options.url, policy=policy)
            webhooks[name] = options.url
        connectors[name] = connector
    return connectors, webhooks


def _check_plan_connectors(definition: PlanDefinition, configured: set[str]) -> None:
    """Refuse to start a plan that sends to a connector that is not configured."""
    used = {
        s.connector
        for s in (*definition.steps, *definition.compensations)
        if s.kind is StepKind.CALLOUT and s.connector
    }
    if used - configured:
        raise ConfigError(
            f"plan {definition.name!r} sends to connector(s) {', '.join(sorted(used - configured))}"
            f" that are not configured (configured: {', '.join(sorted(configured)) or 'none'}; "
            "REVFLOW_ERP__* is the connector named erp)"
        )


class Revflow:
    def __init__(
        self,
        settings: Settings,
        *,
        connectors: Mapping[str, Connector] | None = None,
        serve_api: bool = True,
        steps_only: bool = False,
    ) -> None:
        """``steps_only``: run only ``STEP_LOOPS`` (no API, no org check at start)."""
        self.settings = settings
        self.steps_only = steps_only
        self.keyring = configure_vault(settings)  # before anything reads an encrypted column
        pool = {"pool_size": settings.database_pool_size}
        pool["max_overflow"] = settings.database_max_overflow
        self.db = Database(
            settings.database_url, **({} if is_sqlite(settings.database_url) else pool)
        )
        self.http = httpx.AsyncClient(
            timeout=settings.salesforce.timeout_s, limits=httpx.Limits(max_connections=50)
        )
        self.tokens = TokenProvider(settings.salesforce, self.http)
        self.salesforce = SalesforceClient(
            self.tokens,
            settings.salesforce.api_version,
            settings.salesforce.call_options_client,
            http=self.http,
            budget=ApiBudget(
                settings.salesforce.api_budget_share, pacer=pacer_for(settings.salesforce)
            ),
        )
        # alert rules (REVFLOW_ALERTS__RULES_FILE), read by raise_alert in every transaction
        self.alert_runtime = alert_runtime.configure(settings.alerts, settings.console)
        self.alerts = AlertDeliverer(
            self.db,
            build_channels(settings.alerts, http=self.http, salesforce=self.salesforce),
            settings.alerts,
            owners=OrgOwners(
                self.salesforce, settings.alerts.owner_cache_s, permanent=is_permanent
            ),
            runtime=self.alert_runtime,
        )  # its loops are given once the supervisor exists (below)
        self.mapping_store = MappingStore(settings.mappings_dir)  # hot-reloaded, see start()
        self.mappings: dict[str, CompiledMapping] = self.mapping_store.current()
        self.definition = plan_definition(settings, set(self.mappings))
        self.quote_definition = quote_plan_definition(settings, set(self.mappings))
        definitions = {self.definition.name: self.definition}
        if self.quote_definition is not None:
            definitions[self.quote_definition.name] = self.quote_definition
        for definition in definitions.values():
            _check_plan_connectors(
                definition,
                set(connectors if connectors is not None else settings.all_connectors()),
            )
        # webhook endpoints (name -> URL): disabled on 410 or persistent failure
        self.webhooks: dict[str, str] = {}
        if connectors is None:
            self.connectors, self.webhooks = build_connectors(settings, self.db, self.http)
        else:
            self.connectors = dict(connectors)
        timeouts = {n: c.timeout_s for n, c in settings.all_connectors().items()}
        self.worker = Worker(
            self.db,
            StepExecutor(self.connectors, settings.erp.timeout_s, timeouts),
            definitions,
            settings.writeback,
            concurrency=settings.worker.concurrency,
            lease_s=settings.worker.lease_s,
            poll_interval_s=settings.worker.poll_interval_s,
            idle_poll_s=settings.worker.idle_poll_s,
            listener=None if self.db.is_sqlite else Listener(self.db.engine),
            jeopardy_sweep_s=settings.worker.jeopardy_sweep_s,
        )
        self.intake = Intake(
            self.db,
            self.salesforce,
            settings,
            self.definition,
            self.mapping_store.current,
            on_plans=self.worker.wakeup.set,
        )
        if self.quote_definition is not None:
            self.intake.quotes = QuoteIntake(
                self.db,
                self.salesforce,
                settings,
                self.quote_definition,
                self.mapping_store.current,
                self.intake.lookups,
            )
        used = [m for d in definitions.values() for m in d.mappings]
        self.org_guard = OrgGuard(  # the org has what Revflow and the mappings read
            self.db, self.salesforce, settings, used, self._org_shape
        )
        self.reconciler = Reconciler(self.db, self.salesforce, settings, self.intake)
        self.consumer = EventConsumer(
            self.db,
            self.tokens,
            settings,
            on_event=self.intake.wakeup.set,
            reconciler=self.reconciler,
        )
        # intake and reconcile run in the one process holding this (docs/scaling.md)
        self.intake_lease = ChannelLeases(
            self.db, self.consumer.owner, [INTAKE_LEASE], settings.ingest.lease_s
        )
        self.writeback_lease = ChannelLeases(
            self.db, self.consumer.owner, [WRITEBACK_LEASE], settings.ingest.lease_s
        )
        self.flusher = WritebackFlusher(
            self.db,
            self.salesforce,
            interval_s=settings.writeback.flush_interval_s,
            batch_size=settings.writeback.batch_size,
            lease_s=settings.writeback.lease_s,
            max_delay_s=settings.writeback.max_delay_s,
            status_field=settings.writeback.status_field,
            error_field=settings.writeback.error_field or None,
            writeback=settings.writeback,  # an Order's fields, or a Quote's
        )
        sup = settings.supervisor
        self.supervisor = Supervisor(backoff_for(sup), stale_after_s=sup.stale_after_s)
        self.alerts.loops = self.supervisor
        if steps_only:
            for name, (loop, interval_s) in self.worker.loops().items():
                if name in STEP_LOOPS:
                    self.supervisor.add(name, loop, interval_s=interval_s)
        else:
            self._supervise()
        self.serve_api = serve_api and not steps_only
        self.api = create_app(
            self.db,
            settings.writeback,
            callbacks=settings.callbacks,
            salesforce=settings.salesforce,
            webhooks=self.webhooks,
            max_body_bytes=settings.api_max_body_bytes,
            readiness=[
                loops_check(self.supervisor),
                incidents_check(self.db),
                lease_check(self.intake_lease, self.writeback_lease),
            ],
            security=settings.security,
            keyring=self.keyring,
            oidc=OidcProvider(settings.oidc) if settings.oidc.enabled else None,
            http=settings.http,
            comments=settings.comments,
            alerts=settings.alerts,
            mappings_dir=settings.mappings_dir,
            fetch_order=order_reader(self.intake),
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: uvicorn.Server | None = None

    def _supervise(self) -> None:
        """Every long-running loop, by name, with the interval it makes progress in."""
        s, add = self.settings, self.supervisor.add
        if s.ingest.transport != "polling":  # polling: no stream, the sweep is the intake
            add("consumer", self.consumer.run, interval_s=s.ingest.lease_s / 3)
        add(
            "intake",
            leased(self.intake_lease, "intake", self.intake.run),
            interval_s=s.ingest.poll_interval_s,
        )
        for name, (loop, interval_s) in self.worker.loops().items():
            add(name, loop, interval_s=interval_s)  # claims, commits, leases, waits, jeopardy
        flush = leased(self.writeback_lease, "writeback", self.flusher.run)
        add("writeback", flush, interval_s=s.writeback.flush_interval_s)

        async def sync_budget(stop: asyncio.Event, beat: Beat) -> None:
            # in every process: the flusher, which syncs too, runs in one only
            await self.salesforce.budget.run(self.db, stop, beat)

        add("api_budget", sync_budget, interval_s=self.salesforce.budget.sync_interval_s)
        if s.reconcile.enabled or s.ingest.transport == "polling":
            sweep = leased(self.intake_lease, "reconcile", self.reconciler.run)
            add("reconcile", sweep, interval_s=self.reconciler.interval_s)

        async def watch_mappings(stop: asyncio.Event, beat: Beat) -> None:
            await self.mapping_store.watch(stop, beat=beat, check=self.org_guard.on_reload)

        add("mappings", watch_mappings, interval_s=2.0)
        if self.alert_runtime is not None:
            add("alerts", self.alerts.run, interval_s=s.alerts.poll_interval_s)
        if s.comments.mirror_to_chatter:
            mirror = ChatterMirror(self.db, self.salesforce, s.comments, s.console)
            add("chatter-mirror", mirror.run, interval_s=s.comments.mirror_interval_s)
        if s.retention.payloads_days is not None:
            add(
                "retention",
                RetentionLoop(self.db, s.retention).run,
                interval_s=s.retention.interval_s,
            )

    def _org_shape(self, shape: OrgShape) -> None:
        self.intake.org_currency = shape.currency
        if self.intake.quotes is not None:
            self.intake.quotes.org_currency = shape.currency

    async def start(self) -> None:
        """Check the org (``OrgCheckError`` when it lacks a field), then start the loops."""
        if not self.steps_only:  # the main process checks the org (and spends the calls)
            await self.org_guard.at_start(self.mappings)
        await bind_refresh_tokens(  # rotated OAuth refresh tokens survive restarts
            self.db, self.connectors, keyring_configured=self.keyring is not None
        )
        self._tasks.extend(self.supervisor.start(self._stop))
        if self.serve_api:
            s = self.settings
            config = server_config(self.api, s.api_host, s.api_port, s.http)
            self._server = uvicorn.Server(config)
            self._tasks.append(asyncio.create_task(self._server.serve(), name="api"))
        log.info(
            "revflow started",
            extra={"database": self.db.url.split("@")[-1], "steps_only": self.steps_only},
        )

    async def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
        done, pending = await asyncio.wait(self._tasks, timeout=10) if self._tasks else ((), ())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for connector in self.connectors.values():
            await connector.aclose()
        await self.http.aclose()
        await self.db.dispose()

    async def run_forever(self) -> None:
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()
            # how the work was shared between processes (docs/scaling.md)
            log.info(
                "revflow stopped",
                extra={"steps_executed": self.worker.executed, "steps_only": self.steps_only},
            )

    def request_stop(self) -> None:
        self._stop.set()
