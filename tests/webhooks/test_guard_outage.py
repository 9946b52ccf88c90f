"""A webhook the ERP accepted while PostgreSQL is away is still a success, not a retry."""

from __future__ import annotations

import pytest

from revflow.connectors.base import CallContext, CallResult, Connector, FakeConnector
from revflow.connectors.errors import RetryableError
from revflow.db.database import Database
from revflow.sandbox.tcp_proxy import TcpProxy
from revflow.webhooks import endpoints
from revflow.webhooks.endpoints import DisablePolicy
from revflow.webhooks.guard import EndpointGuard
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="cutting the database away needs PostgreSQL (REVFLOW_TEST_DATABASE_URL)"
)
CTX = CallContext("plan-1:so", "corr-1", 2, "sales_order.create", 5.0)


async def test_success_during_an_outage_is_returned(database_url: str) -> None:
    proxy = TcpProxy.for_url(database_url)
    await proxy.start()
    db = Database(proxy.proxied(database_url))

    async def erp(action, payload, ctx):  # type: ignore[no-untyped-def]
        await proxy.cut()  # the database goes away while the ERP creates the document
        return CallResult(external_id="SO-7")

    try:
        # the endpoint failed once before: a success resets its streak (a database write)
        async with db.write() as s:
            await endpoints.record_failure(s, "erp", "http://erp", "503", DisablePolicy())
        inner: Connector = FakeConnector(erp)
        guard = EndpointGuard(inner, db, name="erp", url="http://erp")
        result = await guard.call("sales_order.create", {}, CTX)
        assert result.external_id == "SO-7"

        async def failing(action, payload, ctx):  # type: ignore[no-untyped-def]
            await proxy.cut()
            raise RetryableError("503 from ERP", status_code=503)

        await proxy.restore()
        guard = EndpointGuard(FakeConnector(failing), db, name="erp", url="http://erp")
        with pytest.raises(RetryableError, match="503 from ERP"):  # the ERP's error, as usual
            await guard.call("sales_order.create", {}, CTX)
    finally:
        await db.dispose()
        await proxy.close()
