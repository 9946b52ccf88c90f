"""The child worker processes of ``revflow run --workers N``: kept running, and
stopped when their parent dies.  Real processes; the children are small stand-ins."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from revflow.metrics import WORKER_PROCESS_RESTARTS
from revflow.plans.retry import forever
from revflow.process import StepProcesses

pytestmark = pytest.mark.timeout(60)

SLEEPER = ["-c", "import time; time.sleep(600)"]
CRASHER = ["-c", "raise SystemExit(3)"]


async def test_a_killed_worker_process_is_started_again() -> None:
    processes = StepProcesses(2, None, backoff=forever(0.01, 0.01), command=SLEEPER)
    restarts = WORKER_PROCESS_RESTARTS._value.get()
    await processes.start()
    try:
        killed = processes.procs[0]
        killed.send_signal(signal.SIGKILL)
        await killed.wait()
        async with asyncio.timeout(20):
            while processes.procs[0] is killed:  # noqa: ASYNC110 - its watcher replaces it
                await asyncio.sleep(0.01)
        assert processes.procs[0].returncode is None  # a new child, running
        assert processes.procs[1].returncode is None  # the other was left alone
        assert processes.restarts == 1
        assert WORKER_PROCESS_RESTARTS._value.get() == restarts + 1
    finally:
        await processes.stop()
    assert all(p.returncode is not None for p in processes.procs)


async def test_a_worker_process_crashing_on_start_backs_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="revflow.process")
    processes = StepProcesses(1, None, backoff=forever(0.05, 10.0, jitter=0), command=CRASHER)
    await processes.start()
    try:
        async with asyncio.timeout(30):
            while processes.restarts < 5:  # noqa: ASYNC110 - its watcher restarts it
                await asyncio.sleep(0.01)
    finally:
        await processes.stop()
    restarts = [vars(r) for r in caplog.records if r.msg.startswith("worker process exited")]
    # each failure on start counts: the delay doubles (it is not reset)
    assert [r["failures"] for r in restarts][:5] == [1, 2, 3, 4, 5]
    assert [r["restart_in_s"] for r in restarts][:5] == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert {r["code"] for r in restarts} == {3}


PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
time.sleep(600)
"""

CHILD = """
import asyncio, os, sys
from pathlib import Path
from revflow.process import stop_when_orphaned

async def main():
    stopped = asyncio.Event()
    out = Path(sys.argv[1])
    out.write_text("watching")
    await stop_when_orphaned(os.getppid(), stopped.set, interval_s=0.05)
    out.write_text("stopped" if stopped.is_set() else "?")

asyncio.run(main())
"""


async def test_a_worker_process_stops_when_its_parent_dies(tmp_path: Path) -> None:
    out = tmp_path / "child.txt"
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, CHILD, str(out), env=dict(os.environ)
    )
    async with asyncio.timeout(30):
        while not out.exists() or out.read_text() != "watching":  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    parent.send_signal(signal.SIGKILL)
    await parent.wait()
    async with asyncio.timeout(30):
        while out.read_text() != "stopped":  # noqa: ASYNC110 - the orphaned child writes it
            await asyncio.sleep(0.02)
