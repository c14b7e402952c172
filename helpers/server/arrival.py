"""The protocol the runner puts in front of aiohttp's: arrival stamps, and a connection flag.

The simulated latency is counted from a request's arrival. Stamped here, arrival is when the
bytes came in, not when the application got round to the request: in a burst of 151 requests,
the time spent parsing the ones ahead is then part of the latency instead of being added to it.

The stamp is an attribute of the connection's own protocol object, which the middleware reaches
through ``request.transport.get_protocol()``: no table keyed by transport to keep up to date
per chunk of bytes. ``counted`` says whether the connection has carried an API request yet
(``/_stats`` counts each such connection once). Everything else is passed straight through.
"""

from __future__ import annotations

import asyncio


class StampingProtocol(asyncio.Protocol):
    """aiohttp's protocol, plus the loop time at which bytes last reached the socket."""

    __slots__ = ("_inner", "_loop", "arrived", "counted")

    def __init__(self, inner: asyncio.Protocol, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self.arrived = loop.time()  # restamped by every chunk of bytes, before any request
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.arrived = self._loop.time()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
