"""What the server saw: the numbers notebooks use to prove what concurrency did."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    """Counters for the API routes (``/_stats`` itself is never counted).

    ``in_flight`` counts requests admitted and not yet answered, so ``peak_in_flight`` is the
    concurrency the server really experienced. Requests refused at the door (capacity or rate
    limit, both 429) are counted in ``requests`` and ``by_status`` but never enter ``in_flight``.
    ``connections_opened`` counts the TCP connections that carried at least one API request
    (a connection used only for ``/_stats`` is not counted).
    """

    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    connections_opened: int = 0
    dropped: int = 0
    by_status: Counter[int] = field(default_factory=Counter)

    def enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def reset(self) -> None:
        """Zero the counters; requests still in flight stay counted as in flight."""
        self.requests = 0
        self.peak_in_flight = self.in_flight
        self.connections_opened = 0
        self.dropped = 0
        self.by_status.clear()

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "connections_opened": self.connections_opened,
            "dropped": self.dropped,
            "by_status": {str(code): n for code, n in sorted(self.by_status.items())},
        }
