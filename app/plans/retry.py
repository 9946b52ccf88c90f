"""Retry policy in Temporal's vocabulary: initial interval, backoff coefficient,
maximum interval, maximum attempts, non-retryable error types, plus jitter.

A policy may instead name an explicit ``schedule``: the delay after each failed
attempt, in order (Svix's webhook schedule is ``WEBHOOK_SCHEDULE``: the first
attempt at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later).  With a
schedule the backoff fields are not used for delays, and the step gives up after
``len(schedule) + 1`` attempts (or ``maximum_attempts``, whichever comes first).
Jitter applies to both, and a server's ``Retry-After`` wins when it is longer.

This is Revflow's one retry policy: plan steps, webhook deliveries, the write-back
outbox, reconnects and loop restarts all back off by it; ``policy_to_json`` and
``policy_from_json`` are its one serialisation (``Step.retry_policy``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WEBHOOK_SCHEDULE",
    "RetryPolicy",
    "forever",
    "honours_retry_after",
    "policy_from_json",
    "policy_to_json",
    "webhook_policy",
]

# delays after attempts 1..7: the first attempt is immediate (Svix's schedule)
WEBHOOK_SCHEDULE: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True)
class RetryPolicy:
    initial_interval_s: float = 0.5
    backoff_coefficient: float = 2.0
    maximum_interval_s: float = 300.0
    maximum_attempts: int = 8  # 0 = unlimited
    jitter: float = 0.2  # +/- share of the delay
    non_retryable: frozenset[str] = frozenset()
    schedule: tuple[float, ...] = field(default=())  # explicit delays; () = backoff

    def next_delay(
        self,
        attempt: int,
        retry_after_s: float | None = None,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; None when attempts are used up.

        ``attempt`` counts from 1.  A server's Retry-After wins when it is longer.
        """
        if self.maximum_attempts and attempt >= self.maximum_attempts:
            return None
        if self.schedule and attempt > len(self.schedule):
            return None
        delay = self.backoff_s(attempt, rng)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay

    def backoff_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The jittered delay after failure ``attempt`` (from 1), whatever the attempts left.

        Loops that retry for ever (reconnects, restarts) use this; steps ``next_delay``.
        """
        if self.schedule:
            delay = self.schedule[min(attempt, len(self.schedule)) - 1]
        else:
            delay = min(
                self.initial_interval_s * self.backoff_coefficient ** (attempt - 1),
                self.maximum_interval_s,
            )
        if self.jitter:
            delay *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return delay


def forever(
    initial_interval_s: float,
    maximum_interval_s: float,
    jitter: float = 0.2,
    backoff_coefficient: float = 2.0,
) -> RetryPolicy:
    """A policy without an attempts limit, for loops that reconnect or restart."""
    return RetryPolicy(
        initial_interval_s=initial_interval_s,
        backoff_coefficient=backoff_coefficient,
        maximum_interval_s=maximum_interval_s,
        maximum_attempts=0,
        jitter=jitter,
    )


def webhook_policy(
    schedule: Sequence[float] = WEBHOOK_SCHEDULE, jitter: float = 0.2
) -> RetryPolicy:
    """The default policy of webhook deliveries: ``schedule`` with ``jitter``.

    The backoff fields approximate the schedule (5 s growing sixfold, at most the
    longest delay) so that a reader that ignores ``schedule`` still backs off for hours.
    """
    delays = tuple(float(d) for d in schedule)
    if any(d < 0 for d in delays):
        raise ValueError("retry schedule delays must be >= 0")
    return RetryPolicy(
        initial_interval_s=delays[0] if delays else 5.0,
        backoff_coefficient=6.0,
        maximum_interval_s=max(delays, default=36000.0),
        maximum_attempts=len(delays) + 1,
        jitter=jitter,
        schedule=delays,
    )


def policy_to_json(policy: RetryPolicy, honour_retry_after: bool = True) -> dict[str, Any]:
    """The policy as stored in ``Step.retry_policy`` (JSON)."""
    data: dict[str, Any] = {
        "initial_interval_s": policy.initial_interval_s,
        "backoff_coefficient": policy.backoff_coefficient,
        "maximum_interval_s": policy.maximum_interval_s,
        "maximum_attempts": policy.maximum_attempts,
        "jitter": policy.jitter,
        "non_retryable": sorted(policy.non_retryable),
        "honour_retry_after": honour_retry_after,
    }
    if policy.schedule:
        data["schedule"] = list(policy.schedule)
    return data


def policy_from_json(data: Mapping[str, Any]) -> RetryPolicy:
    """A RetryPolicy from ``Step.retry_policy`` (Temporal's names plus ``schedule``;
    unknown keys ignored; ``honour_retry_after`` is read by ``honours_retry_after``)."""
    default = RetryPolicy()
    non_retryable = data.get("non_retryable_error_types", data.get("non_retryable")) or ()
    return RetryPolicy(
        initial_interval_s=float(data.get("initial_interval_s", default.initial_interval_s)),
        backoff_coefficient=float(data.get("backoff_coefficient", default.backoff_coefficient)),
        maximum_interval_s=float(data.get("maximum_interval_s", default.maximum_interval_s)),
        maximum_attempts=int(data.get("maximum_attempts", default.maximum_attempts)),
        jitter=float(data.get("jitter", default.jitter)),
        non_retryable=frozenset(str(t) for t in non_retryable),
        schedule=tuple(float(d) for d in data.get("schedule") or ()),
    )


def honours_retry_after(data: Mapping[str, Any] | None) -> bool:
    """Whether a stored policy lets a server's Retry-After lengthen the delay (default yes)."""
    return bool((data or {}).get("honour_retry_after", True))
