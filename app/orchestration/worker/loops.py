"""The worker's supervised loops: claim and run, commit, keep leases, waits, jeopardy."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta

from revflow.aio import Beat, no_beat, sleep_until
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.errors import unavailable
from revflow.db.notify import CHECK_S, STEPS_CHANNEL, Listener
from revflow.logs import correlation_id
from revflow.metrics import STEP_DURATION
from revflow.orchestration import claims
from revflow.orchestration.executor import ClaimedStep, StepExecutor, StepResult
from revflow.orchestration.jeopardy_watch import sweep
from revflow.orchestration.worker import claim as claiming
from revflow.orchestration.worker.commit import Committer
from revflow.orchestration.worker.waits import Waits
from revflow.orchestration.worker.wakeup import next_due_in
from revflow.plans.definitions import PlanDefinition
from revflow.supervisor import LoopFn, Supervisor

log = logging.getLogger("revflow.worker")

IDLE_BEAT_S = 0.5  # an idle loop still reports progress this often


class Worker:
    def __init__(
        self,
        db: Database,
        executor: StepExecutor,
        definitions: Mapping[str, PlanDefinition],
        writeback: WritebackSettings,
        *,
        concurrency: int = 32,
        lease_s: float = 30.0,
        poll_interval_s: float = 0.1,
        idle_poll_s: float = 2.0,
        listener: Listener | None = None,
        owner: str | None = None,
        wakeup: asyncio.Event | None = None,
        signal_poll_s: float = 0.5,
        jeopardy_sweep_s: float = 60.0,
    ) -> None:
        self.db = db
        self.executor = executor
        self.definitions = definitions
        self.writeback = writeback
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_s)
        self.poll_interval_s = poll_interval_s
        self.idle_poll_s = idle_poll_s
        self.listener = listener
        self.notified = asyncio.Event()  # another transaction made steps due
        self._due_looked_up = self._due = float("-inf")  # loop time of the next due step
        self._claimed_at = float("-inf")  # loop time the last claim started
        if listener is not None:
            listener.subscribe(STEPS_CHANNEL, self.notified)
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.wakeup = wakeup or asyncio.Event()
        self.signal_poll_s = signal_poll_s
        self.jeopardy_sweep_s = jeopardy_sweep_s
        self.commits = Committer(db, definitions, writeback, self.owner, self.wakeup, self.lease)
        self.waits = Waits(db, writeback, self.wakeup)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._done: asyncio.Queue[tuple[ClaimedStep, StepResult]] = asyncio.Queue()
        self._batch: list[tuple[ClaimedStep, StepResult]] = []  # being committed

    @property
    def executed(self) -> int:
        """Outcomes committed by this worker."""
        return self.commits.executed

    async def claim(self, limit: int) -> list[ClaimedStep]:
        return await claiming.claim(self.db, self.owner, self.lease, limit)

    async def complete(self, step: ClaimedStep, result: StepResult) -> bool:
        """Commit the outcome if this worker still holds the lease; False if it lost it."""
        return (await self.complete_many([(step, result)]))[0]

    async def complete_many(self, done: list[tuple[ClaimedStep, StepResult]]) -> list[bool]:
        return await self.commits.complete_many(done)

    async def poll_waits(self, limit: int = 100) -> int:
        return await self.waits.poll(limit)

    async def extend_leases(self) -> None:
        ids = list(self._running)
        if not ids:
            return
        async with self.db.write() as s:
            await claims.extend_leases(s, ids, self.owner, utcnow() + self.lease)

    def loops(self) -> dict[str, tuple[LoopFn, float]]:
        """The worker's loops by name, each with its interval (the service supervises each)."""
        loops: dict[str, tuple[LoopFn, float]] = {}
        if self.listener is not None:  # LISTEN/NOTIFY wakeups (PostgreSQL)
            loops["listener"] = (self.listener.run, CHECK_S)
        return loops | {
            "worker": (self.claim_loop, self._claim_interval_s),
            "worker_commits": (self.commit_loop, self.poll_interval_s),
            "worker_leases": (self.lease_loop, self.lease.total_seconds() / 3),
            "waits": (self.waits_loop, self.signal_poll_s),
            "jeopardy": (self.jeopardy_loop, self.jeopardy_sweep_s),
        }

    @property
    def _claim_interval_s(self) -> float:
        """How often an idle claim loop beats: its fallback poll when notifications wake it."""
        if self.listener is None:
            return self.poll_interval_s
        return max(self.poll_interval_s, self.idle_poll_s)

    async def run(self, stop: asyncio.Event) -> None:
        """All of the worker's loops under a supervisor of their own (for tests and tools)."""
        supervisor = Supervisor()
        for name, (loop, interval_s) in self.loops().items():
            supervisor.add(name, loop, interval_s=interval_s)
        supervisor.start(stop)
        await stop.wait()
        await supervisor.wait(self.lease.total_seconds())

    async def claim_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Claim due steps and start them; on stop, let the running ones finish."""
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                # cleared before the claim: a wakeup during it is for steps it may miss
                self.wakeup.clear()
                self.notified.clear()
                self._claimed_at = asyncio.get_running_loop().time()
                claimed = await self.claim(free) if free > 0 else []
                self._start(claimed)
                beat()
                if len(claimed) < max(free, 1):
                    await self._idle(stop, nothing_due=free > 0 and not claimed)
        finally:
            if stop.is_set() and self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _start(self, steps: list[ClaimedStep]) -> None:
        """Run steps this worker has just leased (claimed or chained)."""
        for step in steps:
            if step.id in self._running:
                # its outcome waits to be committed (the database was away long
                # enough for the lease to lapse): the claim renewed our lease
                continue
            self._running[step.id] = asyncio.create_task(self._run_one(step))

    async def _idle(self, stop: asyncio.Event, *, nothing_due: bool) -> None:
        """Wait for steps to claim: this worker's commits and waits wake it (``wakeup``);
        with the listener up also other processes' (``notified``), and it polls only
        every ``idle_poll_s`` or at the next step's known due time.  Without it (SQLite,
        the listener reconnecting) it polls every ``poll_interval_s``."""
        if self.listener is None or not self.listener.listening:
            await sleep_until(self.poll_interval_s, self.wakeup, self.notified, stop)
            return
        clock = asyncio.get_running_loop().time
        wait_s = await self._until_due(clock()) if nothing_due else self.idle_poll_s
        await sleep_until(wait_s, self.wakeup, self.notified, stop)
        if self.notified.is_set() and not self.wakeup.is_set():
            # notified only: by other processes' commits, or this one's (which set
            # ``wakeup`` and were claimed already): one claim per poll interval at most
            # for them, the fast poll's rate, however many notifications arrive
            rest_s = self._claimed_at + self.poll_interval_s - clock()
            if rest_s > 0:
                await sleep_until(rest_s, self.wakeup, stop)

    async def _until_due(self, now: float) -> float:
        """Seconds until the next step's known due time, at most ``idle_poll_s``; looked
        up at most once per ``idle_poll_s`` (a busy worker finds nothing due often)."""
        if now - self._due_looked_up >= self.idle_poll_s:
            self._due_looked_up = now
            self._due = now + await next_due_in(self.db, self.idle_poll_s)
        return self._due - now if self._due > now else self.idle_poll_s

    async def commit_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Commit finished steps in batches: whatever finished while the last batch was written.

        A batch that cannot be committed because the database is unreachable stays
        (``_batch``) and is committed when the loop is restarted; the steps' leases are
        held meanwhile (``lease_loop``), so they are neither run again nor lost.
        """
        while not (stop.is_set() and not self._running and not self._batch):
            if not self._batch:
                try:
                    first = await asyncio.wait_for(self._done.get(), IDLE_BEAT_S)
                except TimeoutError:
                    beat()
                    continue
                self._batch = [first]
                while not self._done.empty():
                    self._batch.append(self._done.get_nowait())
            # the slots this batch frees, at most: the claim loop may be filling the others
            freed = len(self._batch)
            chain = (
                0 if stop.is_set() else min(freed, self.concurrency - len(self._running) + freed)
            )
            chained: list[ClaimedStep] = []
            try:
                _kept, chained = await self.commits.commit(self._batch, chain)
            except Exception as exc:
                if unavailable(exc):
                    raise  # kept in _batch for the restart
                log.exception("step outcomes could not be recorded")
            full = len(self._running) >= self.concurrency
            for step, _result in self._batch:
                self._running.pop(step.id, None)
                self._done.task_done()
            self._start(chained)
            if full and len(chained) < freed:
                # the claim loop waits for free slots (a retry or failure frees one too)
                self.wakeup.set()
            self._batch = []
            beat()

    async def lease_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Extend the leases of the running steps (and those waiting to be committed)."""
        interval = self.lease.total_seconds() / 3
        while not (stop.is_set() and not self._running):
            await self.extend_leases()
            beat()
            if stop.is_set():  # the last steps are finishing: keep their leases
                await asyncio.sleep(min(interval, IDLE_BEAT_S))
            else:
                await sleep_until(interval, stop)

    async def waits_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Complete waiting steps whose signal arrived; time out the expired ones."""
        while not stop.is_set():
            await self.poll_waits()
            beat()
            await sleep_until(self.signal_poll_s, stop)

    async def jeopardy_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Re-check open plans' jeopardy, so a stuck plan turns late without a step finishing."""
        while not stop.is_set():
            await sweep(self.db, self.writeback)
            beat()
            await sleep_until(self.jeopardy_sweep_s, stop)

    async def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Claim and run steps until none is due (for tests and tools)."""
        done = 0
        for _ in range(max_rounds):
            resolved = await self.poll_waits()
            claimed = await self.claim(self.concurrency)
            if not claimed and not resolved:
                return done
            results = await asyncio.gather(*(self.executor.run(s) for s in claimed))
            await self.complete_many(list(zip(claimed, results, strict=True)))
            done += len(claimed)
        return done

    async def _run_one(self, step: ClaimedStep) -> None:
        """Execute a step and hand its outcome to the committer (the lease stays held)."""
        token = correlation_id.set(step.correlation_id)
        try:
            result = await self.executor.run(step)
            STEP_DURATION.observe(max(0.0, time.time() - result.started))
            await self._done.put((step, result))
        except Exception:  # the executor turns errors into outcomes; this is a bug
            log.exception("step execution crashed; it runs again when its lease expires")
            self._running.pop(step.id, None)
        finally:
            correlation_id.reset(token)
