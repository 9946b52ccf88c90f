"""The loop supervisor: restarts with backoff, logs a cause once, staleness, metrics."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from prometheus_client import REGISTRY

from revflow.aio import Beat
from revflow.plans.retry import RetryPolicy
from revflow.supervisor import LoopFn, Supervisor, describe

FAST = RetryPolicy(
    initial_interval_s=0.001, backoff_coefficient=2.0, maximum_interval_s=0.004, jitter=0.0
)


def metric(name: str, loop: str) -> float:
    return REGISTRY.get_sample_value(name, {"loop": loop}) or 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_grows_by_the_coefficient_up_to_the_maximum() -> None:
    policy = RetryPolicy(
        initial_interval_s=0.5, backoff_coefficient=2.0, maximum_interval_s=3.0, jitter=0.0
    )
    rng = random.Random(1)
    assert [policy.backoff_s(n, rng) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_stays_within_its_share() -> None:
    policy = RetryPolicy(
        initial_interval_s=10.0, backoff_coefficient=1.0, maximum_interval_s=10.0, jitter=0.2
    )
    rng = random.Random(7)
    delays = [policy.backoff_s(1, rng) for _ in range(200)]
    assert all(8.0 <= d <= 12.0 for d in delays)
    assert len(set(delays)) > 100  # spread, so restarts of many loops do not align


async def test_a_failing_loop_is_restarted_and_logged_once_per_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    runs: list[int] = []

    async def flaky(stop: asyncio.Event, beat: Beat) -> None:
        runs.append(1)
        if len(runs) <= 5:
            raise ConnectionRefusedError("[Errno 111] Connect call failed")
        if len(runs) <= 7:
            raise RuntimeError("a different cause")
        while not stop.is_set():
            beat()
            await asyncio.sleep(0.001)

    sup = Supervisor(FAST)
    sup.add("flaky_loop", flaky, interval_s=0.01)
    before = metric("revflow_loop_restarts_total", "flaky_loop")
    caplog.set_level(logging.INFO, logger="revflow.supervisor")
    sup.start(stop)
    for _ in range(2000):
        await asyncio.sleep(0.001)
        if sup.health("flaky_loop").state == "up":
            break
    assert sup.health("flaky_loop").state == "up"
    assert metric("revflow_loop_restarts_total", "flaky_loop") - before == 7
    assert metric("revflow_loop_up", "flaky_loop") == 1.0
    stop.set()
    await sup.wait(5)
    assert sup.health("flaky_loop").state == "stopped"
    failures = [r for r in caplog.records if r.getMessage() == "loop failed; restarting"]
    # five identical failures: logged once; the new cause: logged once more
    assert [vars(r)["error"] for r in failures] == [
        "ConnectionRefusedError: [Errno 111] Connect call failed",
        "RuntimeError: a different cause",
    ]
    assert all(r.exc_info for r in failures)  # the traceback, once per cause
    recovered = [r for r in caplog.records if r.getMessage() == "loop recovered"]
    assert len(recovered) == 1 and vars(recovered[0])["failures"] == 7


async def test_report_names_down_and_stale_loops() -> None:
    clock = Clock()
    stop = asyncio.Event()
    release = asyncio.Event()
    beats: dict[str, Beat] = {}

    def steady(name: str) -> LoopFn:
        async def run(stop: asyncio.Event, beat: Beat) -> None:
            beats[name] = beat
            await stop.wait()

        return run

    async def broken(stop: asyncio.Event, beat: Beat) -> None:
        await release.wait()
        raise OSError("database unreachable")

    sup = Supervisor(RetryPolicy(initial_interval_s=60, jitter=0), stale_after_s=30.0, clock=clock)
    sup.add("steady", steady("steady"), interval_s=1.0)
    sup.add("slow", steady("slow"), interval_s=100.0)  # stale only after 300 s
    sup.add("broken", broken, interval_s=1.0)
    sup.start(stop)
    await asyncio.sleep(0)
    assert sup.report().ok

    release.set()
    await asyncio.sleep(0.01)
    clock.now += 31
    report = sup.report()
    assert report.down == ["broken"]
    assert report.stale == ["steady"]  # silent for 31 s, limit 30 s; "slow" has 300 s
    assert report.loops["broken"]["error"] == "OSError: database unreachable"
    assert report.loops["broken"]["state"] == "restarting"

    beats["steady"]()
    assert sup.report().stale == [] and not sup.report().ok
    stop.set()
    await sup.wait(5)


async def test_a_loop_that_returns_is_finished_not_down() -> None:
    stop = asyncio.Event()

    async def nothing_to_do(stop: asyncio.Event, beat: Beat) -> None:
        return

    sup = Supervisor(FAST, clock=Clock())
    sup.add("disabled_sweep", nothing_to_do, interval_s=1.0)
    sup.start(stop)
    await sup.wait(5)
    assert sup.health("disabled_sweep").state == "finished"
    assert sup.report().ok


def test_describe_names_the_driver_error_without_the_sql() -> None:
    from sqlalchemy.exc import OperationalError

    wrapped = OperationalError("SELECT secret FROM t", {}, ConnectionResetError("reset by peer"))
    assert describe(wrapped) == "OperationalError: ConnectionResetError: reset by peer"
    assert describe(ValueError("bad\nsecond line")) == "ValueError: bad"


def test_a_loop_name_is_supervised_once() -> None:
    async def loop(stop: asyncio.Event, beat: Beat) -> None:
        return

    sup = Supervisor()
    sup.add("worker", loop, interval_s=1)
    with pytest.raises(ValueError, match="'worker' is supervised already"):
        sup.add("worker", loop, interval_s=1)
