"""The supervisor's ledger: the one place that sees every request enter and leave.

Why one place: with several worker processes, "most requests in flight at once" is the peak of
the *sum* of the workers' in-flight counts. No worker can know it (adding up each worker's own
peak overstates it whenever their peaks happen at different moments), and neither can anyone
reading the workers' counters one after another. So every worker sends what happens to its
requests (arrived, entered, left, answered with a status, dropped) over one shared
``SOCK_SEQPACKET`` socket to the supervisor, which applies them to one ordinary
:class:`~helpers.server.stats.Stats`, in the order the kernel queued them. Each message is
sent before what it reports becomes visible to a client (an answer is counted before it is
written), so ``/_stats`` read after an answer always includes it, and the totals, the
per-client counters and both kinds of peak are exactly what one process would have counted.

The same ledger keeps what must be shared for faults and limits to mean the same thing with
any number of workers: the fault plan's count of how often each request was seen (so the k-th
``GET /pokemon/25`` draws the same fate whichever worker takes it), the rate limiter's buckets
and the capacity check (checked and entered at once). Workers ask those as questions; the
answers come back on each worker's own reply socket.

Wire format: ``marshal`` of ``(worker, [event, ...])``; both ends are this package.
"""

from __future__ import annotations

import marshal
import socket
from dataclasses import dataclass, field
from typing import Any

from .faults import FaultPlan, RateLimiter
from .settings import ServerSettings
from .stats import ClientStats, Stats

MAX_MESSAGE = 1 << 20
"""Largest message on either socket (a ``/_stats`` answer with 256 clients is ~80 KB)."""


@dataclass
class _Request:
    client: ClientStats
    entered: bool = False


@dataclass
class WorkerInfo:
    pid: int = 0
    ready: bool = False
    """It listens on the port (it said so on the events socket)."""
    requests: int = 0
    """API requests this slot's processes took (since the last reset)."""


