"""The service runs the alerts loop under the supervisor when rules are configured, and
refuses to start with a broken rules file, naming the setting and each problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from revflow.alerts import runtime
from revflow.config import ConfigError, load_settings
from revflow.connectors.base import FakeConnector
from revflow.resources import shipped
from revflow.service import Revflow


def settings(tmp_path: Path, **alerts: object):
    return load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/x.sqlite",
        alerts=alerts,
        console={"public_url": "https://revflow.example.com"},
    )


def revflow(tmp_path: Path, **alerts: object) -> Revflow:
    return Revflow(
        settings(tmp_path, **alerts),
        connectors={"erp": FakeConnector(lambda *a: None)},
        serve_api=False,
    )


async def test_rules_start_the_supervised_alerts_loop(tmp_path: Path) -> None:
    service = revflow(
        tmp_path, rules_file=str(shipped("alerts") / "rules.yaml"), email={"host": "127.0.0.1"}
    )
    try:
        assert "alerts" in service.supervisor.names
        assert set(service.alerts.channels) == {"email"}
        installed = runtime.current()
        assert installed is not None and installed.rules.rule("step-fallout") is not None
        assert service.alerts.loops is service.supervisor  # loop_down alerts
    finally:
        await service.stop()


async def test_without_rules_there_is_no_alerts_loop(tmp_path: Path) -> None:
    service = revflow(tmp_path)
    try:
        assert "alerts" not in service.supervisor.names and runtime.current() is None
    finally:
        await service.stop()


def test_a_broken_rules_file_refuses_to_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: a\n    events: nope\n    notify: [{to: owner, via: email}]\n"
    )
    with pytest.raises(ConfigError) as err:
        revflow(tmp_path, rules_file=str(rules))
    assert str(err.value) == (
        "invalid alert rules (REVFLOW_ALERTS__RULES_FILE):\n"
        f"{rules}:3:13: rule 'a': unknown event 'nope' (one of: step_fallout, "
        "validation_failure, jeopardy_at_risk, jeopardy_late, webhook_endpoint_disabled, "
        "api_budget_exhausted, ingestion_incident, loop_down, permanent_query_error, mention)"
    )
