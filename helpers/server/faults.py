"""Seeded randomness for latency jitter and injected faults, and the per-client rate limiter.

Fates are keyed by the request itself (see :class:`FaultPlan`), so the same seed gives the same
faults to the same requests every run, however concurrent requests happen to interleave.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count

from .settings import ServerSettings


@dataclass(frozen=True)
class Fate:
    """What will happen to one request, decided when it arrives."""

    delay: float
    error: bool
    drop: bool
    slow: bool


class FaultPlan:
    """Decides each request's :class:`Fate` from the seed, the request and how often it came.

    The k-th request for one method and path always draws the same fate for a given seed,
    whatever other requests are in flight. So a run of 151 concurrent requests sees the same
    faults on the same Pokémon every time, although their arrival order varies; and a retry
    (the same request again, k + 1) gets a fresh draw, as it would from a real flaky server.
    """

    def __init__(self, settings: ServerSettings, take: Callable[[str], int] | None = None) -> None:
        self.settings = settings
        self._seen: dict[str, Iterator[int]] = {}
        # Where "how often was this request seen" is counted: here, or (several worker
        # processes) in the supervisor's ledger, so every worker draws from one count.
        self._take = take or self.take
        s = settings
        random_free = not (s.jitter or s.error_rate or s.drop_rate or s.slow_rate)
        self.constant: Fate | None = (
            Fate(delay=s.latency, error=False, drop=False, slow=False) if random_free else None
        )
        """The one fate of every request when nothing is drawn (no jitter, no faults; the
        course's default). Settings never change, so the middleware then skips building the
        key and seeding a generator per request: nothing a draw could decide is random."""

    def reseed(self) -> None:
        """Forget how often each request was seen: the next run replays the same faults."""
        self._seen.clear()

    def take(self, key: str) -> int:
        """How many times ``key`` was seen before this time (which is counted)."""
        return next(self._seen.setdefault(key, count()))

    def next_fate(self, key: str = "") -> Fate:
        s = self.settings
        k = self._take(key)
        rng = random.Random(f"{s.seed}|{key}|{k}")
        jitter_u, slow_u, failure_u = rng.random(), rng.random(), rng.random()
        delay = s.latency + jitter_u * s.jitter
        slow = slow_u < s.slow_rate
        if slow:
            delay += s.slow_seconds
        # One draw decides both, so error and drop are exclusive and their rates add up.
        error = failure_u < s.error_rate
        drop = not error and failure_u < s.error_rate + s.drop_rate
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
