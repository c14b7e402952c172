"""A worker's side of the ledger: the counters, fault counts and limits, kept by the supervisor.

With ``--workers N`` each worker process gets these stand-ins instead of its own
:class:`~helpers.server.stats.Stats`, fault counts and rate limiter (see :mod:`.ledger` for
why one place must keep them). They have the same methods, so the middleware and the
dashboard do not know the difference.

Cost per request: events are buffered and sent in one message at the two moments that matter,
before a request starts waiting (it has entered) and before its answer is written (it is
counted): two ``send`` calls per request, no reply awaited. Questions (``/_stats``, the
capacity check, a fault draw, a rate-limit token) wait for the ledger's answer; they happen
only when those features are on, or a few times a second for the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections.abc import Iterator
from typing import Any

from .ledger import MAX_MESSAGE, decode, encode

ASK_TIMEOUT = 10.0


class Link:
    """Ordered events to the supervisor on the shared socket; answers on our own socket."""

    def __init__(self, worker: int, events: socket.socket, replies: socket.socket) -> None:
        self.worker = worker
        self._events = events
        self._replies = replies
        self._replies.settimeout(ASK_TIMEOUT)
        self._buffer: list[tuple[Any, ...]] = []
        self._scheduled = False
        self._holding = False
        # Numbered (this process's id, n): an answer left in the socket for the process this
        # one replaces can never carry a number this one waits for.
        self._seq = zip(itertools.repeat(os.getpid()), itertools.count())

    def post(self, event: tuple[Any, ...], *, now: bool = False) -> None:
        """Queue ``event``; send now, or at the latest when this turn of the loop ends."""
        self._buffer.append(event)
        if now and not self._holding:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Send every event posted inside as one message, at the end (see ``Wakeups``)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if self._buffer:
            data, self._buffer = encode(self.worker, self._buffer), []
            self._events.send(data)

    def ask(self, name: str, *args: Any) -> Any:
        """Ask the ledger (after every event queued so far); block for its answer.

        Blocks this worker's loop for one round trip (tens of microseconds). Answers carry
        the question's number: one left over from a worker that died mid-question (this slot's
        previous process) is skipped.
        """
        seq = next(self._seq)
        self._buffer.append(("?", seq, name, *args))
        self.flush()
        while True:
            data = self._replies.recv(MAX_MESSAGE)
            if not data:
                raise ConnectionError("the server's supervisor is gone")
            got, answer = decode(data)
            if got == seq:
                return answer


class RemoteClient:
    """The handle ``arrive`` returns: one request's number and what happened to it so far."""

    __slots__ = ("address", "entered", "known", "name", "rid", "settled")

    def __init__(self, rid: int, name: str | None, address: str | None) -> None:
        self.rid, self.name, self.address = rid, name, address
        self.known = False  # the ledger has it (it entered, or asked to)
        self.entered = False
        self.settled = False  # its last step was sent


class RemoteStats:
    """:class:`~helpers.server.stats.Stats`' interface, kept in the supervisor's ledger.

    A request's steps are sent as whole events (see :meth:`.ledger.Ledger.apply`): arrival
    waits for entry (``A``), a leave for its status (``L``), so most requests cost two
    messages, each sent at once: before the request waits, and before its answer is written.
    """

    def __init__(self, link: Link) -> None:
        self._link = link
        self._rid = itertools.count()
        self._connections = 0

    def arrive(self, name: str | None = None, address: str | None = None) -> RemoteClient:
        return RemoteClient(next(self._rid), name, address)

    def enter(self, client: RemoteClient | None = None) -> None:
        assert client is not None
        client.known = client.entered = True
        self._link.post(("A", client.rid, client.name, client.address), now=True)

    def admit(self, client: Any, capacity: int | None) -> bool:
        if capacity is None:
            self.enter(client)
            return True
        client.known = True
        admitted = bool(self._link.ask("admit", client.rid, client.name, client.address,
                                       capacity))
        client.entered = admitted
        return admitted

    def leave(self, client: RemoteClient | None = None) -> None:
        """Nothing to send: a leave goes with the request's status (L), or by release() (X)."""

    def count(self, status: int, client: RemoteClient | None = None) -> None:
        assert client is not None
        if client.entered:
            event: tuple[Any, ...] = ("L", client.rid, status)
        elif client.known:
            event = ("C", client.rid, status)
        else:
            event = ("R", client.name, client.address, status)
        client.settled = True
        self._link.post(event, now=True)

    def drop(self, client: RemoteClient | None = None) -> None:
        assert client is not None
        client.settled = True
        self._link.post(("D", client.rid), now=True)

    def release(self, client: Any) -> None:
        if client.settled:
            return
        if client.known:
            self._link.post(("X", client.rid), now=True)
        else:
            self._link.post(("Z", client.name, client.address), now=True)

    @property
    def connections_opened(self) -> int:
        return self._connections

    @connections_opened.setter
    def connections_opened(self, value: int) -> None:
        # ``stats.connections_opened += 1`` reads our own count and writes it back plus one:
        # the ledger gets the difference.
        self._link.post(("n", value - self._connections))
        self._connections = value

    @property
    def in_flight(self) -> int:
        return int(self._link.ask("in_flight"))

    @property
    def requests(self) -> int:
        return int(self._link.ask("requests"))

    def take_window_peak(self) -> int:
        return int(self._link.ask("window"))

    def reset(self) -> None:
        self._link.ask("reset")

    def as_dict(self) -> dict[str, Any]:
        return dict(self._link.ask("stats"))


class RemoteLimiter:
    """The rate limiter's interface; the buckets are the ledger's (one per client address)."""

    def __init__(self, link: Link) -> None:
        self._link = link

    def acquire(self, client: str, now: float) -> float:
        return float(self._link.ask("acquire", client, now))

    def reset(self) -> None:
        """Nothing here: the ledger's reset (``/_stats/reset``) empties the buckets."""


def remote_take(link: Link) -> Any:
    """The fault plan's counter of how often each request was seen, kept by the ledger."""

    def take(key: str) -> int:
        return int(link.ask("take", key))

    return take
