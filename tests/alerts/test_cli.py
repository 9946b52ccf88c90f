"""``revflow alerts lint`` and ``revflow alerts test RULE --order ID`` (sends nothing)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revflow.cli import cli
from revflow.sandbox.org import DEMO_USER_EMAIL, DEMO_USER_ID, SandboxOrg
from tests.alerts.alertkit import ORDER
from tests.orgkit import Shop
from tests.test_cli import _point_at

runner = CliRunner()


def test_lint_the_shipped_example_and_a_broken_file(tmp_path: Path) -> None:
    ok = runner.invoke(cli, ["alerts", "lint"])
    assert ok.exit_code == 0, ok.output
    assert "rules.yaml: alert rules OK" in ok.output
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "rules:\n  - name: a\n    events: step_fallout\n    notify: [{to: x, via: email}]\n"
    )
    result = runner.invoke(cli, ["alerts", "lint", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4:19: rule 'a': 'to' must be owner, on_call" in result.output
    assert result.output.splitlines()[0].endswith("[to]")


@pytest.fixture
def order_file(tmp_path: Path) -> Path:
    path = tmp_path / "order.json"
    path.write_text(json.dumps(ORDER))
    return path


def test_test_shows_each_level_without_an_org(order_file: Path) -> None:
    result = runner.invoke(cli, ["alerts", "test", "step-fallout", "--order", str(order_file)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "rule step-fallout alerts on step_fallout for order 00000123 (severity error); "
        "nothing is sent by this command"
    )
    assert lines[2] == f"  the Order's owner: OwnerId {DEMO_USER_ID} via email, slack, salesforce"
    assert "team finance-ops (email: finance-ops@example.com, slack: finance)" in lines[4]
    assert lines[-1] == "at most 50 alert(s) per 1h"
    big = runner.invoke(cli, ["alerts", "test", "big-order-jeopardy", "--order", str(order_file)])
    assert big.output.splitlines()[-1] == (
        "first messages wait for a digest every 1h (one message per recipient and channel)"
    )


def test_test_says_which_condition_fails(tmp_path: Path, order_file: Path) -> None:
    small = tmp_path / "small.json"
    small.write_text(json.dumps({**ORDER, "TotalAmount": 500}))
    result = runner.invoke(cli, ["alerts", "test", "big-order-jeopardy", "--order", str(small)])
    assert result.exit_code == 0, result.output
    assert (
        "does not alert" in result.output and "TotalAmount 500 is not above 10000" in result.output
    )
    unknown = runner.invoke(cli, ["alerts", "test", "nope", "--order", str(order_file)])
    assert unknown.exit_code == 2 and "no rule 'nope'" in unknown.output


async def test_test_reads_the_order_and_its_owner_from_the_org(
    org: SandboxOrg, monkeypatch
) -> None:
    _point_at(org, monkeypatch)
    order_id = Shop(org).order()
    # the command runs its own event loop; the org keeps serving on this one
    result = await asyncio.to_thread(
        runner.invoke, cli, ["alerts", "test", "step-fallout", "--order", order_id]
    )
    assert result.exit_code == 0, result.output
    assert f"the Order's owner: Dana Demo <{DEMO_USER_EMAIL}> ({DEMO_USER_ID})" in result.output
