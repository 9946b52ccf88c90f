"""The orders list: search, filters, pages, and the streamed CSV export."""

from __future__ import annotations

import csv
import io

import httpx

from revflow.db.models import ConnectorCall, Plan, Step
from revflow.security.identity import Role
from tests.consolekit import console_app, logged_in
from tests.plankit import insert_plan


async def seed(db, n: int) -> list[int]:
    ids = []
    for i in range(n):
        ids.append(
            await insert_plan(db, [{"key": "so", "kind": "milestone"}], order_id=f"801ORDER{i:04d}")
        )
    async with db.write() as s:
        first = await s.get(Plan, ids[0])
        assert first is not None
        first.state, first.jeopardy = "on_hold", "late"
        first.account_id, first.region, first.channel = "001ACC000000001", "DE", "Direct"
        step = (await s.execute(Step.__table__.select().where(Step.plan_id == ids[0]))).first()
        assert step is not None
        s.add(
            ConnectorCall(
                step_id=step.id,
                connector="erp",
                action="so.create",
                idempotency_key="k-0",
                correlation_id="c",
                external_id="=SO-4711",  # a spreadsheet must not run it
            )
        )
    return ids


async def test_search_filters_and_pages(db) -> None:
    ids = await seed(db, 60)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        first = await web.get("/console/orders")
        second = await web.get("/console/orders", params={"page": 2})
        late = await web.get("/console/orders", params={"jeopardy": "late", "state": "on_hold"})
        by_erp = await web.get("/console/orders", params={"q": "=SO-4711"})
        by_prefix = await web.get("/console/orders", params={"q": "801ORDER005"})
        nothing = await web.get("/console/orders", params={"q": "nope"})
        by_account = await web.get("/console/orders", params={"account": "001ACC000000001"})
        by_facets = await web.get("/console/orders", params={"region": "DE", "channel": "Direct"})
        other_region = await web.get("/console/orders", params={"region": "FR"})
    assert "60 plans match." in first.text and "Page 1 of 2" in first.text
    assert first.text.count('href="/console/plans/') == 50
    assert second.text.count('href="/console/plans/') == 10 and 'rel="prev"' in second.text
    assert "1 plan match." in late.text and f'href="/console/plans/{ids[0]}"' in late.text
    assert "1 plan match." in by_erp.text and "=SO-4711" in by_erp.text
    assert "10 plans match." in by_prefix.text  # 801ORDER0050 .. 0059
    assert "0 plans match." in nothing.text and "No plan matches." in nothing.text
    assert "1 plan match." in by_account.text and "001ACC000000001 (DE)" in by_account.text
    assert "1 plan match." in by_facets.text and "<option selected>DE</option>" in by_facets.text
    assert "0 plans match." in other_region.text
    assert 'href="/console/orders.csv?jeopardy=late&amp;state=on_hold"' in late.text or (
        'href="/console/orders.csv?state=on_hold&amp;jeopardy=late"' in late.text
    )


async def test_csv_export_streams_every_matching_row(db) -> None:
    ids = await seed(db, 1203)  # more than one export batch
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        r = await web.get("/console/orders.csv")
        late = await web.get("/console/orders.csv", params={"jeopardy": "late"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(x["plan_id"]) for x in rows] == ids
    only = list(csv.DictReader(io.StringIO(late.text)))
    assert len(only) == 1 and only[0]["erp_number"] == "'=SO-4711"
    assert only[0]["state"] == "on_hold" and only[0]["jeopardy"] == "late"
    assert (only[0]["account_id"], only[0]["region"], only[0]["channel"]) == (
        "001ACC000000001",
        "DE",
        "Direct",
    )


async def test_the_list_needs_a_login(db) -> None:
    app = console_app(db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://t"
    ) as web:
        r = await web.get("/console/orders.csv")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
