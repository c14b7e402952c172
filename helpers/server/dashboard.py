"""``GET /_dashboard``: a live page of what the server sees, for an instructor's projector.

The page, its script, style sheet and icon are files in ``static/``, served by this server
itself, so the dashboard works without internet. The page reads one server-sent event stream,
``/_dashboard/events``: five frames a second, each with the body of ``/_stats`` (totals, counts
by status, the per-client table) and one sample for the chart. Neither the page nor the stream
counts as API traffic, and neither carries the Text API key: the body of ``/_stats`` never
does.

One :class:`Hub` per application samples the counters on a timer and encodes each frame once,
however many browsers watch. It keeps the last 60 seconds of samples, so a page opened late
still draws the whole chart. On shutdown it ends every stream, so stopping the server never
waits for a browser that is still connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

PATH = "/_dashboard"
EVENTS_PATH = PATH + "/events"
INTERVAL = 0.2
"""Seconds between two frames: five a second."""
HISTORY = 60.0
"""Seconds of samples the chart shows, and that a newly opened page receives at once."""
MAX_VIEWERS = 64
"""Open event streams at most; one more is refused with 429 (each costs a write per frame)."""
WRITE_TIMEOUT = 2.0
"""A browser that does not read a frame within this many seconds is disconnected."""
SHUTDOWN_GRACE = 1.0
"""On shutdown, a stream still open this many seconds after it was told to end is cut."""

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {
    # URL under PATH: (file in static/, Content-Type)
    "": ("dashboard.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
# Everything the page uses comes from this server; no inline script or style, no frames.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

class Counters(Protocol):
    """What the hub samples; :class:`~helpers.server.stats.Stats` is one (or an aggregate of
    several worker processes' counters that offers the same three things)."""

    requests: int
    in_flight: int

    def take_window_peak(self) -> int: ...


class Hub:
    """Samples the counters every :data:`INTERVAL` and hands each frame to every viewer.

    A sample is ``[t, arrived, peak, in_flight]``: seconds since the hub started, requests
    that arrived since the previous sample, the most requests in flight during the interval,
    and the number in flight at its end.
    """

    def __init__(self, stats: Counters, body: Callable[[], dict[str, Any]]) -> None:
        self._stats = stats
        self._body = body
        self._samples: deque[list[float | int]] = deque(maxlen=round(HISTORY / INTERVAL) + 1)
        self._last_requests = 0
        self._next: asyncio.Future[bytes | None] | None = None
        self._start = 0.0
        self.viewers = 0
        self.transports: set[asyncio.BaseTransport] = set()
        """The connections of the open streams, cut if they outstay the shutdown grace."""

    async def run(self) -> None:
        """Sample on a fixed schedule (no drift when a tick is late) until cancelled."""
        loop = asyncio.get_running_loop()
        self._start = due = loop.time()
        self._next = loop.create_future()
        self._last_requests = self._stats.requests
        while True:
            due += INTERVAL
            now = loop.time()
            if due < now:  # the loop was blocked: skip the ticks that were missed
                due = now + INTERVAL - (now - due) % INTERVAL
            await asyncio.sleep(due - now)
            self.tick(loop.time())

    def tick(self, now: float) -> None:
        stats = self._stats
        requests = stats.requests
        # After /_stats/reset the total starts again from zero. (A reset followed, within the
        # same fifth of a second, by more requests than were counted before it makes that one
        # sample too small; the totals in the frame are always exact.)
        arrived = requests - self._last_requests if requests >= self._last_requests else requests
        self._last_requests = requests
        sample = [round(now - self._start, 3), arrived, stats.take_window_peak(),
                  stats.in_flight]
        self._samples.append(sample)
        if self.viewers and self._next is not None and not self._next.done():
            frame = {"sample": sample, "rps": self.rate(), "stats": self._body()}
            waiting, self._next = self._next, asyncio.get_running_loop().create_future()
            waiting.set_result(_event(None, frame))

    def rate(self) -> float:
        """Requests per second over the last second of samples."""
        n = round(1.0 / INTERVAL)
        if len(self._samples) < 2:
            return 0.0
        window = list(self._samples)[-(n + 1):]
        span = window[-1][0] - window[0][0]
        return round(sum(s[1] for s in window[1:]) / span, 1) if span > 0 else 0.0

    def history(self) -> bytes:
        return _event("history", {"interval": INTERVAL, "window": HISTORY,
                                  "samples": list(self._samples)})

    async def frames(self) -> AsyncIterator[bytes]:
        """Each new frame, until the hub closes."""
        while self._next is not None:
            # Shielded: a viewer that goes away must not cancel the frame the others wait for.
            frame = await asyncio.shield(self._next)
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        """End every stream: each viewer's ``frames()`` returns.

        A stream blocked on a browser that stopped reading cannot notice; its connection is
        cut after :data:`SHUTDOWN_GRACE` seconds, so stopping the server never waits for it
        (aiohttp would wait up to a minute).
        """
        if self._next is not None and not self._next.done():
            self._next.set_result(None)
        if self.transports:
            asyncio.get_running_loop().call_later(SHUTDOWN_GRACE, self._cut)

    def _cut(self) -> None:
        for transport in list(self.transports):
            transport.abort()
        self.transports.clear()


HUB = web.AppKey("dashboard_hub", Hub)


def _event(name: str | None, data: dict[str, Any]) -> bytes:
    # JSON has no raw newline, so one ``data:`` line carries the whole frame.
    head = f"event: {name}\n" if name else ""
    return (head + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


# --------------------------------------------------------------------------- handlers


def _asset_handler(filename: str, content_type: str) -> Callable[[web.Request], Any]:
    body = (STATIC / filename).read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={**SECURITY_HEADERS, "Content-Type": content_type})

    return handler


async def events(request: web.Request) -> web.StreamResponse:
    """The event stream: the last minute of samples first, then a frame every ``INTERVAL``."""
    hub = request.app[HUB]
    if hub.viewers >= MAX_VIEWERS:
        return web.Response(status=429, text="Too Many Requests: too many dashboards open",
                            headers={"Retry-After": "5"})
    response = web.StreamResponse(headers={
        **SECURITY_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    transport = request.transport
    hub.viewers += 1
    if transport is not None:
        hub.transports.add(transport)
    try:
        # retry: how soon a browser reconnects when the server restarts (milliseconds).
        await _write(response, b"retry: 1000\n\n" + hub.history())
        async for frame in hub.frames():
            await _write(response, frame)
    except ConnectionError:
        pass  # the browser went away
    except TimeoutError:
        # The browser stopped reading: cut it, or the end of the stream would block too.
        if transport is not None:
            transport.abort()
    finally:
        hub.viewers -= 1
        hub.transports.discard(transport)  # type: ignore[arg-type]
    return response


async def _write(response: web.StreamResponse, data: bytes) -> None:
    await asyncio.wait_for(response.write(data), WRITE_TIMEOUT)


def setup(app: web.Application, stats: Counters, body: Callable[[], dict[str, Any]]) -> None:
    """Add the dashboard's routes to ``app``; ``body()`` is what ``/_stats`` answers."""
    hub = Hub(stats, body)
    app[HUB] = hub

    async def sampling(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(hub.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def end_streams(app: web.Application) -> None:
        hub.close()

    app.cleanup_ctx.append(sampling)
    app.on_shutdown.append(end_streams)
    for suffix, (filename, content_type) in ASSETS.items():
        app.router.add_get(PATH + suffix, _asset_handler(filename, content_type))
    app.router.add_get(EVENTS_PATH, events, allow_head=False)
