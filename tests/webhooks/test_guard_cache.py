"""The guard keeps the endpoint's row between calls: an operator's enable or disable in
this process takes effect on the next call, one made elsewhere within ``max_age_s``,
and a disable that was rolled back changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, update

from revflow.connectors.base import CallContext
from revflow.connectors.webhook import WebhookConnector
from revflow.db.database import Database
from revflow.db.models import WebhookEndpoint
from revflow.webhooks import actions
from revflow.webhooks.errors import EndpointDisabledError
from revflow.webhooks.guard import EndpointGuard
from tests.webhookkit import SECRET, receiver

CTX = CallContext("plan-1:so", "corr-1", 1, "sales_order.create", 5.0)


def _guard(db: Database, url: str, max_age_s: float) -> EndpointGuard:
    return EndpointGuard(
        WebhookConnector(url, [SECRET], timeout_s=5.0), db, name="erp", url=url, max_age_s=max_age_s
    )


async def _write(db: Database, service: Any, *args: Any, **kwargs: Any) -> Any:
    async with db.write() as s:
        return await service(s, *args, **kwargs)


async def test_operator_disable_and_enable_take_effect_on_the_next_call(db: Database) -> None:
    async with receiver() as rec:
        guard = _guard(db, rec.url, max_age_s=3600.0)  # only invalidation can refresh it
        try:
            await guard.call("sales_order.create", {}, CTX)
            await _write(db, actions.disable, "erp", rec.url, actor="ops", reason="maintenance")
            with pytest.raises(EndpointDisabledError):
                await guard.call("sales_order.create", {}, CTX)
            assert len(rec.ids) == 1  # nothing sent while disabled
            await _write(db, actions.enable, "erp", actor="ops", reason="back")
            await guard.call("sales_order.create", {}, CTX)
            assert len(rec.ids) == 2
        finally:
            await guard.aclose()


async def test_a_rolled_back_disable_changes_nothing(db: Database) -> None:
    async with receiver() as rec:
        guard = _guard(db, rec.url, max_age_s=3600.0)
        try:
            await guard.call("sales_order.create", {}, CTX)
            with pytest.raises(RuntimeError):
                async with db.write() as s:
                    await actions.disable(s, "erp", rec.url, actor="ops", reason="oops")
                    raise RuntimeError("the route fails after the change")
            await guard.call("sales_order.create", {}, CTX)
            assert len(rec.ids) == 2
        finally:
            await guard.aclose()


async def test_a_change_made_elsewhere_is_seen_within_max_age(db: Database) -> None:
    """Another process (``revflow webhooks disable``) changes the row behind this one's back."""
    async with receiver() as rec:
        guard = _guard(db, rec.url, max_age_s=0.2)
        try:
            await _write(db, actions.disable, "erp", rec.url, actor="ops", reason="x")
            await _write(db, actions.enable, "erp", actor="ops", reason="y")
            await guard.call("sales_order.create", {}, CTX)  # row read: enabled
            async with db.write() as s:  # no in-process notice, as from another process
                await s.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.connector == "erp")
                    .values(state="disabled", disabled_reason="elsewhere")
                )
            await asyncio.sleep(0.3)
            with pytest.raises(EndpointDisabledError, match="elsewhere"):
                await guard.call("sales_order.create", {}, CTX)
            assert len(rec.ids) == 1
        finally:
            await guard.aclose()


async def test_calls_that_find_the_row_stale_together_share_one_read(db: Database) -> None:
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM webhook_endpoints" in statement:
            reads.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    async with receiver() as rec:
        guard = _guard(db, rec.url, max_age_s=3600.0)
        try:
            await asyncio.gather(*(guard.call("sales_order.create", {}, CTX) for _ in range(20)))
            assert len(rec.ids) == 20
            assert len(reads) == 1
        finally:
            await guard.aclose()
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
