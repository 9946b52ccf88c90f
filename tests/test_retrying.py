"""The tenacity set-up of Revflow's in-process retry loops."""

from __future__ import annotations

import asyncio
import random

import pytest
from tenacity import retry_if_exception_type

from revflow.plans.retry import forever
from revflow.retrying import forever_until, start_over, wait_policy


class Flaky(Exception):
    pass


def test_wait_policy_hands_tenacity_the_policys_delays():
    policy = forever(0.5, 4.0, jitter=0.0)
    waits: list[float] = []
    failures = iter(range(6))

    def before_sleep(retry) -> None:
        waits.append(retry.upcoming_sleep)

    async def call() -> str:
        if next(failures) < 5:
            raise Flaky
        return "ok"

    async def no_sleep(_s: float) -> None:
        return None

    retrying = forever_until(
        asyncio.Event(),
        wait=wait_policy(policy),
        retry=retry_if_exception_type(Flaky),
        before_sleep=before_sleep,
    )
    retrying = retrying.copy(sleep=no_sleep)  # the delays, not the waiting, are under test
    assert asyncio.run(retrying(call)) == "ok"
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_wait_policy_keeps_the_policys_jitter():
    policy = forever(10.0, 10.0, jitter=0.5)
    wait = wait_policy(policy, random.Random(7))

    class State:
        attempt_number = 1

    delays = {wait(State()) for _ in range(20)}  # type: ignore[arg-type]
    assert len(delays) > 1 and all(5.0 <= d <= 15.0 for d in delays)


async def test_start_over_makes_the_next_wait_the_first_delay_again():
    waits: list[float] = []
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # this attempt "worked" for a while before failing
            start_over(attempt_state)
        if calls < 5:
            raise Flaky

    retrying = forever_until(
        asyncio.Event(),
        wait=wait_policy(forever(1.0, 100.0, jitter=0.0)),
        retry=retry_if_exception_type(Flaky),
        before_sleep=lambda r: waits.append(r.upcoming_sleep),
    )
    retrying = retrying.copy(sleep=lambda _s: asyncio.sleep(0))
    async for attempt in retrying:
        attempt_state = attempt.retry_state
        with attempt:
            await call()
    assert waits == [1.0, 2.0, 1.0, 2.0]


async def test_forever_until_returns_none_once_stopped_and_raises_what_it_does_not_retry():
    stop = asyncio.Event()
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise Flaky

    retrying = forever_until(
        stop, wait=wait_policy(forever(30.0, 30.0)), retry=retry_if_exception_type(Flaky)
    )
    asyncio.get_running_loop().call_later(0.2, stop.set)
    # the 30 s wait ends when stop is set; the attempt after it is the last
    assert await asyncio.wait_for(retrying(failing), 5) is None
    assert calls == 2

    async def broken() -> None:
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        await forever_until(
            asyncio.Event(),
            wait=wait_policy(forever(1.0, 1.0)),
            retry=retry_if_exception_type(Flaky),
        )(broken)


async def test_a_wake_event_cuts_the_wait_short():
    wake = asyncio.Event()
    calls = 0

    async def once_failing() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            wake.set()
            raise Flaky
        return "done"

    retrying = forever_until(
        asyncio.Event(),
        wait=wait_policy(forever(60.0, 60.0)),
        retry=retry_if_exception_type(Flaky),
        wake=(wake,),
    )
    assert await asyncio.wait_for(retrying(once_failing), 5) == "done"
