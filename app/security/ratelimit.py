"""A sliding-window rate limit per key (client address, user), kept in this process."""

from __future__ import annotations

import time
from collections import deque


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
