"""The write-back outbox puts a failed record back after the one retry policy's backoff."""

from __future__ import annotations

import random

from revflow.salesforce.writeback_outcomes import RELEASE_BACKOFF


def test_the_write_back_release_backoff_doubles_to_five_minutes_within_half_either_way():
    rng = random.Random(3)
    delays = [RELEASE_BACKOFF.backoff_s(a, rng) for a in range(1, 13)]
    assert all(
        0.5 * min(2 ** (a - 1), 300) <= d <= 1.5 * min(2 ** (a - 1), 300)
        for a, d in zip(range(1, 13), delays, strict=True)
    )
    assert RELEASE_BACKOFF.maximum_attempts == 0
