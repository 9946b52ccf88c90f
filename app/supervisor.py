"""The loop supervisor: runs Revflow's long-running loops, restarts them, knows their health.

Each loop is an ``async (stop, beat)`` function that runs until ``stop`` is set and
calls ``beat()`` after every iteration that got its work done (or found none).  A
loop that raises is restarted after a Temporal-style backoff (initial interval,
coefficient, maximum interval, with jitter).  A failure is logged once per cause,
with its traceback; repeats of the same cause are only counted (and summed up in a
reminder every ``remind_s``); the recovery is logged with how many failures it ended.
``revflow_loop_restarts_total{loop}`` counts restarts, ``revflow_loop_up{loop}`` is 0
while a loop is restarting.

``report()`` is what ``/readyz`` shows: the loops that are down (failed, not yet
back) and those that have not beaten within their staleness limit.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from revflow.aio import Beat, sleep_until
from revflow.config import SupervisorSettings
from revflow.metrics import LOOP_PROGRESS, LOOP_RESTARTS, LOOP_UP
from revflow.plans.retry import RetryPolicy, forever

log = logging.getLogger("revflow.supervisor")

LoopFn = Callable[[asyncio.Event, Beat], Awaitable[None]]


# delay before the n-th consecutive restart (``RetryPolicy.backoff_s(n)``)
DEFAULT_BACKOFF = forever(0.5, 30.0, jitter=0.2)


def backoff_for(settings: SupervisorSettings) -> RetryPolicy:
    """The configured restart backoff (``REVFLOW_SUPERVISOR__*``): loops and worker processes."""
    return forever(
        settings.initial_interval_s,
        settings.maximum_interval_s,
        jitter=settings.jitter,
        backoff_coefficient=settings.backoff_coefficient,
    )


def describe(exc: BaseException) -> str:
    """The cause in one line: the driver's error for database errors, without the SQL."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's error
    if isinstance(orig, BaseException):
        inner = getattr(orig, "__cause__", None) or orig
        return f"{type(exc).__name__}: {type(inner).__name__}: {inner}".strip()
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}".rstrip(": ")


@dataclass
class LoopHealth:
    """What the supervisor knows of one loop."""

    name: str
    stale_after_s: float
    last_progress: float
    state: str = "starting"  # starting, up, restarting, finished, stopped
    restarts: int = 0
    failures: int = 0  # consecutive, since the last progress
    cause: str | None = None
    down_since: float | None = None
    repeats: int = 0  # failures of the same cause since it was last logged
    logged_at: float = 0.0

    def out(self, now: float) -> dict[str, Any]:
        return {
            "state": self.state,
            "since_progress_s": round(now - self.last_progress, 3),
            "stale_after_s": self.stale_after_s,
            "restarts": self.restarts,
            "error": self.cause if self.state == "restarting" else None,
        }


@dataclass
class Report:
    """The loops that are down or stale, and every loop's state."""

    down: list[str]
    stale: list[str]
    loops: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.down or self.stale)


class Supervisor:
    def __init__(
        self,
        backoff: RetryPolicy | None = None,
        *,
        stale_after_s: float = 30.0,
        remind_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.backoff = backoff or DEFAULT_BACKOFF
        self.min_stale_s = stale_after_s
        self.remind_s = remind_s
        self.clock = clock
        self.rng = rng or random.Random()
        self._loops: dict[str, tuple[LoopFn, LoopHealth]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, name: str, run: LoopFn, *, interval_s: float) -> None:
        """Supervise ``run``; it is stale after max(stale_after_s, 3 x interval_s) silent."""
        if name in self._loops:
            raise ValueError(f"loop {name!r} is supervised already")
        stale = max(self.min_stale_s, 3 * interval_s)
        self._loops[name] = (run, LoopHealth(name, stale, self.clock()))

    @property
    def names(self) -> list[str]:
        return list(self._loops)

    def health(self, name: str) -> LoopHealth:
        return self._loops[name][1]

    def start(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """Start every loop on its own task; the tasks end once ``stop`` is set."""
        for name, (run, health) in self._loops.items():
            health.last_progress = self.clock()
            LOOP_UP.labels(loop=name).set(1)
            task = asyncio.create_task(self._supervise(run, health, stop), name=name)
            self._tasks.append(task)
        return list(self._tasks)

    async def _supervise(self, run: LoopFn, health: LoopHealth, stop: asyncio.Event) -> None:
        def beat() -> None:
            self._beat(health)

        while not stop.is_set():
            try:
                await run(stop, beat)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self._failed(health, exc)
                await sleep_until(delay, stop)
                continue
            if not stop.is_set():  # a loop with nothing to do (e.g. sweep disabled)
                health.state = "finished"
                log.info("loop finished", extra={"loop": health.name})
                return
        health.state = "stopped"

    def _beat(self, health: LoopHealth) -> None:
        now = self.clock()
        health.last_progress = now
        LOOP_PROGRESS.labels(loop=health.name).set(time.time())
        if health.state == "up":
            return
        if health.state == "restarting":
            log.warning(
                "loop recovered",
                extra={
                    "loop": health.name,
                    "failures": health.failures,
                    "down_s": round(now - (health.down_since or now), 3),
                    "last_error": health.cause,
                },
            )
        health.state = "up"
        health.failures = health.repeats = 0
        health.down_since = None
        LOOP_UP.labels(loop=health.name).set(1)

    def _failed(self, health: LoopHealth, exc: Exception) -> float:
        """Count the failure, log it if its cause is new; the delay before the restart."""
        now = self.clock()
        cause = describe(exc)
        health.failures += 1
        health.restarts += 1
        LOOP_RESTARTS.labels(loop=health.name).inc()
        LOOP_UP.labels(loop=health.name).set(0)
        delay = self.backoff.backoff_s(max(health.failures, 1), self.rng)
        extra = {
            "loop": health.name,
            "error": cause,
            "failures": health.failures,
            "restart_in_s": round(delay, 3),
        }
        if health.state != "restarting" or cause != health.cause:
            if health.state != "restarting":
                health.down_since = now
            health.cause, health.repeats, health.logged_at = cause, 0, now
            log.error("loop failed; restarting", extra=extra, exc_info=exc)
        elif now - health.logged_at >= self.remind_s:
            log.error("loop still failing", extra=extra | {"repeats": health.repeats + 1})
            health.repeats, health.logged_at = 0, now
        else:
            health.repeats += 1
        health.state = "restarting"
        return delay

    def report(self) -> Report:
        now = self.clock()
        down, stale = [], []
        for name, (_run, h) in self._loops.items():
            if h.state == "restarting":
                down.append(name)
            elif h.state in ("starting", "up") and now - h.last_progress > h.stale_after_s:
                stale.append(name)
        loops = {name: h.out(now) for name, (_run, h) in self._loops.items()}
        return Report(down, stale, loops)

    async def wait(self, timeout_s: float) -> None:
        """Wait for the loops to end (after ``stop``); cancel those still running then."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in pending:
            log.warning("loop did not stop in time; cancelled", extra={"loop": task.get_name()})
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
