"""The call pacer: how many Salesforce calls Revflow may spend per order (pure, no I/O).

Order reads and write-back calls are *earned*: every activated order adds
``calls_per_order`` of credit (0.07: one call per ~14 orders), and every two minutes add
one call (``refill_s``).  Time refills the credit up to ``burst`` calls; orders' credit
is kept beyond it for ``max_wait_s`` (their own reads and statuses come within that),
so a bulk activation pays for its last part-full calls instead of leaving them to wait
out ``max_wait_s`` (1,000 orders earn 70 calls; capped at the burst they kept 5).
A batcher holding a part-full batch asks ``may_send``: yes when the batch is full (a
full call is never wasteful), when a whole call's credit is there, or when its oldest
item has waited ``max_wait_s``.  So:

- idle: the credit is full, the first read and status go out at once;
- busy: credit comes fast, waits are short and calls fill up;
- trickle: about one call per ``1 / calls_per_order`` orders, each item waiting for it.

When Revflow's use of its share of the org's allocation (``ApiBudget``) passes
``tighten_from``, every rate is scaled down (to ``floor`` at the share), and the
longest wait grows alike, before the hard pause at the share itself.

Time is the caller's monotonic clock in seconds, passed in, so tests need no sleeping.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from revflow.config import SalesforceSettings

STALE_S = 2.0  # a batcher that has not asked for this long is not waiting any more


def budget_scale(
    calls: int, budget: int | None, tighten_from: float = 0.5, floor: float = 0.1
) -> float:
    """1.0 until Revflow has used ``tighten_from`` of its budget, then down linearly to
    ``floor`` when the budget is spent (no budget known: 1.0)."""
    if not budget:
        return 1.0
    used = calls / budget
    if used <= tighten_from:
        return 1.0
    return max(floor, min(1.0, (1.0 - used) / (1.0 - tighten_from)))


@dataclass
class CallPacer:
    calls_per_order: float = 0.07
    burst: float = 5.0
    refill_s: float = 120.0  # one call's credit per this long, work or not
    max_wait_s: float = 30.0
    tighten_from: float = 0.5
    floor: float = 0.1
    credit: float = field(init=False)
    scale: float = field(default=1.0, init=False)
    _last: float | None = field(default=None, init=False)
    # kind -> (since when its oldest item waits, when it last asked)
    _waiting: dict[str, tuple[float, float]] = field(default_factory=dict, init=False)
    # credit earned by orders within the last max_wait_s: (when, how much), and its sum
    _earned: deque[tuple[float, float]] = field(default_factory=deque, init=False)
    _earned_sum: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.credit = self.burst  # a fresh process is idle: it may send at once

    def _accrue(self, now: float) -> None:
        if self._last is not None and now > self._last and self.refill_s > 0:
            gained = (now - self._last) / self.refill_s * self.scale
            self.credit = max(self.credit, min(self.burst, self.credit + gained))
        self._last = now if self._last is None else max(self._last, now)
        self.credit = min(self.credit, self._cap(now))

    def _cap(self, now: float) -> float:
        """The most credit there may be: the burst, plus what orders earned within the
        last ``max_wait_s``."""
        while self._earned and self._earned[0][0] < now - self.max_wait_s:
            self._earned_sum -= self._earned.popleft()[1]
        if not self._earned:
            self._earned_sum = 0.0  # no float drift left behind
        return self.burst + self._earned_sum

    def tighten(self, calls: int, budget: int | None) -> None:
        """Scale the rates for Revflow's use of its budget (``budget_scale``)."""
        self.scale = budget_scale(calls, budget, self.tighten_from, self.floor)

    def earn(self, orders: int, now: float) -> None:
        """``orders`` new orders arrived: their share of calls becomes available."""
        self._accrue(now)
        if orders > 0:
            gained = orders * self.calls_per_order * self.scale
            self._earned.append((now, gained))
            self._earned_sum += gained
            self.credit = max(self.credit, min(self._cap(now), self.credit + gained))

    def longest_wait_s(self) -> float:
        return self.max_wait_s / self.scale

    def affords(self, calls: int, now: float) -> bool:
        """Whether ``calls`` whole calls' credit is there."""
        self._accrue(now)
        return self.credit >= calls

    def may_send(
        self, pending: int, full: int, waited_s: float, now: float, kind: str = ""
    ) -> bool:
        """Whether a batch of ``pending`` items (``full`` fill a call), the oldest of
        which has waited ``waited_s``, should go out now.

        Batchers of different ``kind`` (order reads, write-back) share the credit: a
        call's credit goes to the one whose oldest item has waited longest, so the
        intake, which earns the credit, does not take every call from the write-back.
        """
        if pending <= 0:
            self._waiting.pop(kind, None)
            return False
        if pending >= full or waited_s >= self.longest_wait_s():
            return True
        self._waiting[kind] = (now - waited_s, now)
        if not self.affords(1, now):
            return False
        since = now - waited_s
        return all(
            since <= began or now - asked > STALE_S
            for other, (began, asked) in self._waiting.items()
            if other != kind
        )

    def spend(self, calls: int, now: float, kind: str = "") -> None:
        """``calls`` calls were made (by a batcher of ``kind``).  The debt is bounded
        (``-burst``): a bulk load's full calls must not starve the trickle after it."""
        self._accrue(now)
        self.credit = max(-self.burst, self.credit - calls)
        self._waiting.pop(kind, None)


def pacer_for(settings: SalesforceSettings) -> CallPacer | None:
    """The process's pacer from the ``salesforce`` settings (None: pacing off)."""
    if settings.calls_per_order <= 0:
        return None
    return CallPacer(
        calls_per_order=settings.calls_per_order,
        burst=settings.pacing_burst,
        refill_s=settings.pacing_refill_s,
        max_wait_s=settings.pacing_max_wait_s,
        tighten_from=settings.pacing_tighten_from,
    )
