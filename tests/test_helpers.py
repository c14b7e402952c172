"""gather_with_concurrency, the clocks and the plots."""

from __future__ import annotations

import asyncio
import math
import time

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from helpers import (
    Stopwatch,
    Timeline,
    gather_with_concurrency,
    plot_time_vs_concurrency,
    plot_timeline,
    theoretical_time,
)


@pytest.mark.parametrize(
    ("n", "error"), [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
                     ("3", TypeError), (None, TypeError)],
)
def test_gather_with_concurrency_validates_n(n, error):
    async def main():
        coro = asyncio.sleep(0)
        try:
            await gather_with_concurrency(n, coro)
        finally:
            coro.close()  # never awaited: close it, or Python warns

    with pytest.raises(error, match="n must"):
        asyncio.run(main())


@pytest.mark.parametrize("n", [1, 3, 7, 50])
def test_gather_with_concurrency_order_and_peak(n):
    running = peak = 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01 * ((i * 7) % 5))  # finish out of order
        running -= 1
        return i * i

    results = asyncio.run(gather_with_concurrency(n, *(work(i) for i in range(20))))
    assert results == [i * i for i in range(20)]
    assert peak == min(n, 20)
    assert running == 0


def test_gather_with_concurrency_exceptions():
    async def work(i: int) -> int:
        await asyncio.sleep(0)
        if i == 2:
            raise KeyError(i)
        return i

    results = asyncio.run(gather_with_concurrency(2, *(work(i) for i in range(5)),
                                                  return_exceptions=True))
    assert results[:2] == [0, 1] and results[3:] == [3, 4]
    assert isinstance(results[2], KeyError)
    with pytest.raises(KeyError):
        asyncio.run(gather_with_concurrency(2, *(work(i) for i in range(5))))


def test_gather_with_concurrency_nothing():
    assert asyncio.run(gather_with_concurrency(3)) == []


def test_stopwatch():
    sw = Stopwatch()
    assert "not started" in repr(sw)
    with pytest.raises(RuntimeError):
        _ = sw.elapsed
    with Stopwatch() as sw:
        time.sleep(0.02)
        live = sw.elapsed
    assert 0 < live <= sw.elapsed
    assert sw.elapsed >= 0.02
    frozen = sw.elapsed
    time.sleep(0.01)
    assert sw.elapsed == frozen
    assert repr(sw).endswith(" s>")


def test_timeline_sequential_and_concurrent():
    tl = Timeline()
    for i in range(3):
        with tl.span(i):
            time.sleep(0.01)
    assert len(tl) == 3
    assert [s.label for s in tl.spans] == ["0", "1", "2"]
    assert tl.max_overlap() == 1
    assert tl.elapsed >= 0.03
    assert all(s.duration >= 0.01 for s in tl.spans)

    async def main(tl: Timeline):
        async def one(i):
            with tl.span(f"r{i}"):
                await asyncio.sleep(0.05)
        await asyncio.gather(*(one(i) for i in range(5)))

    concurrent = Timeline()
    asyncio.run(main(concurrent))
    assert concurrent.max_overlap() == 5
    assert concurrent.elapsed < 5 * 0.05  # overlapped, coarse


def test_timeline_empty():
    tl = Timeline()
    assert tl.elapsed == 0.0
    assert tl.max_overlap() == 0


def test_span_recorded_on_exception():
    tl = Timeline()
    with pytest.raises(ZeroDivisionError), tl.span("boom"):
        1 / 0  # noqa: B018
    assert [s.label for s in tl.spans] == ["boom"]


def test_theoretical_time():
    assert theoretical_time(150, 1, 0.5) == 75.0
    assert theoretical_time(150, 7, 0.5) == math.ceil(150 / 7) * 0.5
    assert theoretical_time(150, 150, 0.5) == 0.5
    assert theoretical_time(150, 1000, 0.5) == 0.5
    with pytest.raises(ValueError):
        theoretical_time(10, 0, 1.0)


def test_plot_timeline_returns_a_figure():
    tl = Timeline()
    for i in range(4):
        with tl.span(i):
            pass
    fig = plot_timeline(tl, title="four")
    try:
        assert isinstance(fig, Figure)
        assert fig.axes[0].get_title() == "four"
    finally:
        plt.close(fig)
    empty = plot_timeline(Timeline())
    plt.close(empty)


def test_plot_time_vs_concurrency_returns_a_figure():
    fig = plot_time_vs_concurrency([1, 10, 100], [75.0, 7.6, 0.9], n_requests=150, latency=0.5)
    try:
        assert isinstance(fig, Figure)
        assert "150 requests" in fig.axes[0].get_title()
    finally:
        plt.close(fig)
    fig, ax = plt.subplots()
    try:
        assert plot_time_vs_concurrency([1, 2], [1.0, 0.5], n_requests=2, latency=1, ax=ax) is fig
    finally:
        plt.close(fig)
    with pytest.raises(ValueError):
        plot_time_vs_concurrency([1, 2], [1.0], n_requests=2, latency=1)
