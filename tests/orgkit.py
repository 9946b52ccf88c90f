"""Helpers for intake and reconciliation tests: a sandbox org on loopback, Revflow's
client and intake against it, orders made "as a user", and the inbox fed from the
org's event log (or with hand-made gap/overflow events)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from revflow.config import Settings
from revflow.db.database import Database
from revflow.db.models import Incident, Plan, ReceivedEvent
from revflow.ingest.events import IncomingEvent, parse_cometd
from revflow.ingest.inbox import record_events
from revflow.mapping import load_directory
from revflow.orchestration.intake import Intake
from revflow.plans.definitions import order_fulfillment
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.client import SalesforceClient
from revflow.sandbox.events import StoredEvent
from revflow.sandbox.org import DEMO_USER_ID, ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore

MAPPINGS = load_directory(Path(__file__).resolve().parents[1] / "mappings")
ORDER_CHANNEL = "/data/OrderChangeEvent"


def settings_for(org: SandboxOrg, database_url: str, **overrides: Any) -> Settings:
    if not any(a.consumer_key == "ck" for a in org.apps.values()):
        org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    values: dict[str, Any] = {
        "database_url": database_url,
        "salesforce": {
            "instance_url": org.instance_url,
            "auth": "client_credentials",
            "client_id": "ck",
            "client_secret": "s3cret",
        },
    }
    for key, value in overrides.items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    return Settings(**values)


def sf_client(settings: Settings) -> SalesforceClient:
    return SalesforceClient(TokenProvider(settings.salesforce), "62.0", "revflow")


def make_intake(db: Database, client: SalesforceClient, settings: Settings) -> Intake:
    definition = order_fulfillment(settings.order_mapping, settings.invoice_mapping)
    return Intake(db, client, settings, definition, lambda: MAPPINGS)


class Shop:
    """Creates accounts, products and orders in the org as a Salesforce user would."""

    def __init__(self, org: SandboxOrg) -> None:
        self.store = RecordStore(org)
        self.account = self.store.create(
            "Account", {"Name": "Acme", "BillingCountry": "DE"}, user_id=DEMO_USER_ID
        )
        self.product = self.store.create(
            "Product2", {"Name": "Widget", "ProductCode": "W-1"}, user_id=DEMO_USER_ID
        )

    def order(self, activate: bool = True) -> str:
        oid = self.store.create(
            "Order",
            {"AccountId": self.account, "Status": "Draft", "EffectiveDate": "2026-01-01"},
            user_id=DEMO_USER_ID,
        )
        self.item(oid)
        if activate:
            self.activate(oid)
        return oid

    def item(self, order_id: str) -> str:
        values = {
            "OrderId": order_id,
            "Product2Id": self.product,
            "Quantity": 2.0,
            "UnitPrice": 5.0,
        }
        return self.store.create("OrderItem", values, user_id=DEMO_USER_ID)

    def activate(self, *order_ids: str) -> None:
        with self.store.transaction(user_id=DEMO_USER_ID) as txn:
            for oid in order_ids:
                self.store.update("Order", oid, {"Status": "Activated"}, txn=txn)


def message(e: StoredEvent) -> dict[str, Any]:
    return {
        "channel": e.channel,
        "data": {"schema": e.schema_id, "payload": e.payload, "event": {"replayId": e.replay_id}},
    }


def org_events(org: SandboxOrg, after: int = 0) -> list[IncomingEvent]:
    return [parse_cometd(message(e)) for e in org.events.all_events() if e.replay_id > after]


def header_event(
    change_type: str,
    entity: str,
    record_ids: list[str],
    *,
    commit_ms: int = 1_767_276_000_000,
    replay_id: int = 1,
    **header: Any,
) -> IncomingEvent:
    """A header-only gap/overflow change event (wire facts 3.5 D)."""
    payload = {
        "ChangeEventHeader": {
            "entityName": entity,
            "recordIds": record_ids,
            "changeType": change_type,
            "changeOrigin": "",
            "transactionKey": str(uuid.uuid4()),
            "sequenceNumber": 1,
            "commitTimestamp": commit_ms,
            "commitNumber": 1124590988100,
            "commitUser": DEMO_USER_ID,
            "changedFields": [],
            **header,
        }
    }
    channel = f"/data/{entity}ChangeEvent"
    return parse_cometd(
        {"channel": channel, "data": {"payload": payload, "event": {"replayId": replay_id}}}
    )


async def feed(db: Database, events: list[IncomingEvent]) -> None:
    async with db.write() as s:
        await record_events(s, events)


async def planned(db: Database) -> list[str]:
    async with db.read() as s:
        return list((await s.scalars(select(Plan.order_id).order_by(Plan.id))).all())


async def incidents(db: Database, kind: str | None = None) -> list[Incident]:
    async with db.read() as s:
        stmt = select(Incident).order_by(Incident.id)
        if kind:
            stmt = stmt.where(Incident.kind == kind)
        return list((await s.scalars(stmt)).all())


async def inbox(db: Database) -> list[ReceivedEvent]:
    async with db.read() as s:
        return list((await s.scalars(select(ReceivedEvent).order_by(ReceivedEvent.id))).all())
