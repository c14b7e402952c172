"""The course's two pictures: a timeline of requests, and time against concurrency.

Figures are returned, not shown, so a notebook decides when to display them (and so tests can
draw them without a screen). Notebooks render them as PNG, which nbval does not compare.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .timing import Timeline, theoretical_time


def plot_timeline(
    timeline: Timeline, *, title: str = "Requests over time", ax: Axes | None = None,
    max_rows: int = 200,
) -> Figure:
    """One horizontal bar per span: sequential work makes a staircase, concurrent a wall."""
    spans = sorted(timeline.spans, key=lambda s: s.start)[:max_rows]
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    else:
        fig = ax.figure  # type: ignore[assignment]
    origin = min((s.start for s in spans), default=0.0)
    ax.barh(
        range(len(spans)),
        [s.duration for s in spans],
        left=[s.start - origin for s in spans],
        height=0.8,
        color="tab:blue",
    )
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first request started")
    ax.set_ylabel("request (in start order)")
    ax.set_title(title)
    ax.set_xlim(left=0)
    return fig  # type: ignore[return-value]


def plot_time_vs_concurrency(
    concurrency: Sequence[int], measured: Sequence[float], *, n_requests: int, latency: float,
    title: str | None = None, ax: Axes | None = None,
) -> Figure:
    """Measured total time against the semaphore size, with ceil(N/n) × latency beside it."""
    if len(concurrency) != len(measured):
        raise ValueError("concurrency and measured must have the same length")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure  # type: ignore[assignment]
    fine = range(1, max(concurrency) + 1)
    ax.plot(list(fine), [theoretical_time(n_requests, n, latency) for n in fine],
            color="tab:gray", linestyle="--", label="theory: ceil(N/n) × latency")
    ax.plot(list(concurrency), list(measured), "o-", color="tab:orange", label="measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrency limit n")
    ax.set_ylabel("total time (s)")
    ax.set_title(title or f"{n_requests} requests at {latency * 1000:.0f} ms latency")
    ax.legend()
    return fig  # type: ignore[return-value]
