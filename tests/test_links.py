"""Console links and REVFLOW_CONSOLE__PUBLIC_URL."""

from __future__ import annotations

import pytest

from revflow.config import ConfigError, load_settings
from revflow.links import ConsoleSettings, plan_url


def test_plan_url_joins_the_public_url_and_the_plan_page() -> None:
    assert plan_url(ConsoleSettings(public_url="https://r.example.com/ops/"), 7) == (
        "https://r.example.com/ops/console/plans/7"
    )
    assert plan_url(ConsoleSettings(), 7) is None


@pytest.mark.parametrize("value", ["revflow.example.com", "ftp://x", "https://x/?a=1"])
def test_a_bad_public_url_names_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("REVFLOW_CONSOLE__PUBLIC_URL", value)
    with pytest.raises(ConfigError, match="REVFLOW_CONSOLE__PUBLIC_URL"):
        load_settings()
