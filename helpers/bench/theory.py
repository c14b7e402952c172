"""The arithmetic of the showdown: theory, efficiency, speedup, and how many runs a row gets.

Pure functions of numbers, so the tests can check them exactly and the notebook can use them
for Little's law without running anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from ..timing import theoretical_time

ROW_BUDGET = 8.0
"""Seconds of theoretical time one row may spend on repetitions (see :func:`runs_for`)."""

__all__ = [
    "ROW_BUDGET", "efficiency", "littles_law_rate", "median", "rate", "runs_for", "speedup",
    "theoretical_time",
]


def efficiency(theory: float, measured: float, latency: float) -> float | None:
    """``theory / measured``: 1.0 means no time was lost beyond the simulated latency.

    ``None`` at zero latency, where the theory is 0 s and the ratio says nothing.
    """
    if latency <= 0 or theory <= 0:
        return None
    if measured <= 0:
        raise ValueError(f"measured time must be positive, got {measured}")
    return theory / measured


def speedup(baseline: float | None, measured: float) -> float | None:
    """How many times faster than ``baseline`` (sequential at the same latency); None if unknown."""
    if baseline is None or measured <= 0:
        return None
    return baseline / measured


def rate(n_requests: int, seconds: float) -> float:
    """Requests per second."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return n_requests / seconds


def median(values: Sequence[float]) -> float:
    """The median of the runs: one slow run on a shared machine does not move it."""
    if not values:
        raise ValueError("no values")
    return statistics.median(values)


def littles_law_rate(concurrency: int, latency: float) -> float:
    """Little's law solved for throughput: requests in flight / time each one takes."""
    if latency <= 0:
        raise ValueError("Little's law needs a positive latency")
    return concurrency / latency


def runs_for(theory: float, repeat: int, budget: float = ROW_BUDGET) -> int:
    """How many timed runs a row gets: ``repeat``, but no more than fit in ``budget`` seconds.

    Why: sequential requests at 100 ms take 15 s a run, and their time is fixed by the
    latency anyway, so repeating them buys little. Fast rows, where noise matters, always get
    all ``repeat`` runs. Never fewer than one.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    if theory <= 0:
        return repeat
    return max(1, min(repeat, math.floor(budget / theory)))
