"""Revflow as child processes: ``revflow run`` for the chaos demo (killed and
restarted), and the steps-only ``revflow worker`` processes of ``run --workers N``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from revflow.aio import sleep_until
from revflow.config import ENV_PREFIX
from revflow.metrics import WORKER_PROCESS_RESTARTS
from revflow.plans.retry import RetryPolicy
from revflow.supervisor import DEFAULT_BACKOFF

log = logging.getLogger("revflow.process")


def settings_env(values: dict[str, Any], prefix: str = ENV_PREFIX) -> dict[str, str]:
    """Flatten nested settings into ``REVFLOW_A__B`` variables (lists and maps as JSON)."""
    env: dict[str, str] = {}
    for key, value in values.items():
        name = prefix + key.upper()
        if isinstance(value, dict) and prefix == ENV_PREFIX:
            env.update(settings_env(value, name + "__"))
        elif isinstance(value, dict | list):
            env[name] = json.dumps(value)
        elif value is not None:
            env[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


class RevflowProcess:
    """One ``revflow run`` child with its own settings; killable with SIGKILL."""

    def __init__(self, values: dict[str, Any], log_path: Path, args: tuple[str, ...] = ()) -> None:
        """``args``: after ``revflow run`` (e.g. ``--workers 2``)."""
        self.args = args
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        self.env.update(settings_env(values))
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.starts = 0

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "revflow",
            "run",
            *self.args,
            env=self.env,
            stdout=log,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
        )
        log.close()
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release, whatever it was doing is cut off."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            self.kills += 1

    async def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()


class StepProcesses:
    """The extra ``revflow worker`` processes of ``revflow run --workers N``.

    They inherit the environment, stdout and stderr, and stop by themselves when
    this process dies (``--parent-pid``).  One that exits is started again after the
    supervisor's backoff: a child that keeps crashing on start waits longer each time
    (logged, and counted in ``revflow_worker_process_restarts_total``); one that ran
    ``HEALTHY_S`` before it exited starts again at the first delay.
    """

    HEALTHY_S = 30.0

    def __init__(
        self,
        count: int,
        config: Path | None,
        *,
        backoff: RetryPolicy | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        """``command``: the child's arguments after the interpreter (tests)."""
        self.count = count
        self.args = ["-m", "revflow", "worker", "--parent-pid", str(os.getpid())]
        if config is not None:
            self.args += ["--config", str(config)]
        if command is not None:
            self.args = list(command)
        self.backoff = backoff or DEFAULT_BACKOFF
        self.rng = random.Random()
        self.procs: list[asyncio.subprocess.Process] = []
        self.restarts = 0
        self._stopping = asyncio.Event()
        self._watch: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for index in range(self.count):
            self.procs.append(await self._spawn())
            self._watch.append(asyncio.create_task(self._keep(index)))

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, *self.args, stdin=asyncio.subprocess.DEVNULL
        )

    async def _keep(self, index: int) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            code = await self.procs[index].wait()
            if self._stopping.is_set():
                return
            ran_s = time.monotonic() - started
            failures = 1 if ran_s >= self.HEALTHY_S else failures + 1
            delay = self.backoff.backoff_s(failures, self.rng)
            self.restarts += 1
            WORKER_PROCESS_RESTARTS.inc()
            log.warning(
                "worker process exited; starting it again",
                extra={
                    "code": code,
                    "pid": self.procs[index].pid,
                    "ran_s": round(ran_s, 1),
                    "failures": failures,
                    "restart_in_s": round(delay, 3),
                },
            )
            await sleep_until(delay, self._stopping)
            if self._stopping.is_set():
                return
            self.procs[index] = await self._spawn()

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM: each finishes and commits its running steps; SIGKILL after ``timeout_s``."""
        self._stopping.set()
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.gather(*self._watch, return_exceptions=True)


async def stop_when_orphaned(
    parent_pid: int, stop: Callable[[], None], interval_s: float = 1.0
) -> None:
    """Call ``stop()`` once ``parent_pid`` is no longer this process's parent (it died)."""
    # polled: no event tells a process its parent died (prctl's signal is Linux-only)
    while os.getppid() == parent_pid:  # noqa: ASYNC110
        await asyncio.sleep(interval_s)
    log.warning("parent process gone; stopping", extra={"parent_pid": parent_pid})
    stop()
