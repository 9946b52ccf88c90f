"""bench.peers: DBOS runs the same five steps per workflow; without dbos it is skipped."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench import workflow
from bench.peers.__main__ import dbos_installed
from bench.scratch import scratch_database
from tests.conftest import PG_URL


def test_without_the_dbos_package_the_dbos_part_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dbos", None)  # import dbos raises ImportError
    assert not dbos_installed()


@pytest.mark.skipif(not PG_URL, reason="needs REVFLOW_TEST_DATABASE_URL (PostgreSQL)")
@pytest.mark.parametrize("mode", ["direct", "threads", "queue"])
def test_dbos_runs_five_steps_per_workflow(mode: str) -> None:
    pytest.importorskip("dbos", reason="the optional 'peers' extra is not installed")
    assert PG_URL is not None
    with scratch_database(PG_URL, "dbos_test") as url:
        done = subprocess.run(
            [sys.executable, "-m", "bench.peers.dbos_run", url, "3", "2", mode],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["steps"] == 3 * workflow.STEPS_PER_WORKFLOW
