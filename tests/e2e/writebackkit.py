"""Helpers for the write-back end-to-end tests: Salesforce settings and client for the
sandbox org, outbox rows, audit entries, plans."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from revflow.config import AuthFlow, SalesforceSettings
from revflow.db.database import Database
from revflow.db.models import AuditEntry, Plan, WritebackItem
from revflow.salesforce import outbox
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.budget import ApiBudget
from revflow.salesforce.client import SalesforceClient
from revflow.sandbox.org import ConnectedApp, SandboxOrg

STATUS = "Fulfillment_Status__c"


def sf_settings(org: SandboxOrg, share: float = 0.5) -> SalesforceSettings:
    if "ck" not in org.apps:
        org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    return SalesforceSettings(
        instance_url=org.instance_url,
        auth=AuthFlow.CLIENT_CREDENTIALS,
        client_id="ck",
        client_secret=SecretStr("s3cret"),
        api_budget_share=share,
    )


def client_for(org: SandboxOrg, share: float = 0.5) -> SalesforceClient:
    return SalesforceClient(
        TokenProvider(sf_settings(org, share)), "62.0", "revflow", budget=ApiBudget(share)
    )


async def enqueue(db: Database, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
    async with db.write() as s:
        outbox.enqueue(s, sobject, record_id, fields, f"rf-{record_id}")


async def items(db: Database) -> list[WritebackItem]:
    async with db.read() as s:
        return list((await s.scalars(select(WritebackItem).order_by(WritebackItem.id))).all())


async def audits(db: Database, action: str | None = None) -> list[AuditEntry]:
    async with db.read() as s:
        q = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            q = q.where(AuditEntry.action == action)
        return list((await s.scalars(q)).all())


async def plan_of(db: Database, plan_id: int) -> Plan:
    async with db.read() as s:
        return (await s.scalars(select(Plan).where(Plan.id == plan_id))).one()
