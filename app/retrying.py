"""Tenacity, set up for Revflow's in-process retry loops.

Reconnects (Pub/Sub, the event consumer), the intake's order reads, the channel
lease standby and the Salesforce calls' re-authentication are retried by tenacity.
Their delays stay the one retry policy's (``revflow.plans.retry``): ``wait_policy``
hands tenacity ``RetryPolicy.backoff_s`` of the failure just seen.  Durable retries
(plan steps, the write-back outbox) keep their attempt count in the database and use
the policy directly: tenacity only drives loops that live in one process.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, stop_when_event_set
from tenacity.retry import retry_base
from tenacity.wait import wait_base

from revflow.aio import sleep_until
from revflow.plans.retry import RetryPolicy

__all__ = ["forever_until", "sleep_unless", "start_over", "wait_policy"]


class wait_policy(wait_base):  # noqa: N801 (named like tenacity's own strategies)
    """Wait ``policy.backoff_s(n)`` after the n-th failure (jittered as the policy says)."""

    def __init__(self, policy: RetryPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.policy.backoff_s(retry_state.attempt_number, self.rng)


def start_over(retry_state: RetryCallState) -> None:
    """Count the attempt in progress as the first again.

    A stream that worked for a while and then failed waits the first delay, not the
    next one of the failures before it (tenacity counts per call and has no reset).
    """
    retry_state.attempt_number = 1


def sleep_unless(*events: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    """Tenacity's sleep, cut short when any of ``events`` is set."""

    async def sleep(seconds: float) -> None:
        await sleep_until(seconds, *events)

    return sleep


def forever_until(
    stop: asyncio.Event,
    *,
    wait: wait_base,
    retry: retry_base,
    before_sleep: Callable[[RetryCallState], Any] | None = None,
    wake: tuple[asyncio.Event, ...] = (),
) -> AsyncRetrying:
    """Retry while ``retry`` says so until ``stop`` is set; then the call returns None.

    Errors ``retry`` does not accept are raised at once.  The sleep between attempts
    ends early when ``stop`` or one of ``wake`` is set.
    """
    return AsyncRetrying(
        wait=wait,
        retry=retry,
        # typed for threading.Event; it only calls is_set(), which asyncio.Event has
        stop=stop_when_event_set(stop),  # type: ignore[arg-type]
        sleep=sleep_unless(stop, *wake),
        before_sleep=before_sleep,
        retry_error_callback=lambda _state: None,
        reraise=True,
    )
