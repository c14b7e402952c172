"""Clocks for the course: a stopwatch, and a recorder of when each request started and ended.

Both use ``time.perf_counter`` (monotonic, high resolution). A :class:`Timeline` works the
same in plain and in async code, because entering and leaving its span is just reading the
clock: ``with timeline.span(label):`` around an ``await`` measures the whole wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.elapsed`` in seconds (live while running)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.end = None
        return self

    def __exit__(self, *exc: object) -> None:
        self.end = time.perf_counter()

    @property
    def elapsed(self) -> float:
        if self.start is None:
            raise RuntimeError("the stopwatch has not been started")
        return (self.end if self.end is not None else time.perf_counter()) - self.start

    def __repr__(self) -> str:
        if self.start is None:
            return "<Stopwatch not started>"
        return f"<Stopwatch {self.elapsed:.3f} s>"


@dataclass(frozen=True)
class Span:
    label: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Timeline:
    """Records one :class:`Span` per piece of work, in seconds since the timeline was made."""

    t0: float = field(default_factory=time.perf_counter)
    spans: list[Span] = field(default_factory=list)

    @contextmanager
    def span(self, label: object) -> Iterator[None]:
        start = time.perf_counter() - self.t0
        try:
            yield
        finally:
            self.spans.append(Span(str(label), start, time.perf_counter() - self.t0))

    @property
    def elapsed(self) -> float:
        """From the first start to the last end."""
        if not self.spans:
            return 0.0
        return max(s.end for s in self.spans) - min(s.start for s in self.spans)

    def max_overlap(self) -> int:
        """The largest number of spans open at one instant: concurrency seen by the client."""
        events = sorted([(s.start, 1) for s in self.spans] + [(s.end, -1) for s in self.spans],
                        key=lambda e: (e[0], e[1]))
        current = peak = 0
        for _, delta in events:
            current += delta
            peak = max(peak, current)
        return peak

    def __len__(self) -> int:
        return len(self.spans)


def theoretical_time(n_requests: int, concurrency: int, latency: float) -> float:
    """Lower bound when every request takes ``latency``: ceil(N / n) rounds of it."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    return math.ceil(n_requests / concurrency) * latency
