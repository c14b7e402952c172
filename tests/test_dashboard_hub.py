"""The dashboard's numbers, without a server: what one sample, the rate and the chart show.

A :class:`~helpers.server.dashboard.Hub` is driven here by calling ``tick(now)`` with chosen
times instead of waiting on its timer, so each test states exactly what happened in which fifth
of a second and checks what the instructor's page is sent. The stream itself (timing, frames per
second, shutdown) is tested through a server in ``test_dashboard.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import types

from helpers.server import dashboard
from helpers.server.dashboard import Hub
from helpers.server.stats import Stats

FIFTH = 0.2  # the stream's schedule: five frames a second (docs of /_dashboard)


def _event(data: bytes) -> tuple[str, dict]:
    """One server-sent event as the browser parses it: (event name, JSON data)."""
    text = data.decode()
    assert text.endswith("\n\n") and text.count("\n\n") == 1, text
    fields = dict(line.split(": ", 1) for line in text.strip().split("\n"))
    assert set(fields) <= {"event", "data"}
    return fields.get("event", "message"), json.loads(fields["data"])


def _samples(hub: Hub) -> list[list[float]]:
    name, data = _event(hub.history())
    assert name == "history"
    return data["samples"]


class Clock:
    """Ticks the hub at chosen times, after letting ``arrivals`` requests arrive."""

    def __init__(self) -> None:
        self.stats = Stats()
        self.hub = Hub(self.stats, self.stats.as_dict)
        self.now = 0.0

    def tick(self, arrivals: int = 0, after: float = FIFTH) -> list[float]:
        for _ in range(arrivals):
            self.stats.arrive("alice", "127.0.0.1")
        self.now += after
        self.hub.tick(self.now)
        return _samples(self.hub)[-1]


def test_a_sample_holds_the_arrivals_of_its_fifth_of_a_second():
    """Each chart point counts the requests that arrived since the previous one: none when
    nothing arrived, and after a reset it counts from zero again, never a negative number."""
    clock = Clock()
    assert clock.tick(3)[1] == 3
    assert clock.tick(0)[1] == 0
    assert clock.tick(2)[1] == 2
    clock.stats.reset()
    assert clock.tick(1)[1] == 1  # 1 since the reset, not 1 - 5
    assert clock.tick(4)[1] == 4


def test_a_server_nobody_uses_charts_zeros():
    """A fresh server's first samples: nothing arrived, no peak, nothing in flight."""
    clock = Clock()
    assert clock.tick() == [0.2, 0, 0, 0]
    assert clock.tick() == [0.4, 0, 0, 0]
    assert clock.hub.rate() == 0.0


def test_a_sample_holds_the_peak_of_its_interval_and_what_is_in_flight_at_its_end():
    """``[t, arrived, peak, in_flight]``: a burst of 3 that is over before the sample still
    shows as a peak of 3; one request still running shows as 1 in flight."""
    clock = Clock()
    stats = clock.stats
    clients = [stats.arrive("a") for _ in range(3)]
    for client in clients:
        stats.enter(client)
    for client in clients[1:]:
        stats.leave(client)
    t, arrived, peak, in_flight = clock.tick()
    assert (arrived, peak, in_flight) == (3, 3, 1)
    assert t == FIFTH
    stats.leave(clients[0])
    assert clock.tick()[2:] == [1, 0]  # the next interval began with one in flight
    assert clock.tick()[2:] == [0, 0]


def test_requests_per_second_is_over_the_last_second():
    """The big number on the page: 40 requests in one fifth of a second count as 40/s for
    exactly one second (five frames), then leave the rate; a steady 10 per fifth is 50/s."""
    clock = Clock()
    assert clock.hub.rate() == 0.0  # nothing sampled yet
    clock.tick()
    assert clock.hub.rate() == 0.0  # one sample spans no time
    for _ in range(6):
        clock.tick()
    rates = []
    clock.tick(40)
    rates.append(clock.hub.rate())
    for _ in range(6):
        clock.tick()
        rates.append(clock.hub.rate())
    assert rates == [40.0, 40.0, 40.0, 40.0, 40.0, 0.0, 0.0]
    for _ in range(6):
        clock.tick(10)
    assert clock.hub.rate() == 50.0


def test_requests_per_second_is_over_the_time_the_samples_really_span():
    """A late tick (a loaded machine) widens the window: 12 requests over 1.2 s are 10/s,
    not 12/s; the page shows one decimal, so 10 requests over 0.3 s are 33.3/s."""
    clock = Clock()
    clock.tick()
    clock.tick(3)
    clock.tick(3)
    clock.tick(3)
    clock.tick(3, after=0.6)
    assert clock.hub.rate() == 10.0
    late = Clock()
    late.tick()
    late.tick(10, after=0.3)
    assert late.hub.rate() == 33.3


