"""Quote settings: from a config file and the environment, bad values named, and the
channels Quote plans need."""

from __future__ import annotations

from pathlib import Path

import pytest

from revflow.config import ConfigError, IngestSettings, load_settings
from revflow.config_quotes import QuoteSettings, channel_problem


def test_a_quote_plan_configured_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "revflow.yaml"
    f.write_text(
        "quotes:\n  enabled: true\n  statuses: [Accepted]\n  plan_file: plans/quote_to_erp.yaml\n"
        "writeback:\n  quote:\n    erp_number_field: ERP_Q__c\n"
        "ingest:\n  channels: [/data/OrderChangeEvent, /data/QuoteChangeEvent]\n"
    )
    monkeypatch.setenv("REVFLOW_WRITEBACK__QUOTE__ERROR_FIELD", "Sync_Error__c")
    s = load_settings(f)
    assert s.quotes.enabled and s.quotes.statuses == ["Accepted"]
    assert s.quotes.plan_file == Path("plans/quote_to_erp.yaml")
    assert (s.writeback.quote.erp_number_field, s.writeback.quote.error_field) == (
        "ERP_Q__c",
        "Sync_Error__c",
    )
    assert channel_problem(s.quotes, s.ingest) is None


def test_bad_quote_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVFLOW_QUOTES__STATUSES", "[]")
    with pytest.raises(ConfigError, match="invalid setting REVFLOW_QUOTES__STATUSES"):
        load_settings()
    monkeypatch.delenv("REVFLOW_QUOTES__STATUSES")
    monkeypatch.setenv("REVFLOW_WRITEBACK__QUOTE__ERP_NUMBR_FIELD", "x")
    with pytest.raises(ConfigError, match="unknown setting REVFLOW_WRITEBACK__QUOTE__ERP_NUMBR"):
        load_settings()


def test_quotes_need_their_change_events() -> None:
    on = QuoteSettings(enabled=True)
    assert channel_problem(QuoteSettings(), IngestSettings()) is None  # off: nothing needed
    problem = channel_problem(on, IngestSettings())
    assert problem is not None
    assert problem.startswith("invalid setting REVFLOW_INGEST__CHANNELS: ")
    assert "/data/QuoteChangeEvent" in problem
    assert channel_problem(on, IngestSettings(channels=["/data/ChangeEvents"])) is None
    polling = channel_problem(on, IngestSettings(transport="polling"))
    assert polling is not None and "REVFLOW_QUOTES__ENABLED" in polling
