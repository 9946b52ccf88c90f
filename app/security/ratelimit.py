"""Rate limits per key, kept in this process.

``SlidingWindow``: at most N hits a window (login attempts per client address).
``RateLimit``: a token bucket per identity for the API.  Each identity may make
``burst`` requests at once and ``per_minute`` on average; past that the API answers
429 with ``Retry-After``.  ``revflow.security.dependencies`` charges the
authenticated identity (``key:...``, ``user:...``) once per request, and the client
address (``ip:...``) of a request it refuses 401, so guessing keys is limited too.
With several processes each allows as much.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastapi import HTTPException, Request

from revflow.metrics import API_RATE_LIMITED


class SlidingWindow:
    """At most ``limit`` hits per ``window_s`` seconds for each key."""

    MAX_KEYS = 10_000  # forget the oldest keys beyond this (memory stays bounded)

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float | None = None) -> float:
        """Count a hit; 0.0 if allowed, else the seconds until one is allowed again."""
        at = time.monotonic() if now is None else now
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= at - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window_s - at
        hits.append(at)
        if len(self._hits) > self.MAX_KEYS:
            self._hits.pop(next(iter(self._hits)))
        return 0.0


class RateLimit:
    """A token bucket per key: ``burst`` tokens, refilled at ``per_minute`` a minute."""

    MAX_KEYS = 10_000  # the least recently seen keys beyond this are forgotten (full again)

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_s = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 if there was one, else seconds until there is."""
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate_s)
        wait_s = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait_s = (1.0 - tokens) / self.rate_s
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.MAX_KEYS:
            self._buckets.popitem(last=False)
        return wait_s

    def enforce(self, key: str, kind: str) -> None:
        """429 with ``Retry-After`` (whole seconds) when ``key`` has no token left."""
        wait_s = self.take(key)
        if wait_s:
            API_RATE_LIMITED.labels(kind).inc()
            raise HTTPException(
                429,
                f"too many requests; try again in {math.ceil(wait_s)} s",
                headers={"Retry-After": str(math.ceil(wait_s))},
            )


def rate_limit_of(request: Request) -> RateLimit | None:
    """The app's limit (``create_app`` keeps it on ``app.state``); None when off."""
    found = getattr(request.app.state, "rate_limit", None)
    return found if isinstance(found, RateLimit) else None


def client_key(request: Request) -> str:
    """An anonymous caller's key: its address (a trusted proxy's X-Forwarded-For)."""
    return f"ip:{request.client.host if request.client else 'unknown'}"
