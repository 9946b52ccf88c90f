import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revflow.cli import cli

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_command():
    out = runner.invoke(cli, ["--help"]).output
    for command in ("run", "demo", "sandbox", "db", "mappings"):
        assert command in out


def test_run_without_an_org_names_the_missing_setting():
    result = runner.invoke(cli, ["run"])
    assert result.exit_code == 2
    assert "REVFLOW_SALESFORCE__INSTANCE_URL" in result.output
    assert "Traceback" not in result.output


def test_bad_setting_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("REVFLOW_API_PORT", "-5")
    result = runner.invoke(cli, ["run"])
    assert result.exit_code == 2
    assert "REVFLOW_API_PORT" in result.output and "Traceback" not in result.output


def test_mappings_lint_reports_file_line_and_fails(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nsource: Order\ntarget: t\nfields:\n  a: {path: Id, transfrom: upper}\n"
    )
    result = runner.invoke(cli, ["mappings", "lint", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5:" in result.output


def test_shipped_mappings_lint_clean():
    result = runner.invoke(cli, ["mappings", "lint", "mappings"])
    assert result.exit_code == 0, result.output


def test_preview_shows_document(tmp_path):
    record = tmp_path / "order.json"
    record.write_text(
        '{"Id": "8015e00000Q7mNpAAJ", "OrderNumber": "00000101", "Status": "Activated",'
        ' "EffectiveDate": "2026-01-15", "CurrencyIsoCode": "EUR", "TotalAmount": 50,'
        ' "Account": {"Name": "Acme", "AccountNumber": "A1", "BillingCountry": "DE"},'
        ' "OrderItems": [{"Id": "8025e00000Q7mNpAAJ", "Quantity": 2, "UnitPrice": 25,'
        ' "TotalPrice": 50, "Product2": {"ProductCode": "W-1", "Name": "W"}}]}'
    )
    result = runner.invoke(
        cli, ["mappings", "preview", "mappings/order_to_sales_order.yaml", "--record", str(record)]
    )
    assert result.exit_code == 0, result.output
    assert '"external_id": "8015e00000Q7mNpAAJ"' in result.output


THREE_SYSTEMS = """
erp: {type: webhook, url: "https://erp.example/hooks"}
connectors:
  warehouse: {type: amqp, exchange: warehouse}
  accounting: {type: webhook, url: "https://accounting.example/hooks"}
"""


def test_plans_lint_ok_and_explain_from_a_record_file(tmp_path):
    config = tmp_path / "revflow.yaml"
    config.write_text(THREE_SYSTEMS)
    result = runner.invoke(cli, ["plans", "lint", "plans", "--config", str(config)])
    assert result.exit_code == 0, result.output
    record = tmp_path / "order.json"
    record.write_text(
        '{"Id": "8015e00000Q7mNpAAJ", "Status": "Activated", "TotalAmount": 10,'
        ' "OrderItems": [{"Id": "8025e00000Q7mNpAAJ", "Product2": {"Family": "Hardware"}}]}'
    )
    result = runner.invoke(
        cli, ["plans", "explain", str(record), "--plan", "plans/order_fulfillment_full.yaml"]
    )
    assert result.exit_code == 0, result.output
    assert "reserve_stock@8025e00000Q7mNpAAJ" in result.output
    assert "manual_approval" in result.output and "skipped" in result.output


def test_plans_lint_checks_each_connector_exists_and_performs_the_action(tmp_path):
    config = tmp_path / "revflow.yaml"
    config.write_text(
        THREE_SYSTEMS.replace("type: webhook, url", "type: quickbooks, realm_id").replace(
            "accounting:", "acct:"
        )
    )
    plan = "plans/order_to_three_systems.yaml"
    result = runner.invoke(cli, ["plans", "lint", plan, "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f"{plan}:22:17: step 'create_sales_order': connector 'erp' has no action "
        "'sales_order.create' (it performs: create_invoice, invoice.create)",
        f"{plan}:34:20: step 'create_invoice': unknown connector 'accounting' "
        "(configured: acct, erp, warehouse)",
    ]


def test_demo_refuses_an_unknown_plan_in_one_line():
    result = runner.invoke(cli, ["demo", "--plan", "order_to_nowhere"])
    assert result.exit_code == 2
    assert "--plan: no plan file or shipped plan 'order_to_nowhere'" in result.output
    assert "order_to_three_systems" in result.output


def test_plans_lint_reports_a_cycle(tmp_path):
    bad = tmp_path / "cycle.yaml"
    text = Path("plans/order_fulfillment.yaml").read_text()
    bad.write_text(text.replace("depends_on: [validate]", "depends_on: [create_invoice]", 1))
    result = runner.invoke(cli, ["plans", "lint", str(bad)])
    assert result.exit_code == 1
    assert "cycle" in result.output and str(bad) in result.output


def test_sandbox_writes_its_private_key_for_the_owner_only(tmp_path):
    key_file = tmp_path / "sandbox-private-key.pem"
    key_file.write_text("an old key, world-readable")
    key_file.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVFLOW_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "revflow", "sandbox", "--port", "0", "--erp-port", "0"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:  # the settings are printed after the key is written
            printed.append(line)
            if "REVFLOW_ERP__SECRETS" in line:
                break
        assert f"  REVFLOW_SALESFORCE__PRIVATE_KEY_FILE={key_file}\n" in printed
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_private_keys_are_ignored_by_git():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "sandbox-private-key.pem", "keys/prod.pem"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert checked.stdout.split() == ["sandbox-private-key.pem", "keys/prod.pem"]


def test_demo_refuses_a_misspelt_variable_in_one_line(monkeypatch):
    monkeypatch.setenv("REVFLOW_LOGLEVEL", "DEBUG")
    result = runner.invoke(cli, ["demo", "--orders", "1"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: unknown setting REVFLOW_LOGLEVEL (did you mean REVFLOW_LOG_LEVEL?)"
    )


def test_run_refuses_a_misspelt_variable_and_a_bad_erp_secret(monkeypatch):
    monkeypatch.setenv("REVFLOW_API_PROT", "9000")
    result = runner.invoke(cli, ["run"])
    assert (result.exit_code, result.output.strip()) == (
        2,
        "error: unknown setting REVFLOW_API_PROT (did you mean REVFLOW_API_PORT?)",
    )
    monkeypatch.delenv("REVFLOW_API_PROT")
    monkeypatch.setenv("REVFLOW_ERP__SECRETS", '["whsec_c2VjcmV0", "s3cret-value"]')
    result = runner.invoke(cli, ["run"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: invalid setting REVFLOW_ERP__SECRETS[1]: Value error, webhook secret is not "
        "whsec_<base64>"
    )


def test_demo_takes_a_database_file_or_a_url_not_both(tmp_path):
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/x"
    args = ["demo", "--database", str(tmp_path / "d.sqlite"), "--database-url", url]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "--database-url" in result.output and "Traceback" not in result.output


def _first_line(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _point_at(org, monkeypatch) -> None:
    """REVFLOW_* settings for the sandbox org (the ERP is required but never called)."""
    import json

    from revflow.connectors.signing import generate_secret
    from revflow.sandbox.org import ConnectedApp

    org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    for key, value in {
        "INSTANCE_URL": org.instance_url,
        "AUTH": "client_credentials",
        "CLIENT_ID": "ck",
        "CLIENT_SECRET": "s3cret",
    }.items():
        monkeypatch.setenv(f"REVFLOW_SALESFORCE__{key}", value)
    monkeypatch.setenv("REVFLOW_ERP__URL", "http://127.0.0.1:9/erp")
    monkeypatch.setenv("REVFLOW_ERP__SECRETS", json.dumps([generate_secret()]))


async def test_explain_an_order_of_a_single_currency_org(org, monkeypatch):
    """`plans explain ORDER_ID` reads the order without selecting CurrencyIsoCode, which
    a single-currency org does not have, and explains it."""
    import asyncio

    from tests.orgkit import Shop

    org.single_currency = "EUR"
    _point_at(org, monkeypatch)
    order_id = Shop(org).order()
    # the command runs its own event loop; the org keeps serving on this one
    result = await asyncio.to_thread(runner.invoke, cli, ["plans", "explain", order_id])
    assert result.exit_code == 0, result.output
    assert order_id in result.output and "create_sales_order" in result.output


async def test_explain_a_quote_by_its_id(org, monkeypatch):
    """`plans explain QUOTE_ID` reads the Quote with its lines and explains the Quote plan."""
    import asyncio

    from revflow.sandbox.org import DEMO_USER_ID
    from revflow.sandbox.records import RecordStore

    _point_at(org, monkeypatch)
    store = RecordStore(org)
    quote_id = store.create("Quote", {"Name": "Q", "Status": "Approved"}, user_id=DEMO_USER_ID)
    result = await asyncio.to_thread(runner.invoke, cli, ["plans", "explain", quote_id])
    assert result.exit_code == 0, result.output
    assert "quote_to_erp" in result.output and "create_erp_quote" in result.output
    from revflow.sandbox.ids import new_id

    missing = new_id("Quote")
    result = await asyncio.to_thread(runner.invoke, cli, ["plans", "explain", missing])
    assert result.exit_code != 0
    assert f"quote {missing} not found in Salesforce" in result.output


async def test_mappings_lint_org_in_a_single_currency_org(org, monkeypatch):
    """lint --org says what start-up would: CurrencyIsoCode is supplied, a missing
    field is named by file and line (the quote mapping included)."""
    import asyncio

    org.single_currency = "EUR"
    _point_at(org, monkeypatch)
    args = ["mappings", "lint", "mappings", "--org"]
    clean = await asyncio.to_thread(runner.invoke, cli, args)
    assert clean.exit_code == 0, clean.output
    org.missing_fields = {"Account.AccountNumber"}
    result = await asyncio.to_thread(runner.invoke, cli, args)
    assert result.exit_code == 1
    quote = Path("mappings/quote_to_erp_quote.yaml")
    assert f"{quote}:{_first_line(quote, 'AccountNumber')}:" in result.output
    assert "CurrencyIsoCode" not in result.output


def test_demo_with_an_unreadable_mappings_folder_says_so_in_one_line(monkeypatch, tmp_path):
    import logging

    # the demo points the root logger at the runner's stream, which closes afterwards
    monkeypatch.setattr(logging.getLogger(), "handlers", list(logging.getLogger().handlers))
    monkeypatch.setenv("REVFLOW_MAPPINGS_DIR", str(tmp_path / "missing"))
    result = runner.invoke(cli, ["demo", "--orders", "1", "--database", str(tmp_path / "d.db")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'missing'}:1:1: no such file or directory"


@pytest.mark.parametrize("args", [["run", "--workers", "2"], ["worker"]])
def test_extra_worker_processes_are_refused_on_sqlite(monkeypatch, tmp_path, args):
    for name, value in {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite",
        "SALESFORCE__INSTANCE_URL": "http://127.0.0.1:9",
        "SALESFORCE__CLIENT_ID": "id",
        "SALESFORCE__AUTH": "client_credentials",
        "SALESFORCE__CLIENT_SECRET": "secret",
        "ERP__URL": "http://127.0.0.1:9/erp",
        "ERP__SECRETS": '["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]',
    }.items():
        monkeypatch.setenv("REVFLOW_" + name, value)
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "needs PostgreSQL" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.sqlite").exists()  # refused before touching the database
