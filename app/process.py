"""Run ``revflow run`` as a child process (the chaos demo kills and restarts it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from revflow.config import ENV_PREFIX


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

    def __init__(self, values: dict[str, Any], log_path: Path) -> None:
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
