"""``revflow demo``: a sandbox org, a sandbox ERP and Revflow, in one process.

``DemoEnvironment`` is also what the end-to-end tests and the benchmark use: it
starts everything on free loopback ports, creates orders as a Salesforce user
would (over REST, with the demo's own connected app so Revflow's API calls are
counted apart), activates them, and watches the Order records.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from app.config import Settings, load_settings
from app.db.engine import is_sqlite
from app.db.migrate import upgrade
from app.demo_report import order_latencies, percentile
from app.plans.ponr import REFUSED
from app.process import RevflowProcess
from app.salesforce.refusals import PREFIX as WRITEBACK_REFUSED
from app.sandbox.erp import SandboxErp
from app.sandbox.keys import generate_keypair, write_private_file
from app.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, ConnectedApp, SandboxOrg
from app.sandbox.server import RunningServer, start_erp, start_org
from app.sandbox.tcp_proxy import TcpProxy
from app.sandbox.validation import ValidationRule
from app.service import Revflow
from connectors.signing import generate_secret

if TYPE_CHECKING:
    from app.sandbox.tryton import TrytonServer

REVFLOW_APP = "revflow"
DEMO_APP = "revflow-demo-setup"
PRODUCTS = [
    ("WIDGET-1", "Widget", "Hardware", 25.0),
    ("GADGET-2", "Gadget", "Hardware", 99.5),
    ("SUPPORT-Y", "Support, yearly", "Services", 480.0),
    ("CABLE-3", "Cable", "Hardware", 4.2),
]
COUNTRIES = ["DE", "FR", "US", "GB", "NL"]


@dataclass
class DemoSummary:
    orders: int
    completed: int
    failed: int
    erp_deliveries: int
    duplicate_deliveries: int
    salesforce_api_calls: int
    elapsed_s: float
    orders_per_s: float = 0.0
    # activation -> final status per order, from the org's field history (demo_report.py)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_p99_s: float | None = None
    api_calls_per_order: float = 0.0
    erp_failed_attempts: int = 0
    erp_redeliveries: int = 0  # repeats of an accepted webhook-id, deduplicated by the ERP
    faults_injected: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0  # orders cancelled in flight and read Cancelled
    cancel_refused: int = 0  # cancellations refused (point of no return, or done): Completed
    amended: int = 0  # amended in flight: Completed, the ERP's documents have the new lines
    amend_refused: int = 0  # amendments refused (point of no return, or done): Completed
    writeback_refused: int = 0  # the org's rule refused Completed: the error field says so

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DemoEnvironment:
    """Sandbox org + sandbox ERP + Revflow, wired together on loopback."""

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
    ) -> None:
        """``database_proxy``: Revflow reaches PostgreSQL through a ``TcpProxy``
        (``self.proxy``) that tests and the chaos demo cut to make database outages."""
        if erp not in ("sandbox", "tryton"):
            raise ValueError(f"erp must be sandbox or tryton, not {erp!r}")
        self.erp_kind = erp
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
        self.process: RevflowProcess | None = None
        self.pubsub_server: Any = None
        self._monkey: asyncio.Task[None] | None = None
        self._outages: asyncio.Task[None] | None = None
        self.settings: Settings | None = None
        self._http = httpx.AsyncClient(timeout=60)
        self._demo_token: str | None = None
        self.activated_at: dict[str, float] = {}
        self.finished_at: dict[str, float] = {}

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
        if self.transport == "pubsub":
            from app.sandbox.pubsub import start_pubsub

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
            },
            "erp": erp_settings,
            "writeback": {
                "flush_interval_s": 0.25,
                "lease_s": 3.0 if self.separate_process else 30.0,
            },
            "ingest": ingest,
            "reconcile": {"interval_s": 2.0, "lookback_s": 3600.0},
        }
        for key, value in self.overrides.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        self.settings = load_settings(**values)
        await asyncio.to_thread(upgrade, self.database_url)  # directly, not through the proxy
        if self.separate_process:
            key_file = Path(self._tmp.name) / "revflow-key.pem"
            write_private_file(key_file, keys.private_key_pem)
            values["salesforce"] = {
                **values["salesforce"],
                "private_key": None,
                "private_key_file": str(key_file),
            }
            self.process = RevflowProcess(values, Path(self._tmp.name) / "revflow.log")
            await self.process.start()
        else:
            self.revflow = Revflow(self.settings, serve_api=self.serve_api)
            await self.revflow.start()

    async def _start_tryton(self) -> dict[str, Any]:
        """A real Tryton server with the demo's products; Revflow's ``erp`` settings."""
        from app.sandbox.tryton import TrytonServer

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
        for server in (self.org_server, self.erp_server, self.pubsub_server):
            if server is not None:
                await server.close()
        if self.tryton is not None:
            await asyncio.to_thread(self.tryton.stop)
        if self.proxy is not None:
            await self.proxy.close()
        await self._http.aclose()
        self._tmp.cleanup()

    # -- chaos ---------------------------------------------------------------------------

    def start_chaos(
        self,
        kill_every_s: tuple[float, float] = (2.0, 6.0),
        max_kills: int | None = None,
        outage_every_s: tuple[float, float] = (2.0, 6.0),
    ) -> None:
        """Turn on the org's faults and kill the Revflow process at random moments; with
        a database proxy, also cut the database away at random moments (as many times
        as the process is killed)."""
        f = self.org.faults
        f.unknown_client, f.drop_connection, f.duplicate_events = 0.05, 0.05, 0.05
        f.duplicate_next = 2  # at least these, however few events the run makes
        # few transactions carry many changes here (bulk activation), so overflow is likelier
        f.gap_events, f.overflow_events = 0.03, 0.25
        self._monkey = asyncio.create_task(self._kill_loop(kill_every_s, max_kills))
        if self.proxy is not None:
            self._outages = asyncio.create_task(
                self._outage_loop(outage_every_s, max_outages=max_kills)
            )

    async def _outage_loop(
        self,
        every: tuple[float, float] = (3.0, 8.0),
        lasting: tuple[float, float] = (2.0, 5.0),
        max_outages: int | None = None,
    ) -> None:
        """Cut the database connection at random moments, for a few seconds each time."""
        assert self.proxy is not None
        while max_outages is None or self.proxy.cuts < max_outages:
            await asyncio.sleep(self.rng.uniform(*every))
            await self.proxy.cut()
            self.org.note_fault("database_outage")
            await asyncio.sleep(self.rng.uniform(*lasting))
            await self.proxy.restore()

    async def _kill_loop(self, every: tuple[float, float], max_kills: int | None) -> None:
        """Kill at random moments; each restart gets time to start up and do some work."""
        assert self.process is not None
        expired = False
        while max_kills is None or self.process.kills < max_kills:
            await asyncio.sleep(self.rng.uniform(*every))
            await self.process.kill()
            self.org.note_fault("consumer_killed")
            if not expired and self.rng.random() < 0.5:
                # the stored replay id falls out of retention while Revflow is down
                self.org.events.expire(keep_last=5)
                self.org.note_fault("replay_expired")
                expired = True
            await asyncio.sleep(self.rng.uniform(0.1, 0.5))
            await self.process.start()

    async def __aenter__(self) -> DemoEnvironment:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- acting as a Salesforce user ------------------------------------------------

    async def _rest(self, method: str, path: str, **kw: Any) -> Any:
        if self._demo_token is None:
            resp = await self._http.post(
                f"{self.org.instance_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "demo-consumer-key",
                    "client_secret": "demo-secret",
                },
            )
            resp.raise_for_status()
            self._demo_token = resp.json()["access_token"]
        version = self.settings.salesforce.api_version if self.settings else "62.0"
        resp = await self._http.request(
            method,
            f"{self.org.instance_url}/services/data/v{version}/{path}",
            headers={"Authorization": f"Bearer {self._demo_token}"},
            **kw,
        )
        if resp.status_code == 401:
            self._demo_token = None
            return await self._rest(method, path, **kw)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    async def _create(self, sobject: str, rows: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(rows), 200):
            chunk = rows[start : start + 200]
            body = {
                "allOrNone": True,
                "records": [{"attributes": {"type": sobject}, **r} for r in chunk],
            }
            results = await self._rest("POST", "composite/sobjects", json=body)
            for res in results:
                if not res.get("success"):
                    raise RuntimeError(f"creating {sobject} failed: {res}")
                ids.append(res["id"])
        return ids

    async def create_orders(self, n: int, max_items: int = 4) -> list[str]:
        """Create ``n`` draft orders with 1..max_items items, accounts and products."""
        accounts = await self._create(
            "Account",
            [
                {
                    "Name": f"Customer {i:03d}",
                    "AccountNumber": f"ACC-{i:04d}",
                    "BillingCountry": COUNTRIES[i % len(COUNTRIES)],
                }
                for i in range(max(1, min(n, 20)))
            ],
        )
        products = await self._create(
            "Product2",
            [
                {"Name": name, "ProductCode": code, "Family": family, "IsActive": True}
                for code, name, family, _ in PRODUCTS
            ],
        )
        orders = await self._create(
            "Order",
            [
                {
                    "AccountId": accounts[i % len(accounts)],
                    "Status": "Draft",
                    "EffectiveDate": "2026-12-01",
                    "PoNumber": f"PO-{i:05d}",
                    **({} if self.org.single_currency else {"CurrencyIsoCode": "EUR"}),
                }
                for i in range(n)
            ],
        )
        items = []
        for order_id in orders:
            for _ in range(self.rng.randint(1, max_items)):
                p = self.rng.randrange(len(PRODUCTS))
                items.append(
                    {
                        "OrderId": order_id,
                        "Product2Id": products[p],
                        "Quantity": float(self.rng.randint(1, 5)),
                        "UnitPrice": PRODUCTS[p][3],
                    }
                )
        await self._create("OrderItem", items)
        return orders

    async def activate(self, order_ids: list[str]) -> None:
        for start in range(0, len(order_ids), 200):
            chunk = order_ids[start : start + 200]
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Order"}, "id": oid, "Status": "Activated"}
                    for oid in chunk
                ],
            }
            now = time.monotonic()
            await self._rest("PATCH", "composite/sobjects", json=body)
            for oid in chunk:
                self.activated_at[oid] = now

    async def cancel(self, order_ids: list[str]) -> None:
        """Set Status=Cancelled on the orders, as a Salesforce user would."""
        for start in range(0, len(order_ids), 200):
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Order"}, "id": oid, "Status": "Cancelled"}
                    for oid in order_ids[start : start + 200]
                ],
            }
            await self._rest("PATCH", "composite/sobjects", json=body)

    def cancel_settled(self, order_id: str) -> bool:
        """A cancelled order ended: Cancelled, or Completed with the refusal text."""
        status = self.order_status(order_id)
        if status == "Cancelled":
            return True
        error = self.order_error(order_id) or ""
        return status == "Completed" and error.startswith(REFUSED)

    def refuse_completion(self, order_ids: list[str]) -> None:
        """The org gets a validation rule refusing status Completed on these orders."""
        if not order_ids:
            return  # (a rule without records would hold every order)
        status = self.settings.writeback.status_field if self.settings else "Fulfillment_Status__c"
        self.org.faults.validation_rules.append(
            ValidationRule(status, "Completed", records=list(order_ids))
        )

    def refusal_shown(self, order_id: str) -> bool:
        """The rule refused Completed, and the Order's error field quotes the refusal."""
        error = self.order_error(order_id) or ""
        return (
            self.order_status(order_id) != "Completed"
            and error.startswith(WRITEBACK_REFUSED)
            and "'Completed'" in error
        )

    def order_error(self, order_id: str) -> str | None:
        field_name = self.settings.writeback.error_field if self.settings else None
        record = self.org.records.get("Order", {}).get(order_id) or {}
        return record.get(field_name or "Fulfillment_Error__c")

    async def wait_for_cancellations(self, order_ids: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        pending = set(order_ids)
        while pending and time.monotonic() < deadline:
            pending = {o for o in pending if not self.cancel_settled(o)}
            if pending:
                await asyncio.sleep(0.05)
        return not pending

    async def amend(self, order_ids: list[str], in_place: bool = False) -> None:
        """Amend activated orders as a Salesforce user would: add 2 to the first line's
        quantity.  ``in_place``: only that, on the activated order (a user with "Edit
        Activated Orders"; an OrderItem change event).  Otherwise also add a line, which
        needs the order deactivated first and activated again afterwards."""
        if not in_place:
            await self._set_status(order_ids, "Draft")
        items = self.org.records.get("OrderItem", {})
        first: dict[str, dict[str, Any]] = {}
        for item in items.values():
            first.setdefault(item["OrderId"], item)
        changed = [
            {
                "attributes": {"type": "OrderItem"},
                "id": first[o]["Id"],
                "Quantity": first[o]["Quantity"] + 2,
            }
            for o in order_ids
            if o in first
        ]
        for start in range(0, len(changed), 200):
            body = {"allOrNone": False, "records": changed[start : start + 200]}
            await self._rest("PATCH", "composite/sobjects", json=body)
        if in_place:
            return
        added = [
            {
                "OrderId": o,
                "Product2Id": first[o]["Product2Id"],
                "Quantity": 1.0,
                "UnitPrice": first[o]["UnitPrice"],
            }
            for o in order_ids
            if o in first
        ]
        await self._create("OrderItem", added)
        await self._set_status(order_ids, "Activated")

    async def _set_status(self, order_ids: list[str], status: str) -> None:
        for start in range(0, len(order_ids), 200):
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Order"}, "id": oid, "Status": status}
                    for oid in order_ids[start : start + 200]
                ],
            }
            await self._rest("PATCH", "composite/sobjects", json=body)

    def amend_refused(self, order_id: str) -> bool:
        error = self.order_error(order_id) or ""
        return self.order_status(order_id) == "Completed" and error.startswith(REFUSED)

    def amend_applied(self, order_id: str) -> bool:
        """Completed, and the ERP's newest sales order has the order's lines as they are now."""
        if self.order_status(order_id) != "Completed":
            return False
        lines = {
            i["Id"]: float(i["Quantity"])
            for i in self.org.records.get("OrderItem", {}).values()
            if i["OrderId"] == order_id
        }
        if self.tryton is not None:
            return self._tryton_quantities(order_id) == sorted(lines.values())
        docs = [
            d
            for d in self.erp.documents.values()
            if d.doc_type == "sales_order" and d.order_id == order_id
        ]
        if not docs:
            return False
        newest = max(docs, key=lambda d: (d.data.get("revision") or 1, d.created_at))
        sent = {
            str(line.get("external_id")): float(line.get("quantity") or 0)
            for line in newest.data.get("lines") or []
        }
        return sent == lines

    def _tryton_quantities(self, order_id: str) -> list[float]:
        """Line quantities of the order's newest sale in Tryton (``<id>/r<N>`` revisions)."""
        tryton = self.tryton
        assert tryton is not None
        sales = tryton.rpc(
            "model.sale.sale.search_read",
            [["OR", ("reference", "=", order_id), ("reference", "like", f"{order_id}/r%")]],
            0,
            None,
            None,
            ["reference", "lines"],
        )
        if not sales:
            return []

        def revision(sale: dict[str, Any]) -> int:
            _, _, n = str(sale["reference"]).partition("/r")
            return int(n) if n.isdigit() else 1

        newest = max(sales, key=revision)
        rows = tryton.rpc("model.sale.line.read", newest["lines"], ["quantity"])
        return sorted(float(r["quantity"]) for r in rows)

    async def wait_for(
        self, order_ids: list[str], settled: Callable[[str], bool], timeout_s: float
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        pending = set(order_ids)
        while pending and time.monotonic() < deadline:
            pending = {o for o in pending if not settled(o)}
            if pending:
                await asyncio.sleep(0.05)
        return not pending

    # -- watching ----------------------------------------------------------------------

    def order_status(self, order_id: str) -> str | None:
        field_name = (
            self.settings.writeback.status_field if self.settings else "Fulfillment_Status__c"
        )
        record = self.org.records.get("Order", {}).get(order_id) or {}
        return record.get(field_name)

    async def wait_until_done(
        self,
        order_ids: list[str],
        timeout_s: float,
        progress: Callable[[int, int], None] | None = None,
        final: tuple[str, ...] = ("Completed", "Failed"),
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        pending = set(order_ids)
        while pending and time.monotonic() < deadline:
            now = time.monotonic()
            for oid in list(pending):
                if self.order_status(oid) in final:
                    self.finished_at[oid] = now
                    pending.discard(oid)
            if progress:
                progress(len(order_ids) - len(pending), len(order_ids))
            if pending:
                await asyncio.sleep(0.05)
        return not pending

    def summary(self, order_ids: list[str], elapsed_s: float) -> DemoSummary:
        statuses = [self.order_status(o) for o in order_ids]
        erp = self.erp.stats()
        status_field = self.settings.writeback.status_field if self.settings else ""
        latencies = order_latencies(
            self.org.history, order_ids, status_field or "Fulfillment_Status__c", self.order_status
        ).values()
        calls = self.org.usage.by_app.get(REVFLOW_APP, 0)
        completed = statuses.count("Completed")
        faults = dict(self.org.faults_injected)
        if erp.get("failed"):
            faults["erp_failures"] = erp["failed"]
        deliveries = erp["created"]
        duplicates = len({d["order_id"] for d in erp["duplicate_documents"]})
        if self.tryton is not None:  # counted by Tryton itself: sales per reference
            sales = self.tryton.sales_by_reference()
            deliveries = sum(len(numbers) for numbers in sales.values())
            duplicates = sum(len(numbers) > 1 for numbers in sales.values())
        return DemoSummary(
            orders=len(order_ids),
            completed=completed,
            failed=statuses.count("Failed"),
            erp_deliveries=deliveries,
            duplicate_deliveries=duplicates,
            salesforce_api_calls=calls,
            elapsed_s=round(elapsed_s, 3),
            orders_per_s=round(completed / elapsed_s, 2) if elapsed_s else 0.0,
            latency_p50_s=_rounded(percentile(latencies, 50)),
            latency_p95_s=_rounded(percentile(latencies, 95)),
            latency_p99_s=_rounded(percentile(latencies, 99)),
            api_calls_per_order=round(calls / len(order_ids), 3) if order_ids else 0.0,
            erp_failed_attempts=erp["failed"],
            erp_redeliveries=erp["duplicate_accepted"],
            faults_injected=faults,
            cancelled=statuses.count("Cancelled"),
        )


async def run_demo(
    orders: int,
    timeout_s: float = 300.0,
    progress: Callable[[int, int], None] | None = None,
    database_url: str | None = None,
    erp_fail_share: float = 0.0,
    serve_api: bool = False,
    transport: str = "cometd",
    chaos: bool = False,
    seed: int | None = None,
    cancel: int = 0,
    erp: str = "sandbox",
    amend: int = 0,
) -> DemoSummary:
    """Create and activate orders, wait for Completed on every Order, summarise.

    ``cancel`` orders get Status=Cancelled shortly after activation; each ends
    Cancelled, or Completed with the refusal text when it was too late.  The next
    ``amend`` orders are amended (see ``DemoEnvironment.amend``: half edited in place,
    half deactivated, given a line and activated again); each ends Completed
    with the ERP's newest sales order matching the amended lines, or Completed with
    the refusal text.  With
    ``chaos``, Revflow runs as a separate process that is killed with SIGKILL
    and restarted at random moments while the org injects its faults, and a validation
    rule of the org refuses status Completed on a tenth of the orders (they end with the
    refusal in their error field, ``writeback_refused``); on PostgreSQL it also reaches
    the database through a proxy that is cut for a few seconds at random moments
    (``database_outage``; an SQLite file has no connection to cut).
    ``erp="tryton"`` runs a real Tryton server (app/sandbox/tryton.py) as the ERP
    instead of the sandbox webhook ERP; ERP counts then come from Tryton's sales.
    """
    async with DemoEnvironment(
        database_url=database_url,
        erp_fail_share=0.1 if chaos and not erp_fail_share else erp_fail_share,
        serve_api=serve_api,
        transport=transport,
        separate_process=chaos,
        seed=seed,
        settings_overrides={"worker": {"initial_interval_s": 0.2, "maximum_interval_s": 2.0}},
        erp=erp,
        database_proxy=chaos and database_url is not None and not is_sqlite(database_url),
    ) as env:
        ids = await env.create_orders(orders)
        # with chaos the org's validation rule refuses Completed on the last tenth
        held = ids[len(ids) - _refused_count(len(ids), cancel, amend) :] if chaos else []
        env.refuse_completion(held)
        started = time.monotonic()
        if chaos:
            env.start_chaos()
        await env.activate(ids)
        doomed = ids[: min(cancel, len(ids))]
        if doomed:
            await asyncio.sleep(0.1)
            await env.cancel(doomed)
        changed = ids[len(doomed) : len(doomed) + min(amend, len(ids) - len(doomed))]
        if changed:
            await asyncio.sleep(0.1)
            half = len(changed) // 2  # edited in place, then deactivated, edited, activated
            await env.amend(changed[:half], in_place=True)
            await env.amend(changed[half:])
        rest = ids[len(doomed) + len(changed) : len(ids) - len(held)]
        await env.wait_until_done(rest, timeout_s, progress, final=("Completed",))
        await env.wait_for(held, env.refusal_shown, timeout_s)
        await env.wait_for_cancellations(doomed, timeout_s)
        await env.wait_for(
            changed, lambda o: env.amend_applied(o) or env.amend_refused(o), timeout_s
        )
        elapsed = time.monotonic() - started
        summary = env.summary(ids, elapsed)
        summary.cancel_refused = sum(
            env.order_status(o) == "Completed" and env.cancel_settled(o) for o in doomed
        )
        summary.amended = sum(env.amend_applied(o) for o in changed)
        summary.amend_refused = sum(
            env.amend_refused(o) and not env.amend_applied(o) for o in changed
        )
        summary.writeback_refused = sum(env.refusal_shown(o) for o in held)
        return summary


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _refused_count(orders: int, cancel: int, amend: int) -> int:
    """Orders whose Completed status the org refuses in a chaos run: a tenth of those
    neither cancelled nor amended, at least one."""
    plain = orders - cancel - amend
    return max(1, plain // 10) if plain > 1 else 0


def demo_database(path: Path | None) -> str | None:
    return f"sqlite+aiosqlite:///{path}" if path else None
