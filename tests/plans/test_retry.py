"""The one retry policy: steps (attempts, Retry-After, jitter) and loops that retry for ever."""

import random

from revflow.plans.retry import RetryPolicy, forever


def test_backoff_grows_and_is_capped_without_jitter():
    p = RetryPolicy(
        initial_interval_s=1,
        backoff_coefficient=2,
        maximum_interval_s=5,
        maximum_attempts=10,
        jitter=0,
    )
    assert [p.next_delay(a) for a in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]


def test_attempts_run_out():
    p = RetryPolicy(maximum_attempts=3, jitter=0)
    assert p.next_delay(2) is not None
    assert p.next_delay(3) is None


def test_retry_after_wins_when_longer():
    p = RetryPolicy(initial_interval_s=1, jitter=0)
    assert p.next_delay(1, retry_after_s=30) == 30
    assert p.next_delay(1, retry_after_s=0.1) == 1


def test_jitter_stays_within_bounds():
    p = RetryPolicy(initial_interval_s=10, jitter=0.2, maximum_attempts=0)
    rng = random.Random(1)
    delays = [p.next_delay(1, rng=rng) for _ in range(200)]
    assert all(d is not None and 8 <= d <= 12 for d in delays)
    assert len(set(delays)) > 100


def test_backoff_for_loops_ignores_the_attempts_limit():
    p = RetryPolicy(initial_interval_s=1, maximum_interval_s=4, maximum_attempts=2, jitter=0)
    assert p.next_delay(2) is None
    assert [p.backoff_s(a) for a in (1, 2, 3, 9)] == [1, 2, 4, 4]
    scheduled = RetryPolicy(schedule=(5.0, 60.0), jitter=0)
    assert scheduled.next_delay(3) is None
    assert [scheduled.backoff_s(a) for a in (1, 2, 3)] == [5.0, 60.0, 60.0]


def test_a_policy_for_ever_has_no_attempts_limit():
    p = forever(0.5, 30.0, jitter=0)
    assert p.maximum_attempts == 0
    assert p.next_delay(1000) == 30.0
    assert [p.backoff_s(a) for a in (1, 2, 7, 8)] == [0.5, 1.0, 30.0, 30.0]
