"""Retry policy in Temporal's vocabulary: initial interval, backoff coefficient,
maximum interval, maximum attempts, non-retryable error types, plus jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    initial_interval_s: float = 0.5
    backoff_coefficient: float = 2.0
    maximum_interval_s: float = 300.0
    maximum_attempts: int = 8  # 0 = unlimited
    jitter: float = 0.2  # +/- share of the delay
    non_retryable: frozenset[str] = frozenset()

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
        delay = min(
            self.initial_interval_s * self.backoff_coefficient ** (attempt - 1),
            self.maximum_interval_s,
        )
        if self.jitter:
            delay *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay
