"""Which plan definitions the service runs: the Order plan and, with Quotes enabled,
the Quote plan; a plan file for the wrong records is a configuration error."""

from __future__ import annotations

from pathlib import Path

import pytest

from revflow.config import ConfigError, IngestSettings, Settings
from revflow.config_quotes import QuoteSettings
from revflow.service import plan_definition, quote_plan_definition

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
