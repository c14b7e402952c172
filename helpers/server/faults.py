"""Seeded randomness for latency jitter and injected faults, and the per-client rate limiter.

Each kind of draw has its own random stream derived from the seed, so switching one fault on
does not change the draws of another, and the same seed with the same request order gives the
same faults every run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .settings import ServerSettings


@dataclass(frozen=True)
class Fate:
    """What will happen to one request, decided when it arrives."""

    delay: float
    error: bool
    drop: bool
    slow: bool


class FaultPlan:
    """Draws each request's :class:`Fate` from independent seeded streams."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.reseed()

    def reseed(self) -> None:
        seed = self.settings.seed
        self._jitter = random.Random(f"{seed}:jitter")
        self._slow = random.Random(f"{seed}:slow")
        self._failure = random.Random(f"{seed}:failure")

    def next_fate(self) -> Fate:
        s = self.settings
        delay = s.latency
        if s.jitter:
            delay += self._jitter.random() * s.jitter
        slow = bool(s.slow_rate) and self._slow.random() < s.slow_rate
        if slow:
            delay += s.slow_seconds
        error = drop = False
        if s.error_rate or s.drop_rate:
            # One draw decides both, so error and drop are exclusive and their rates add up.
            u = self._failure.random()
            error = u < s.error_rate
            drop = not error and u < s.error_rate + s.drop_rate
        return Fate(delay=delay, error=error, drop=drop, slow=slow)


class RateLimiter:
    """A token bucket per client address: ``rate`` tokens a second, bursts of up to ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    def reset(self) -> None:
        self._buckets.clear()

    def acquire(self, client: str, now: float) -> float:
        """Take a token for ``client``; return 0 when allowed, else seconds until one is free."""
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` takes whole seconds (RFC 9110): round up, never below 1."""
    return str(max(1, math.ceil(seconds)))
