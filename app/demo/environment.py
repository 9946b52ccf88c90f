"""``DemoEnvironment``: a sandbox org, a sandbox ERP (or Tryton) and Revflow, wired
together on free loopback ports.  The end-to-end tests and the benchmarks use it too.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from revflow.config import Settings, load_settings
from revflow.config_quotes import QUOTE_CHANNELS
from revflow.connectors.signing import generate_secret
from revflow.db.engine import is_sqlite
from revflow.db.migrate import upgrade
from revflow.demo.catalog import DEMO_APP, PRODUCTS, REVFLOW_APP
from revflow.demo.chaos import Chaos
from revflow.demo.outcomes import OrderOutcomes
from revflow.demo.quotes import DemoQuotes
from revflow.demo.systems import DEFAULT_AMQP_URL, ExtraSystems, plan_connectors, resolve_plan
from revflow.process import RevflowProcess
from revflow.resources import shipped
from revflow.sandbox.erp import SandboxErp
from revflow.sandbox.inbox import ChatInbox, MailSink, mail_sink_available
from revflow.sandbox.keys import generate_keypair, write_private_file
from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.server import RunningServer, start_erp, start_inbox, start_org
from revflow.sandbox.tcp_proxy import TcpProxy
from revflow.service import Revflow

if TYPE_CHECKING:
    from revflow.sandbox.tryton import TrytonServer


class DemoEnvironment(DemoQuotes, OrderOutcomes, Chaos, ExtraSystems):
    """Sandbox org + sandbox ERP + Revflow, wired together on loopback.

    ``plan``: a shipped plan's name or a plan file to run instead of the built-in plan;
    the systems behind the connectors it names are started too (app/demo/systems.py).
    """

    def __init__(
        self,
        *,
        database_url: str | None = None,
        erp_fail_share: float = 0.0,
        erp_fail_first_attempts: bool = False,
        seed: int | None = None,
        settings_overrides: dict[str, Any] | None = None,
        serve_api: bool = False,
        transport: str = "cometd",
        separate_process: bool = False,
        erp: str = "sandbox",
        database_proxy: bool = False,
        single_currency: str | None = None,
        quotes: bool = False,
        plan: str | None = None,
        amqp_url: str = DEFAULT_AMQP_URL,
        alerts: bool = False,
        workers: int = 1,
    ) -> None:
        """``database_proxy``: Revflow reaches PostgreSQL through a ``TcpProxy``
        (``self.proxy``) that tests and the chaos demo cut to make database outages.
        ``quotes``: Revflow orchestrates Quotes too (the shipped Quote plan).
        ``alerts``: the shipped alert rules, sending email to an SMTP sink
        (``self.mail``), Slack messages to a Slack-style webhook (``self.inbox``) and
        custom notifications to the sandbox org (``org.notifications``).
        ``workers``: with ``separate_process``, ``revflow run --workers N``."""
        if erp not in ("sandbox", "tryton"):
            raise ValueError(f"erp must be sandbox or tryton, not {erp!r}")
        self.erp_kind = erp
        self.plan_path = resolve_plan(plan) if plan else None
        self.plan_connectors = plan_connectors(self.plan_path) if self.plan_path else []
        self.amqp_url = amqp_url
        self.seed = seed
        self.tryton: TrytonServer | None = None  # a real Tryton server, with erp="tryton"
        self._tmp = tempfile.TemporaryDirectory(prefix="revflow-demo-")
        self.database_url = database_url or f"sqlite+aiosqlite:///{self._tmp.name}/demo.sqlite"
        if database_proxy and is_sqlite(self.database_url):
            raise ValueError("a database proxy needs a PostgreSQL database, not SQLite")
        self.proxy = TcpProxy.for_url(self.database_url) if database_proxy else None
        self.rng = random.Random(seed)
        self.org = SandboxOrg(single_currency=single_currency)  # e.g. "EUR": no CurrencyIsoCode
        self.org.faults.cometd_timeout_s = 10.0
        self.erp = SandboxErp(
            secrets=[generate_secret()],
            fail_share=erp_fail_share,
            fail_first_attempts=erp_fail_first_attempts,
            seed=seed,
        )
        self.overrides = settings_overrides or {}
        self.serve_api = serve_api
        self.org_server: RunningServer | None = None
        self.erp_server: RunningServer | None = None
        self.revflow: Revflow | None = None
        self.transport = transport
        self.separate_process = separate_process
        self.workers = workers
        self.process: RevflowProcess | None = None
        self.pubsub_server: Any = None
        self._monkey: asyncio.Task[None] | None = None
        self._outages: asyncio.Task[None] | None = None
        self.settings: Settings | None = None
        self._http = httpx.AsyncClient(timeout=60)
        self._demo_token: str | None = None
        # with serve_api: an admin API key's headers, for calling Revflow's API
        self.api_headers: dict[str, str] = {}
        self.activated_at: dict[str, float] = {}
        self.finished_at: dict[str, float] = {}
        self.quotes = quotes
        self.approved_at: dict[str, float] = {}
        self.alerts = alerts
        self.inbox = ChatInbox()
        self.inbox_server: RunningServer | None = None
        self.mail: MailSink | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        keys = generate_keypair()
        self.org.add_app(
            ConnectedApp(
                name=REVFLOW_APP,
                consumer_key="revflow-consumer-key",
                certificate_pem=keys.certificate_pem,
                run_as_user_id=INTEGRATION_USER_ID,
                username="integration@revflow.sandbox",
            )
        )
        self.org.add_app(
            ConnectedApp(
                name=DEMO_APP,
                consumer_key="demo-consumer-key",
                consumer_secret="demo-secret",
                run_as_user_id=DEMO_USER_ID,
                username="demo@revflow.sandbox",
            )
        )
        self.org_server = await start_org(self.org)
        revflow_db = self.database_url
        if self.proxy is not None:
            await self.proxy.start()
            revflow_db = self.proxy.proxied(self.database_url)
        if self.erp_kind == "tryton":
            erp_settings = await self._start_tryton()
        else:
            self.erp_server = await start_erp(self.erp)
            erp_url = f"{self.erp_server.base_url}/webhooks/erp"
            erp_settings = {"url": erp_url, "secrets": self.erp.secrets}
        ingest: dict[str, Any] = {
            "initial_replay": "earliest",
            "transport": self.transport,
            # order lines too: a line edited on an activated order is an amendment
            "channels": ["/data/OrderChangeEvent", "/data/OrderItemChangeEvent"],
        }
        if self.quotes:  # a Quote's approval, and its lines edited (revalidation)
            ingest["channels"] = [*ingest["channels"], *QUOTE_CHANNELS]
        if self.transport == "pubsub":
            from revflow.sandbox.pubsub import start_pubsub

            self.pubsub_server = await start_pubsub(self.org)
            ingest.update(pubsub_endpoint=self.pubsub_server.target, pubsub_tls=False)
        if self.separate_process:  # a killed process's leases must expire quickly
            ingest["lease_s"] = 2.0
        values: dict[str, Any] = {
            "database_url": revflow_db,
            "api_port": 0,
            "worker": {"lease_s": 3.0} if self.separate_process else {},
            "salesforce": {
                "instance_url": self.org.instance_url,
                "login_url": self.org.instance_url,
                "auth": "jwt",
                "client_id": "revflow-consumer-key",
                "username": "integration@revflow.sandbox",
                "private_key": keys.private_key_pem,
                # unpaced: a demo's handful of orders finish at once (bench_pipeline
                # --rate turns the default pacing back on)
                "calls_per_order": 0.0,
            },
            "erp": erp_settings,
            "writeback": {
                "flush_interval_s": 0.25,
                "lease_s": 3.0 if self.separate_process else 30.0,
            },
            "ingest": ingest,
            "reconcile": {"interval_s": 2.0, "lookback_s": 3600.0},
            "quotes": {"enabled": self.quotes},
        }
        if self.plan_path is not None:
            values["plan_file"] = str(self.plan_path)
            values["connectors"] = await self.start_systems(
                self.plan_connectors, self.amqp_url, self.seed
            )
        if self.alerts:
            values["alerts"] = await self._start_alert_inboxes()
        for key, value in self.overrides.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        self.settings = load_settings(**values)
        await asyncio.to_thread(upgrade, self.database_url)  # directly, not through the proxy
        if self.serve_api:
            self.api_headers = await self._api_key()
        if self.separate_process:
            key_file = Path(self._tmp.name) / "revflow-key.pem"
            write_private_file(key_file, keys.private_key_pem)
            values["salesforce"] = {
                **values["salesforce"],
                "private_key": None,
                "private_key_file": str(key_file),
            }
            args = ("--workers", str(self.workers)) if self.workers > 1 else ()
            self.process = RevflowProcess(values, Path(self._tmp.name) / "revflow.log", args)
            await self.process.start()
        else:
            self.revflow = Revflow(self.settings, serve_api=self.serve_api)
            await self.revflow.start()

    async def _api_key(self) -> dict[str, str]:
        """An admin API key for the demo's API (the demo's database is thrown away)."""
        from revflow.db.database import Database
        from revflow.security.identity import Role
        from revflow.security.keys import create_key

        db = Database(self.database_url)
        try:
            async with db.write() as s:
                new = await create_key(s, name="demo", role=Role.ADMIN, actor="revflow-demo")
        finally:
            await db.dispose()
        return {"Authorization": f"Bearer {new.secret}"}

    async def _start_alert_inboxes(self) -> dict[str, Any]:
        """Revflow's alert settings, pointed at the demo's inboxes (started here)."""
        self.inbox_server = await start_inbox(self.inbox)
        hooks = f"{self.inbox_server.base_url}/slack"
        settings: dict[str, Any] = {
            "rules_file": str(shipped("alerts") / "rules.yaml"),
            "link_secret": secrets.token_urlsafe(24),
            "poll_interval_s": 0.2,
            "slack": {
                "webhook_url": f"{hooks}/alerts",
                "webhooks": {"finance": f"{hooks}/finance"},
            },
            "salesforce": {"enabled": True},
        }
        if mail_sink_available():
            self.mail = MailSink()
            await asyncio.to_thread(self.mail.start)
            settings["email"] = {
                "host": "127.0.0.1",
                "port": self.mail.port,
                "sender": "revflow@demo.test",
            }
        return settings

    async def _start_tryton(self) -> dict[str, Any]:
        """A real Tryton server with the demo's products; Revflow's ``erp`` settings."""
        from revflow.sandbox.tryton import TrytonServer

        self.tryton = server = TrytonServer()
        await asyncio.to_thread(server.start)
        kinds = {"Services": "service"}
        await asyncio.to_thread(
            server.create_products,
            [
                (code, name, kinds.get(family, "goods"), price)
                for code, name, family, price in PRODUCTS
            ],
        )
        return server.connector_settings()

    async def stop(self) -> None:
        for task in (self._monkey, self._outages):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.process is not None:
            await self.process.stop()
        if self.revflow is not None:
            await self.revflow.stop()
        if self.mail is not None:
            await asyncio.to_thread(self.mail.stop)
        for server in (self.org_server, self.erp_server, self.pubsub_server, self.inbox_server):
            if server is not None:
                await server.close()
        await self.stop_systems()
        if self.tryton is not None:
            await asyncio.to_thread(self.tryton.stop)
        if self.proxy is not None:
            await self.proxy.close()
        await self._http.aclose()
        self._tmp.cleanup()

    async def explain(self, order_ids: list[str]) -> str:
        """Each order as the org and Revflow's database see it, and the process log."""
        from revflow.demo.diagnosis import diagnose

        statuses = {o: (self.order_status(o), self.order_error(o)) for o in order_ids}
        log = self.process.log_path if self.process is not None else None
        return await diagnose(self.database_url, statuses, log)

    async def __aenter__(self) -> DemoEnvironment:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
