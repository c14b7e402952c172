"""Clocks for the course: a stopwatch, and a recorder of when each piece of work started and ended.

Both use ``time.perf_counter`` (monotonic, high resolution). A :class:`Timeline` works the
same in plain and in async code, because entering and leaving its span is just reading the
clock: ``with timeline.span(label):`` around an ``await`` measures the whole wait.

A span also has a *lane* (the row it is drawn on: a worker, a semaphore slot, a connection,
a request) and a *state* (what it was doing: waiting for a slot, in flight, backing off...),
so :func:`helpers.plots.plot_gantt` can draw a recording as a Gantt chart. The states are the
constants below; a notebook may use another string, which is drawn in a colour of its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: A request waiting for a semaphore slot (or a pool connection) before it can be sent.
WAITING = "waiting for a slot"
#: A request sent and its response not yet read: the time the network and the server take.
IN_FLIGHT = "in flight"
#: Sleeping before the next attempt of a retried request.
BACKOFF = "backing off"
#: An attempt that ended in an error.
FAILED = "failed"
#: Python code running on the event loop (CPU work).
WORKING = "working"
#: The event loop frozen by a blocking call: no other task can run.
BLOCKED = "blocked"
#: Time the client spends on its own side of a request (building it, parsing the response).
OVERHEAD = "client overhead"

#: The states the course draws, in the order their legends list them.
STATES: tuple[str, ...] = (WAITING, IN_FLIGHT, BACKOFF, FAILED, WORKING, BLOCKED, OVERHEAD)


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
    """One piece of work: ``start`` and ``end`` in seconds, on lane ``lane``, in state ``state``.

    ``lane`` "" means "the span's own row": plots put it on a lane named after its label.
    """

    label: str
    start: float
    end: float
    lane: str = ""
    state: str = IN_FLIGHT

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError(f"span {self.label!r}: start and end must be finite numbers")
        if self.end < self.start:
            raise ValueError(
                f"span {self.label!r} ends ({self.end}) before it starts ({self.start})")
        if not isinstance(self.state, str) or not self.state:
            raise ValueError(f"span {self.label!r}: state must be a non-empty string")

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def row(self) -> str:
        """The lane this span is drawn on: its lane, or its label when it has none."""
        return self.lane or self.label


@dataclass(frozen=True)
class Mark:
    """An instant event (a 429, a cancellation) at ``at`` seconds; ``lane`` "" means all lanes."""

    label: str
    at: float
    lane: str = ""


@dataclass
class Timeline:
    """Records spans and marks, in seconds since the timeline was made (``t0``)."""

    t0: float = field(default_factory=time.perf_counter)
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @contextmanager
    def span(
        self, label: object, *, lane: object = None, state: str = IN_FLIGHT,
    ) -> Iterator[None]:
        """Time the ``with`` block; the span is recorded even when the block raises."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(label, start, time.perf_counter(), lane=lane, state=state)

    def add(
        self, label: object, start: float, end: float, *, lane: object = None,
        state: str = IN_FLIGHT,
    ) -> Span:
        """Record a span measured elsewhere: start, end are ``time.perf_counter()`` readings."""
        span = Span(str(label), start - self.t0, end - self.t0,
                    str(label) if lane is None else str(lane), state)
        self.spans.append(span)
        return span

    def mark(self, label: object, *, lane: object = None, at: float | None = None) -> Mark:
        """Record an instant event now (or at ``at``, a ``time.perf_counter()`` reading)."""
        when = time.perf_counter() if at is None else at
        mark = Mark(str(label), when - self.t0, "" if lane is None else str(lane))
        self.marks.append(mark)
        return mark

    @property
    def elapsed(self) -> float:
        """From the first start to the last end."""
        if not self.spans:
            return 0.0
        return max(s.end for s in self.spans) - min(s.start for s in self.spans)

    def max_overlap(self, state: str | None = None) -> int:
        """The largest number of spans open at one instant: concurrency seen by the client.

        ``state`` counts only the spans in that state (e.g. ``IN_FLIGHT`` when the same
        requests were also recorded while ``WAITING``); ``None`` counts every span.
        """
        _, counts = in_flight_steps(self.spans, state=state)
        return max(counts, default=0)

    def __len__(self) -> int:
        return len(self.spans)


def in_flight_steps(
    spans: Iterable[Span], *, state: str | None = None,
) -> tuple[list[float], list[int]]:
    """How many spans are open from each instant on: ``(times, counts)``, one step per instant.

    A span that ends at the very instant another starts is not counted twice, and makes no
    step. Times are those of the spans (no origin is subtracted).
    """
    chosen = [s for s in spans if state is None or s.state == state]
    deltas: dict[float, int] = {}
    for s in chosen:
        deltas[s.start] = deltas.get(s.start, 0) + 1
        deltas[s.end] = deltas.get(s.end, 0) - 1
    times: list[float] = []
    counts: list[int] = []
    current = 0
    for t in sorted(deltas):
        if deltas[t] == 0:  # one span ended as another started: no step
            continue
        current += deltas[t]
        times.append(t)
        counts.append(current)
    return times, counts


def theoretical_time(n_requests: int, concurrency: int, latency: float) -> float:
    """Lower bound when every request takes ``latency``: ceil(N / n) rounds of it."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    return math.ceil(n_requests / concurrency) * latency
