"""One timer for every answer that falls due at the same moment.

Why: with 500 requests in flight, ``asyncio.sleep`` per request means 500 timers, each one
created, kept in the loop's heap and fired on its own. Requests that arrive in the same turn of
the loop and wait the same latency fall due at the same loop time (uvloop's clock counts whole
milliseconds), so they share one timer here: when it fires, it wakes all of them in their order
of arrival, and their answers go out one after another in the same turn of the loop.

Each waiter still gets its own future, so a cancelled waiter (a handler cancelled on shutdown)
cancels only itself, never the others that share its timer.

A waiter may pass ``settle``, a function called when its timer fires, for every waiter of the
group before any of them is woken (the middleware counts the answers there). ``batch`` wraps
those calls: with ``--workers`` it holds the messages to the supervisor and sends them as one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

Settle = Callable[[], None]


class Wakeups:
    """``await wakeups.at(when)``: sleep until the loop time ``when``, sharing timers."""

    def __init__(self, batch: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        self._due: dict[float, list[tuple[asyncio.Future[None], Settle | None]]] = {}
        self._batch = batch or contextlib.nullcontext

    def at(self, when: float, settle: Settle | None = None) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        group = self._due.get(when)
        if group is None:
            group = self._due[when] = []
            loop.call_at(when, self._fire, when)
        group.append((waiter, settle))
        return waiter

    def _fire(self, when: float) -> None:
        group = self._due.pop(when, ())
        try:
            with self._batch():
                for waiter, settle in group:
                    if settle is not None and not waiter.done():
                        settle()
        finally:  # whatever happened, nobody is left waiting
            for waiter, _ in group:
                if not waiter.done():
                    waiter.set_result(None)

    def __len__(self) -> int:
        """How many timers are pending (one per distinct due time)."""
        return len(self._due)
