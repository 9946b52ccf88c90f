"""``revflow demo`` as an operator runs it: exit code, the JSON summary, the failure line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "revflow", "demo", "--seed", "7", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_json_reports_per_order_latency_percentiles():
    result = demo("--orders", "8", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["completed"] == 8 and summary["duplicate_deliveries"] == 0
    p50, p95, p99 = (summary[f"latency_p{q}_s"] for q in (50, 95, 99))
    assert 0 < p50 <= p95 <= p99
    # per order, from activation: never the whole run (which includes creating the orders)
    assert p99 <= summary["elapsed_s"]


def test_lost_orders_fail_the_demo_with_one_line():
    result = demo("--orders", "3", "--timeout", "0.01", "--json")
    assert result.returncode == 1
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["completed"] < 3
    lost = 3 - summary["completed"] - summary["cancelled"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: demo failed: {lost} of 3 order(s) lost: not Completed, Cancelled or showing "
        f"a refused write-back on the "
        f"record ({summary['failed']} Failed)"
    ]
    assert result.stderr.strip().splitlines()[-1] == errors[0]  # the last word
