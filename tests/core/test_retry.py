import random

from app.plans.retry import RetryPolicy


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