@dataclass
class Ledger:
    """Applies the workers' events to one :class:`Stats`; answers their questions."""

    settings: ServerSettings
    workers: int
    stats: Stats = field(default_factory=Stats)
    restarts: int = 0
    lost_in_flight: int = 0
    """Requests that were in flight in a worker when it died (their clients saw a reset)."""

    def __post_init__(self) -> None:
        self.plan = FaultPlan(self.settings)
        self.limiter = (RateLimiter(self.settings.rate_limit) if self.settings.rate_limit
                        else None)
        self._requests: dict[tuple[int, int], _Request] = {}
        # Each worker's dashboard takes "the peak since my last sample": one window per worker,
        # so two dashboards served by two workers never steal each other's peaks.
        self._window = [0] * self.workers
        self.info = [WorkerInfo() for _ in range(self.workers)]

    # ------------------------------------------------------------------ events

    def apply(self, worker: int, events: list[tuple[Any, ...]]) -> list[tuple[int, Any]]:
        """Apply one message's events in order; the answers to its questions, by seq.

        Events are whole steps of a request, so most requests cost two: ``A`` (arrived and
        entered) and ``L`` (left, answered with a status). The others: ``R`` (refused at the
        door by the rate limit: arrived, answered), ``C`` (answered after a refused
        ``admit``), ``D`` (dropped: left without an answer), ``X`` (left without an answer,
        an exception), ``Z`` (arrived, never entered), ``n`` (connections opened), ``r``
        (the worker listens) and ``?`` (a question).
        """
        answers: list[tuple[int, Any]] = []
        stats, requests = self.stats, self._requests
        info = self.info[worker]
        for event in events:
            kind = event[0]
            if kind == "A":  # (A, rid, name, address)
                client = stats.arrive(event[2], event[3])
                info.requests += 1
                stats.enter(client)
                requests[worker, event[1]] = _Request(client, entered=True)
                self._note_peak()
            elif kind == "L":  # (L, rid, status)
                r = requests.pop((worker, event[1]))
                stats.leave(r.client)
                stats.count(event[2], r.client)
            elif kind == "R":  # (R, name, address, status)
                client = stats.arrive(event[1], event[2])
                info.requests += 1
                stats.count(event[3], client)
            elif kind == "C":  # (C, rid, status)
                stats.count(event[2], requests.pop((worker, event[1])).client)
            elif kind == "D":  # (D, rid)
                r = requests.pop((worker, event[1]))
                stats.drop(r.client)
                stats.leave(r.client)
            elif kind == "X":  # (X, rid)
                r = requests.pop((worker, event[1]), None)
                if r is not None and r.entered:
                    stats.leave(r.client)
            elif kind == "Z":  # (Z, name, address)
                stats.arrive(event[1], event[2])
                info.requests += 1
            elif kind == "n":  # (n, count)
                stats.connections_opened += event[1]
            elif kind == "r":  # (r, pid): the worker listens
                info.ready = True
            elif kind == "?":  # (?, seq, name, *args)
                answers.append((event[1], self._answer(worker, event[2], event[3:])))
            else:
                raise ValueError(f"unknown ledger event {kind!r}")
        return answers

    def _note_peak(self) -> None:
        now = self.stats.in_flight
        window = self._window
        for i, peak in enumerate(window):
            if now > peak:
                window[i] = now

    def _answer(self, worker: int, name: str, args: tuple[Any, ...]) -> Any:
        stats = self.stats
        if name == "stats":
            return self.as_dict()
        if name == "admit":  # (rid, name, address, capacity): arrived; entered unless full
            rid, client_name, address, capacity = args
            r = self._requests[worker, rid] = _Request(stats.arrive(client_name, address))
            self.info[worker].requests += 1
            if stats.in_flight >= capacity:
                return False  # its answer (429) comes as C
            stats.enter(r.client)
            r.entered = True
            self._note_peak()
            return True
        if name == "take":  # the fault plan's count for a request key
            return self.plan.take(args[0])
        if name == "acquire":  # (client address, arrival time)
            return self.limiter.acquire(args[0], args[1]) if self.limiter else 0.0
        if name == "in_flight":
            return stats.in_flight
        if name == "requests":
            return stats.requests
        if name == "window":
            peak, self._window[worker] = self._window[worker], stats.in_flight
            return peak
        if name == "reset":
            self.reset()
            return self.as_dict()
        raise ValueError(f"unknown ledger question {name!r}")

    # ------------------------------------------------------------------ workers

    def worker_died(self, worker: int) -> int:
        """Forget a dead worker's requests; those still in flight leave (and are counted lost).

        Their clients saw the connection close without an answer. Returns how many there were.
        """
        lost = 0
        for key in [k for k in self._requests if k[0] == worker]:
            r = self._requests.pop(key)
            if r.entered:
                self.stats.leave(r.client)
                lost += 1
        self.lost_in_flight += lost
        return lost

    def reset(self) -> None:
        """``/_stats/reset`` for every worker at once: counters, fault counts, rate buckets."""
        self.stats.reset()
        self.plan.reseed()
        if self.limiter is not None:
            self.limiter.reset()
        self._window = [self.stats.in_flight] * self.workers
        for w in self.info:  # restarts and lost_in_flight describe the processes: kept
            w.requests = 0

    def as_dict(self) -> dict[str, Any]:
        body = self.stats.as_dict()
        body["workers"] = {
            "count": self.workers, "restarts": self.restarts,
            "lost_in_flight": self.lost_in_flight, "pids": [w.pid for w in self.info],
            "requests": [w.requests for w in self.info],
        }
        return body


def encode(worker: int, events: list[tuple[Any, ...]]) -> bytes:
    return marshal.dumps((worker, events))


def decode(data: bytes) -> tuple[int, list[tuple[Any, ...]]]:
    return marshal.loads(data)


def socket_pair() -> tuple[socket.socket, socket.socket]:
    """A ``SOCK_SEQPACKET`` pair: whole messages, in order, bounded by bytes (not by count
    like ``SOCK_DGRAM``, whose default queue of 10 would stall the workers)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MAX_MESSAGE)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MAX_MESSAGE)
    return a, b
