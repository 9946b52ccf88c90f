"""Chaos for ``revflow demo --chaos``: the org's faults, SIGKILLs of the Revflow
process, and database outages through the proxy."""

from __future__ import annotations

import asyncio
import random

from revflow.process import RevflowProcess
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.tcp_proxy import TcpProxy


class Chaos:
    """Part of ``DemoEnvironment``: turning faults on while orders flow."""

    org: SandboxOrg
    rng: random.Random
    proxy: TcpProxy | None
    process: RevflowProcess | None
    _monkey: asyncio.Task[None] | None
    _outages: asyncio.Task[None] | None

    def start_chaos(
        self,
        kill_every_s: tuple[float, float] = (2.0, 6.0),
        max_kills: int | None = None,
        outage_every_s: tuple[float, float] = (2.0, 6.0),
    ) -> None:
        """Turn on the org's faults and kill the Revflow process at random moments; with
        a database proxy, also cut the database away at random moments (as many times
        as the process is killed)."""
        f = self.org.faults
        f.unknown_client, f.drop_connection, f.duplicate_events = 0.05, 0.05, 0.05
        f.duplicate_next = 2  # at least these, however few events the run makes
        # few transactions carry many changes here (bulk activation), so overflow is likelier
        f.gap_events, f.overflow_events = 0.03, 0.25
        self._monkey = asyncio.create_task(self._kill_loop(kill_every_s, max_kills))
        if self.proxy is not None:
            self._outages = asyncio.create_task(
                self._outage_loop(outage_every_s, max_outages=max_kills)
            )

    async def stop_chaos(self) -> None:
        """Faults off, the kill and outage loops stopped, Revflow running and its
        database reachable again (``--serve`` keeps it up for a person to look around)."""
        for task in (self._monkey, self._outages):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._monkey = self._outages = None
        f = self.org.faults
        f.unknown_client = f.drop_connection = f.duplicate_events = 0.0
        f.gap_events = f.overflow_events = 0.0
        f.duplicate_next = 0
        if self.proxy is not None and self.proxy.is_cut:
            await self.proxy.restore()
        if self.process is not None and not self.process.running:
            await self.process.start()

    async def _outage_loop(
        self,
        every: tuple[float, float] = (3.0, 8.0),
        lasting: tuple[float, float] = (2.0, 5.0),
        max_outages: int | None = None,
    ) -> None:
        """Cut the database connection at random moments, for a few seconds each time."""
        assert self.proxy is not None
        while max_outages is None or self.proxy.cuts < max_outages:
            await asyncio.sleep(self.rng.uniform(*every))
            await self.proxy.cut()
            self.org.note_fault("database_outage")
            await asyncio.sleep(self.rng.uniform(*lasting))
            await self.proxy.restore()

    async def _kill_loop(self, every: tuple[float, float], max_kills: int | None) -> None:
        """Kill at random moments; each restart gets time to start up and do some work."""
        assert self.process is not None
        expired = False
        while max_kills is None or self.process.kills < max_kills:
            await asyncio.sleep(self.rng.uniform(*every))
            await self.process.kill()
            self.org.note_fault("consumer_killed")
            if not expired and self.rng.random() < 0.5:
                # the stored replay id falls out of retention while Revflow is down
                self.org.events.expire(keep_last=5)
                self.org.note_fault("replay_expired")
                expired = True
            await asyncio.sleep(self.rng.uniform(0.1, 0.5))
            await self.process.start()
