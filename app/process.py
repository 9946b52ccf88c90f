"""Revflow as child processes: ``revflow run`` for the chaos demo (killed and
restarted), and the steps-only ``revflow worker`` processes of ``run --workers N``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from revflow.config import ENV_PREFIX

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
    this process dies (``--parent-pid``); one that exits is started again.
    """

    RESTART_DELAY_S = 1.0

    def __init__(self, count: int, config: Path | None) -> None:
        self.count = count
        self.args = ["-m", "revflow", "worker", "--parent-pid", str(os.getpid())]
        if config is not None:
            self.args += ["--config", str(config)]
        self.procs: list[asyncio.subprocess.Process] = []
        self._stopping = False
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
        while True:
            code = await self.procs[index].wait()
            if self._stopping:
                return
            log.warning("worker process exited; starting it again", extra={"code": code})
            await asyncio.sleep(self.RESTART_DELAY_S)
            if self._stopping:
                return
            self.procs[index] = await self._spawn()

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM: each finishes and commits its running steps; SIGKILL after ``timeout_s``."""
        self._stopping = True
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
