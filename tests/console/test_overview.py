"""The overview page over the app: KPI cards with the previous period, filters from the
URL, SVG charts with their tables, the live KPI block, and bad filters."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from revflow.clock import frozen
from revflow.security.identity import Role
from tests.console.dataset import TODAY, seed
from tests.consolekit import console_app, logged_in


def kpi(html: str, key: str) -> tuple[str, str]:
    """A card's value and its comparison line."""
    found = re.search(
        rf'data-kpi="{key}">\s*<span class="label">[^<]*</span>\s*'
        rf'<span class="value">([^<]*)</span>\s*(?:<span class="delta[^"]*">([^<]*)</span>)?',
        html,
    )
    assert found, key
    return found.group(1), found.group(2) or ""


@pytest.fixture(autouse=True)
def _today() -> Iterator[None]:
    with frozen(TODAY):
        yield


async def test_the_overview_shows_the_periods_figures(db) -> None:
    await seed(db)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        r = await web.get("/console")
    assert r.status_code == 200
    page = r.text
    assert kpi(page, "received") == ("6", "+200%, was 2")
    assert kpi(page, "completed") == ("4", "+300%, was 1")
    assert kpi(page, "cancelled") == ("1", "new, was 0")
    assert kpi(page, "in_progress") == ("3", "+50%, was 2")
    assert kpi(page, "fallout_open")[0] == "2"
    assert kpi(page, "on_time") == ("33.3%", "-66.7 pp, was 100.0%")
    assert kpi(page, "p50") == ("10.0 min", "-67%, was 30.0 min")
    assert kpi(page, "p95") == ("2.0 d", "+9700%, was 30.0 min")
    assert kpi(page, "erroneous") == ("50.0%", "+0.0 pp, was 50.0%")
    assert kpi(page, "automation") == ("75.0%", "-25.0 pp, was 100.0%")
    assert kpi(page, "api_calls") == ("100", "+100%, was 50")
    assert kpi(page, "webhooks")[0] == "1/2 enabled"
    assert "1 failing, 1 disabled" in page
    assert 'value="2026-11-14"' in page and 'value="2026-11-20"' in page


async def test_filters_in_the_url_change_the_figures_and_stay_in_the_form(db) -> None:
    await seed(db)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        fr = await web.get("/console", params={"region": "FR"})
        software = await web.get("/console", params={"family": "Software", "from": "2026-11-16"})
    assert kpi(fr.text, "received")[0] == "4" and kpi(fr.text, "fallout_open")[0] == "2"
    assert "<option selected>FR</option>" in fr.text
    assert kpi(software.text, "received")[0] == "2"
    # the live block polls with the same filters
    assert (
        'hx-get="/console/overview/kpis?from=2026-11-16&amp;to=2026-11-20&amp;family=Software"'
        in (software.text)
    )


async def test_charts_are_svg_with_text_alternatives(db) -> None:
    await seed(db)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        page = (await web.get("/console")).text
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 5
    assert page.count('role="img"') == 5
    assert "<title>Open fallout by connector</title>" in page
    assert "<title>2026-11-18 on_hold: 1</title>" in page  # a bar's own label
    assert "<td>gave up after 5 attempts</td><td>1</td>" in page  # the donut's table
    assert "style=" not in page  # the CSP forbids inline style


async def test_the_kpi_block_refreshes_alone(db) -> None:
    await seed(db)
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        r = await web.get("/console/overview/kpis", params={"region": "DE"})
    assert r.status_code == 200 and "<html" not in r.text
    assert 'hx-trigger="every 5s"' in r.text and kpi(r.text, "received")[0] == "2"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "yesterday"}, "from: &#39;yesterday&#39; is not a date"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, "is after to"),
        ({"from": "2020-01-01"}, "longer than 366 days"),
        ({"region": "x" * 81}, "region: at most 80"),
    ],
)
async def test_bad_filters_are_a_400_page_saying_why(db, query, message) -> None:
    app = console_app(db)
    async with logged_in(app, db, Role.VIEWER) as web:
        r = await web.get("/console", params=query)
        partial = await web.get("/console/overview/kpis", params=query)
    assert r.status_code == 400 and message in r.text
    assert partial.status_code == 400
