"""The demo's systems beside the ERP, for plans that send an order to several.

``revflow demo --plan NAME`` runs a shipped plan (or a plan file); the demo provides a
connector for each name the plan uses: ``erp`` (the sandbox ERP or, with ``--erp
tryton``, a real Tryton server), ``warehouse`` (AMQP: a queue on the local RabbitMQ,
consumed by ``SandboxWarehouse``) and ``accounting`` (a second sandbox webhook
receiver).  Each system counts its documents, so the summary can say whether any got a
duplicate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revflow.connectors.signing import generate_secret
from revflow.plans.definitions import StepKind
from revflow.plans.files import load_plan_file
from revflow.resources import default_plans_dir, shipped
from revflow.sandbox.erp import SandboxErp
from revflow.sandbox.server import RunningServer, start_erp
from revflow.sandbox.warehouse import SandboxWarehouse

__all__ = ["DEMO_CONNECTORS", "ExtraSystems", "plan_connectors", "resolve_plan"]

DEMO_CONNECTORS = ("erp", "warehouse", "accounting")
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def resolve_plan(plan: str) -> Path:
    """A plan file path, or the name of a shipped plan (``order_to_three_systems``)."""
    path = Path(plan)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    for folder in (default_plans_dir(), shipped("plans")):
        if (folder / f"{plan}.yaml").is_file():
            return folder / f"{plan}.yaml"
    names = sorted(p.stem for p in shipped("plans").glob("*.yaml"))
    raise ValueError(f"no plan file or shipped plan {plan!r} (shipped: {', '.join(names)})")


def plan_connectors(path: Path) -> list[str]:
    """The connector names the plan's callouts use, each checked against the demo's."""
    definition = load_plan_file(path)
    names = sorted(
        {
            s.connector
            for s in (*definition.steps, *definition.compensations)
            if s.kind is StepKind.CALLOUT and s.connector
        }
    )
    unknown = [n for n in names if n not in DEMO_CONNECTORS]
    if unknown:
        raise ValueError(
            f"plan {path} uses connector(s) {', '.join(unknown)}; the demo provides "
            f"{', '.join(DEMO_CONNECTORS)}"
        )
    return names


class ExtraSystems:
    """Part of ``DemoEnvironment``: the warehouse and accounting systems a plan uses."""

    warehouse: SandboxWarehouse | None = None
    accounting: SandboxErp | None = None
    accounting_server: RunningServer | None = None

    async def start_systems(
        self, names: list[str], amqp_url: str = DEFAULT_AMQP_URL, seed: int | None = None
    ) -> dict[str, dict[str, Any]]:
        """Start the systems ``names`` needs (not the ERP); their connector settings."""
        connectors: dict[str, dict[str, Any]] = {}
        if "warehouse" in names:
            self.warehouse = await SandboxWarehouse(amqp_url).start()
            connectors["warehouse"] = self.warehouse.connector_settings()
        if "accounting" in names:
            self.accounting = SandboxErp(secrets=[generate_secret()], seed=seed)
            self.accounting_server = await start_erp(self.accounting)
            connectors["accounting"] = {
                "type": "webhook",
                "url": f"{self.accounting_server.base_url}/webhooks/erp",
                "secrets": self.accounting.secrets,
            }
        return connectors

    async def stop_systems(self) -> None:
        if self.accounting_server is not None:
            await self.accounting_server.close()
        if self.warehouse is not None:
            await self.warehouse.close()

    def systems_summary(self) -> dict[str, dict[str, Any]]:
        """Documents, redeliveries and orders with a duplicate, per extra system."""
        out: dict[str, dict[str, Any]] = {}
        if self.warehouse is not None:
            w = self.warehouse.stats()
            out["warehouse"] = {
                "documents": w["documents"],
                "redeliveries": w["redeliveries"],
                "duplicate_orders": len(w["duplicate_orders"]),
            }
        if self.accounting is not None:
            a = self.accounting.stats()
            out["accounting"] = {
                "documents": a["created"],
                "redeliveries": a["duplicate_accepted"],
                "failed_attempts": a["failed"],
                "duplicate_orders": len({d["order_id"] for d in a["duplicate_documents"]}),
            }
        return out
