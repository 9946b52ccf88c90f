"""The call pacer, driven with an explicit clock (no sleeping, no I/O)."""

from __future__ import annotations

from revflow.config import SalesforceSettings
from revflow.salesforce.pacing import CallPacer, budget_scale, pacer_for

FULL = 200


def run_steady(pacer: CallPacer, rate: float, seconds: float, kinds: int = 2) -> int:
    """Orders arrive at ``rate`` per second; ``kinds`` batchers (reads, writes) each
    hold what arrived and ask every 0.1 s.  Returns the calls made."""
    step = 0.1
    calls = 0
    pending = [0] * kinds
    oldest = [0.0] * kinds
    owed = 0.0
    now = 0.0
    while now < seconds:
        now = round(now + step, 6)
        owed += rate * step
        arrived, owed = int(owed), owed - int(owed)
        if arrived:
            pacer.earn(arrived, now)
        for k in range(kinds):
            if arrived and not pending[k]:
                oldest[k] = now
            pending[k] += arrived
            if pacer.may_send(pending[k], FULL, now - oldest[k], now):
                pacer.spend(1, now)
                calls += 1
                pending[k] = 0
    return calls


def test_an_idle_pacer_sends_the_first_part_full_batch_at_once():
    pacer = CallPacer()
    assert pacer.may_send(1, FULL, 0.0, now=1000.0)
    pacer.spend(1, 1000.0)
    assert pacer.may_send(1, FULL, 0.0, now=1000.0)  # a read, then a write: both at once


def test_nothing_pending_is_never_sent():
    assert not CallPacer().may_send(0, FULL, 999.0, now=0.0)


def test_a_full_batch_goes_even_without_credit():
    pacer = CallPacer(burst=2.0)
    pacer.spend(10, 0.0)
    assert pacer.credit == -2.0  # the debt is bounded
    assert not pacer.may_send(199, FULL, 0.0, now=0.0)
    assert pacer.may_send(200, FULL, 0.0, now=0.0)


def test_without_credit_a_part_full_batch_waits_until_the_longest_wait():
    pacer = CallPacer(burst=1.0, max_wait_s=30.0)
    pacer.spend(1, 0.0)
    assert not pacer.may_send(3, FULL, 29.0, now=1.0)
    assert pacer.may_send(3, FULL, 30.0, now=1.0)


def test_orders_earn_calls():
    pacer = CallPacer(calls_per_order=0.1, burst=1.0, refill_s=1e9)
    pacer.spend(1, 0.0)
    pacer.earn(9, 0.0)
    assert not pacer.affords(1, 0.0)
    pacer.earn(1, 0.0)
    assert pacer.affords(1, 0.0)


def test_time_refills_the_credit_up_to_the_burst_only():
    pacer = CallPacer(calls_per_order=1.0, burst=3.0, refill_s=1.0, max_wait_s=30.0)
    assert pacer.affords(3, 1e6) and not pacer.affords(4, 1e6)


def test_a_bulk_keeps_its_credit_for_its_own_calls_then_only_the_burst():
    pacer = CallPacer(calls_per_order=0.07, burst=5.0, refill_s=1e9, max_wait_s=30.0)
    pacer.earn(1000, 0.0)  # 70 calls earned at once
    pacer.spend(40, 1.0)  # the bulk's full reads and statuses
    assert pacer.affords(30, 10.0) and not pacer.affords(36, 10.0)
    assert pacer.may_send(135, FULL, 2.0, now=10.0)  # the last part-full call goes now
    assert pacer.affords(5, 31.0) and not pacer.affords(6, 31.0)  # unspent: back to the burst


def test_a_quiet_spell_refills_the_burst():
    pacer = CallPacer(burst=2.0, refill_s=60.0)
    pacer.spend(2, 0.0)
    assert not pacer.affords(1, 30.0)
    assert pacer.affords(1, 60.0)
    assert pacer.affords(2, 120.0) and not pacer.affords(3, 1e6)


def test_a_trickle_spends_at_most_the_target_per_order():
    for rate in (1.0, 10.0, 50.0):
        pacer = CallPacer()  # defaults: 0.07 per order, one call per 2 minutes, burst 5
        orders = rate * 600
        calls = run_steady(pacer, rate, 600)
        assert calls / orders <= 0.1, (rate, calls)


def test_busy_batches_fill_and_idle_ones_do_not_wait():
    busy = CallPacer(calls_per_order=0.07)
    calls = run_steady(busy, 2000.0, 10, kinds=1)
    assert calls <= 2000 * 10 / FULL + busy.burst + 1  # about one call per 200 orders
    quiet = CallPacer()
    assert run_steady(quiet, 0.0, 600) == 0  # nothing arrives, nothing is sent


def test_budget_scale_tightens_past_the_threshold():
    assert budget_scale(10, None) == 1.0
    assert budget_scale(400, 1000) == 1.0
    assert budget_scale(750, 1000) == 0.5
    assert budget_scale(1000, 1000) == 0.1
    assert budget_scale(5000, 1000) == 0.1


def test_a_low_budget_makes_calls_sparser():
    def calls_at(used: int) -> int:
        pacer = CallPacer()
        pacer.tighten(used, 1000)
        return run_steady(pacer, 10.0, 600)

    relaxed, tight, tighter = calls_at(0), calls_at(800), calls_at(950)
    assert relaxed > tight > tighter
    assert tighter <= relaxed * 0.3


def test_a_low_budget_lengthens_the_longest_wait():
    pacer = CallPacer(max_wait_s=30.0)
    pacer.tighten(900, 1000)
    assert pacer.longest_wait_s() > 30.0
    pacer.spend(100, 0.0)
    assert not pacer.may_send(1, FULL, 31.0, now=0.0)


def test_settings_build_the_pacer_or_turn_it_off():
    assert pacer_for(SalesforceSettings(calls_per_order=0)) is None
    pacer = pacer_for(SalesforceSettings(calls_per_order=0.05, pacing_burst=3))
    assert pacer is not None and pacer.calls_per_order == 0.05 and pacer.credit == 3.0


def test_the_call_goes_to_the_batcher_that_waited_longest():
    pacer = CallPacer(burst=1.0, refill_s=1e9)
    pacer.spend(1, 0.0)
    assert not pacer.may_send(5, FULL, 4.0, now=10.0, kind="writeback")  # no credit yet
    pacer.earn(100, 10.0)  # the intake's new orders bring a call's credit
    assert not pacer.may_send(3, FULL, 0.5, now=10.0, kind="intake")  # younger: it waits
    assert pacer.may_send(5, FULL, 4.0, now=10.1, kind="writeback")
    pacer.spend(1, 10.1, kind="writeback")
    pacer.earn(100, 10.2)
    assert pacer.may_send(3, FULL, 0.7, now=10.2, kind="intake")  # now it is the oldest


def test_a_batcher_that_stopped_asking_does_not_hold_the_others():
    pacer = CallPacer(burst=1.0, refill_s=1e9)
    assert pacer.may_send(5, FULL, 9.0, now=0.0, kind="writeback") is True
    # the write-back never sent nor asked again (its items went elsewhere)
    assert pacer.may_send(1, FULL, 0.1, now=5.0, kind="intake")
