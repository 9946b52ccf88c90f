"""Which plan definitions the service runs: the Order plan and, with Quotes enabled,
the Quote plan; a plan file for the wrong records is a configuration error."""

from __future__ import annotations

from pathlib import Path

import pytest

from revflow.config import ConfigError, IngestSettings, Settings, load_settings
from revflow.config_quotes import QuoteSettings
from revflow.service import STEP_LOOPS, Revflow, plan_definition, quote_plan_definition

PLANS = Path(__file__).resolve().parents[1] / "plans"
QUOTE_CHANNELS = IngestSettings(
    channels=["/data/QuoteChangeEvent", "/data/QuoteLineItemChangeEvent"]
)
ON = QuoteSettings(enabled=True)


def test_quotes_off_by_default_and_the_shipped_quote_plan_when_on() -> None:
    assert quote_plan_definition(Settings()) is None
    settings = Settings(quotes=ON, ingest=QUOTE_CHANNELS)
    definition = quote_plan_definition(settings)
    assert definition is not None
    assert (definition.name, definition.source) == ("quote_to_erp", "Quote")


def test_a_plan_file_for_the_wrong_records_names_the_setting() -> None:
    on_orders = QuoteSettings(enabled=True, plan_file=PLANS / "order_fulfillment.yaml")
    orders = Settings(quotes=on_orders, ingest=QUOTE_CHANNELS)
    with pytest.raises(ConfigError, match=r"REVFLOW_QUOTES__PLAN_FILE: .* is a plan for Orders"):
        quote_plan_definition(orders)
    quotes = Settings(plan_file=PLANS / "quote_to_erp.yaml")
    with pytest.raises(ConfigError, match=r"REVFLOW_PLAN_FILE: .* is a plan for Quotes"):
        plan_definition(quotes)


def test_quotes_without_their_channel_refuse_to_start() -> None:
    with pytest.raises(ConfigError, match="REVFLOW_INGEST__CHANNELS"):
        quote_plan_definition(Settings(quotes=ON))


def test_three_connectors_and_a_quote_plan_in_one_config_file(tmp_path: Path) -> None:
    """The issue's "done when": three connectors of different types and a Quote plan,
    configured in a file; the Quote plan's connector must perform quote.create."""
    from revflow.config import load_settings
    from revflow.connectors.signing import generate_secret
    from revflow.plans.files import PlanLoadError

    secret = generate_secret()
    config = tmp_path / "revflow.yaml"
    config.write_text(
        f"""\
connectors:
  erp: {{type: tryton, url: "http://127.0.0.1:8000", database: d, user: u, password: p}}
  warehouse: {{type: amqp, url: "amqp://guest:guest@127.0.0.1:5672/"}}
  accounting: {{type: webhook, url: "http://127.0.0.1:9/hook", secrets: ["{secret}"]}}
plan_file: {PLANS / "order_to_three_systems.yaml"}
ingest:
  channels: [/data/OrderChangeEvent, /data/QuoteChangeEvent, /data/QuoteLineItemChangeEvent]
quotes:
  enabled: true
  statuses: [Accepted]
"""
    )
    settings = load_settings(config)
    assert plan_definition(settings).name == "order_to_three_systems"
    quote_plan = quote_plan_definition(settings)
    assert quote_plan is not None and quote_plan.step("create_erp_quote").connector == "erp"
    # a Quote plan naming a connector that is not configured: the plan file's line
    plan = tmp_path / "quote_to_billing.yaml"
    text = (PLANS / "quote_to_erp.yaml").read_text().replace("connector: erp", "connector: billing")
    plan.write_text(text)
    bad = settings.model_copy(update={"quotes": QuoteSettings(enabled=True, plan_file=plan)})
    with pytest.raises(PlanLoadError, match=r"quote_to_billing\.yaml:\d+:\d+: .*billing"):
        quote_plan_definition(bad)


async def test_the_pool_settings_size_each_processs_postgresql_pool() -> None:
    settings = load_settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:9/none",  # never connected
        database_pool_size=3,
        database_max_overflow=1,
        erp={"url": "http://127.0.0.1:9/erp", "secrets": ["whsec_" + "A" * 32]},
    )
    service = Revflow(settings, serve_api=False, steps_only=True)
    try:
        pool = service.db.engine.pool
        assert (pool.size(), pool._max_overflow) == (3, 1)  # type: ignore[attr-defined]
        assert set(service.supervisor.names) == set(STEP_LOOPS)
    finally:
        await service.stop()
