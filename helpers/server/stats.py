"""What the server saw: the numbers notebooks use to prove what concurrency did.

The totals (:class:`Stats`) answer "what did the server experience"; the per-client counters
(:class:`ClientStats`, kept in ``Stats.clients``) answer "who did it", so an instructor's
dashboard can show "alice: peak 10" while thirty laptops share one server. A client is named
by its ``X-Client-Name`` header, else by its address. Every name is untrusted input: it is cut
to :data:`MAX_NAME_LENGTH` characters, characters that are not printable become ``?``, and at
most :data:`MAX_CLIENTS` clients are tracked (the least recently seen is forgotten first), so
no client can make the server's memory or its ``/_stats`` answer grow without bound.

Merging: every counter here is a plain number or a ``Counter`` of numbers, and
:func:`merge_client_dicts` adds up the ``clients`` of several ``/_stats`` answers (one per
worker process) into one.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CLIENT_HEADER = "X-Client-Name"
MAX_NAME_LENGTH = 64
MAX_CLIENTS = 256
UNKNOWN_CLIENT = "unknown"
_EVICTION_SCAN = 8  # how many of the oldest clients eviction looks at for an idle one


def client_key(name: str | None, address: str | None) -> str:
    """The key a request is counted under: its cleaned ``X-Client-Name``, else its address.

    The common case (a short printable name) costs three string calls; only a hostile or odd
    name pays for the character-by-character cleaning. A name that is empty once cleaned
    counts as no name.
    """
    if name:
        name = name.strip()
        if len(name) > MAX_NAME_LENGTH or not name.isprintable():
            # isprintable() is False for control characters, line and paragraph separators,
            # format characters such as the right-to-left override, and lone surrogates
            # (aiohttp decodes header bytes that are not UTF-8 as surrogates).
            name = "".join(c if c.isprintable() else "?" for c in name[:MAX_NAME_LENGTH])
        name = name.strip()
        if name:
            return name
    return address or UNKNOWN_CLIENT


@dataclass(slots=True)
class ClientStats:
    """One client's counters; the same meaning as the totals of :class:`Stats`."""

    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    dropped: int = 0
    by_status: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers; ``too_many`` is the 429s, ``errors`` the 5xx plus drops."""
        by_status = self.by_status
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "too_many": by_status[429],
            "errors": sum(n for code, n in by_status.items() if code >= 500) + self.dropped,
            "dropped": self.dropped,
            "by_status": {str(code): n for code, n in sorted(by_status.items())},
        }


@dataclass
class Stats:
    """Counters for the API routes (``/_stats`` and ``/_dashboard`` are never counted).

    ``in_flight`` counts requests admitted and not yet answered, so ``peak_in_flight`` is the
    concurrency the server really experienced. Requests refused at the door (capacity or rate
    limit, both 429) are counted in ``requests`` and ``by_status`` but never enter ``in_flight``.
    ``connections_opened`` counts the TCP connections that carried at least one API request
    (a connection used only for ``/_stats`` is not counted).

    The middleware calls :meth:`arrive` once per request and passes the :class:`ClientStats`
    it returns to :meth:`enter`, :meth:`leave`, :meth:`count` and :meth:`drop`. It holds the
    object rather than the key, so a client forgotten (evicted, or reset) while its requests
    are in flight never makes the counters of a newer entry go wrong.
    """

    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    connections_opened: int = 0
    dropped: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    clients: OrderedDict[str, ClientStats] = field(default_factory=OrderedDict)
    """Per client, least recently seen first; at most ``max_clients`` entries."""
    clients_evicted: int = 0
    """Clients forgotten to keep ``clients`` within ``max_clients`` (since the last reset)."""
    max_clients: int = MAX_CLIENTS
    window_peak: int = 0
    """Most requests in flight since the last :meth:`take_window_peak` (the dashboard's chart)."""

    def arrive(self, name: str | None = None, address: str | None = None) -> ClientStats:
        """Count one request from the client named ``name`` (else ``address``); its counters."""
        self.requests += 1
        key = client_key(name, address)
        clients = self.clients
        client = clients.get(key)
        if client is None:
            if len(clients) >= self.max_clients:
                self._evict()
            client = clients[key] = ClientStats()
        else:
            clients.move_to_end(key)
        client.requests += 1
        return client

    def _evict(self) -> None:
        """Forget the least recently seen client, preferring one with nothing in flight.

        Only the few oldest are looked at, so a flood of new names costs a bounded amount of
        work per request. A client forgotten with requests in flight and then seen again
        starts a new entry; its older requests finish on the forgotten one.
        """
        clients = self.clients
        victim = next(iter(clients))
        for looked, (key, client) in enumerate(clients.items()):
            if not client.in_flight:
                victim = key
                break
            if looked >= _EVICTION_SCAN:
                break
        del clients[victim]
        self.clients_evicted += 1

    def enter(self, client: ClientStats | None = None) -> None:
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight
        if self.in_flight > self.window_peak:
            self.window_peak = self.in_flight
        if client is not None:
            client.in_flight += 1
            if client.in_flight > client.peak_in_flight:
                client.peak_in_flight = client.in_flight

    def leave(self, client: ClientStats | None = None) -> None:
        self.in_flight -= 1
        if client is not None:
            client.in_flight -= 1

    def count(self, status: int, client: ClientStats | None = None) -> None:
        """One answer with ``status`` went out."""
        self.by_status[status] += 1
        if client is not None:
            client.by_status[status] += 1

    def drop(self, client: ClientStats | None = None) -> None:
        """One connection was closed without an answer."""
        self.dropped += 1
        if client is not None:
            client.dropped += 1

    def take_window_peak(self) -> int:
        """The most requests in flight since the last call; starts the next window.

        A burst of 150 requests at 50 ms latency can begin and end between two samples of
        ``in_flight`` a fifth of a second apart; the window's peak still shows it.
        """
        peak, self.window_peak = self.window_peak, self.in_flight
        return peak

    def reset(self) -> None:
        """Zero the counters; requests still in flight stay counted as in flight.

        A client with requests in flight keeps its entry (zeroed, its peak its current
        in-flight count) so that the clients' in-flight counts still add up to the total;
        every other client is forgotten.
        """
        self.requests = 0
        self.peak_in_flight = self.in_flight
        self.window_peak = self.in_flight
        self.connections_opened = 0
        self.dropped = 0
        self.by_status.clear()
        self.clients_evicted = 0
        # Zeroed in place, not replaced: the requests in flight hold these very objects and
        # will call leave() on them.
        for key in [key for key, client in self.clients.items() if not client.in_flight]:
            del self.clients[key]
        for client in self.clients.values():
            client.requests = client.dropped = 0
            client.peak_in_flight = client.in_flight
            client.by_status.clear()

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "connections_opened": self.connections_opened,
            "dropped": self.dropped,
            "by_status": {str(code): n for code, n in sorted(self.by_status.items())},
            "clients": {key: client.as_dict() for key, client in self.clients.items()},
            "clients_evicted": self.clients_evicted,
        }


def merge_client_dicts(parts: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Add up the ``"clients"`` of several ``/_stats`` answers (one per worker process).

    Counts (requests, in flight, 429s, errors, drops, each status) add up exactly. A peak does
    not: each worker knows only its own. The merged ``peak_in_flight`` is the sum of the
    workers' peaks, an upper bound that is exact when the client's requests were spread over
    the workers during the same burst (the classroom case: a semaphore of 10 split 6 + 4);
    it can be higher than the truth when the workers' peaks happened at different times.
    """
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for key, client in part.items():
            into = merged.setdefault(key, {
                "requests": 0, "in_flight": 0, "peak_in_flight": 0, "too_many": 0,
                "errors": 0, "dropped": 0, "by_status": {},
            })
            for name in ("requests", "in_flight", "peak_in_flight", "too_many", "errors",
                         "dropped"):
                into[name] += client[name]
            for code, n in client["by_status"].items():
                into["by_status"][code] = into["by_status"].get(code, 0) + n
    for client in merged.values():
        client["by_status"] = dict(sorted(client["by_status"].items(), key=lambda kv: int(kv[0])))
    return merged