def test_two_samples_in_the_same_millisecond_give_a_rate_of_zero_not_a_crash():
    """After a blocked loop, the late tick and the next one can fall in the same millisecond
    (sample times are in milliseconds): the rate over no time is shown as 0, and the frame
    is still sent (a division by zero would stop the dashboard's sampling for good)."""
    clock = Clock()
    clock.tick()
    clock.tick(5, after=0.0004)
    assert clock.hub.rate() == 0.0
    clock.tick(5)
    assert clock.hub.rate() == 50.0  # 10 requests over the 0.2 s the three samples span


def test_a_page_opened_late_gets_the_last_minute_of_samples():
    """The chart covers the last 60 s: after two minutes of samples, the history a new page
    receives spans exactly one minute, ends with the newest sample and says so."""
    clock = Clock()
    for _ in range(600):  # two minutes at five a second
        clock.tick(1)
    name, data = _event(clock.hub.history())
    assert name == "history"
    samples = data["samples"]
    assert data["window"] == 60
    assert data["interval"] == FIFTH
    assert samples[-1][0] == round(clock.now, 3)
    assert round(samples[-1][0] - samples[0][0], 3) == 60.0
    assert all(s[1] == 1 for s in samples)


def test_a_new_hub_has_an_empty_chart():
    """Before the first sample the history is empty, not an error."""
    clock = Clock()
    assert _samples(clock.hub) == []


class _Clock:
    """The running loop as :meth:`Hub.run` sees it, with a clock the test moves by hand.

    Why a fake: the schedule's promise (on a fixed grid, missed ticks skipped) is about when
    ticks happen; a real loop on a loaded machine wakes a little late by chance, which would
    make exact times unobservable. Here each ``sleep`` hands its delay to the test instead.
    """

    def __init__(self) -> None:
        self.now = 1000.0317  # any time: the schedule counts from the hub's start

    def time(self) -> float:
        return self.now

    def create_future(self) -> None:
        return None  # no viewer in these tests: no frame is ever handed out


@types.coroutine
def _sleep(delay: float):
    yield delay


def _run(monkeypatch, lateness: list[float]) -> list[float]:
    """Run a hub whose every wake-up comes ``lateness[i]`` seconds after it was due; the
    times of its samples, in seconds since it started."""
    clock = _Clock()
    monkeypatch.setattr(dashboard, "asyncio", types.SimpleNamespace(
        get_running_loop=lambda: clock, sleep=_sleep))
    stats = Stats()
    hub = Hub(stats, stats.as_dict)
    run = hub.run()
    delay = run.send(None)
    for late in lateness:
        clock.now += delay + late
        delay = run.send(None)
    run.close()
    return [s[0] for s in _samples(hub)]


def test_frames_keep_their_schedule_when_each_wake_up_is_late(monkeypatch):
    """No drift: a loop that always wakes 3 ms late still draws a sample every fifth of a
    second after the start (each 3 ms late, to the millisecond), not one every 203 ms."""
    assert _run(monkeypatch, [0.003] * 5) == [0.203, 0.403, 0.603, 0.803, 1.003]


def test_after_the_loop_was_blocked_the_missed_frames_are_skipped(monkeypatch):
    """A server busy for a second (a blocked event loop) sends one late frame, then goes on
    at the next fifth of a second of its schedule: no burst of catch-up frames drawn at one
    instant, and no shift of every later frame."""
    assert _run(monkeypatch, [0, 1.05, 0, 0]) == [0.2, 1.45, 1.6, 1.8]
    assert _run(monkeypatch, [0, 0.25, 0, 0]) == [0.2, 0.65, 0.8, 1.0]


def test_each_frame_is_built_once_for_all_viewers_and_never_for_nobody():
    """The hub encodes each frame once, however many browsers watch, and builds none while
    nobody watches; closing it (the server stopping) ends every viewer's stream. Viewers are
    counted by the event-stream handler in ``hub.viewers``; here two are counted by hand."""
    async def main() -> tuple[int, list[bytes], list[int], list[bool]]:
        stats = Stats()
        built: list[int] = []

        def body() -> dict:
            built.append(1)
            return stats.as_dict()

        hub = Hub(stats, body)
        task = asyncio.create_task(hub.run())
        try:
            while len(_samples(hub)) < 2:  # two frames' time with nobody watching
                await asyncio.sleep(0.05)
            unwatched = len(built)
            hub.viewers = 2
            first, second = hub.frames(), hub.frames()
            frames = list(await asyncio.gather(anext(first), anext(second)))
            once = [len(built)]
            hub.close()
            ended = []
            for stream in (first, second):
                try:
                    await anext(stream)
                    ended.append(False)
                except StopAsyncIteration:
                    ended.append(True)
            return unwatched, frames, once, ended
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    unwatched, frames, once, ended = asyncio.run(main())
    assert unwatched == 0
    assert frames[0] is frames[1]  # the same bytes, encoded once
    name, data = _event(frames[0])
    assert name == "message" and set(data) == {"sample", "rps", "stats"}
    assert once == [1]
    assert ended == [True, True]
