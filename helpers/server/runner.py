"""Run the application on a socket (``port=0``: any free port)."""

from __future__ import annotations

import asyncio
import socket
import weakref
from dataclasses import dataclass

from aiohttp import web

from .app import API_PREFIX, RECEIVED, TEXT_PREFIX, create_app
from .dashboard import PATH as DASHBOARD_PATH
from .settings import ServerSettings


@dataclass
class RunningServer:
    runner: web.AppRunner
    server: asyncio.base_events.Server
    host: str
    port: int

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def text_api_url(self) -> str:
        return self.origin + TEXT_PREFIX

    @property
    def dashboard_url(self) -> str:
        """The live dashboard; on a wildcard address (0.0.0.0, ::) this machine's loopback."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}{DASHBOARD_PATH}"

    async def close(self) -> None:
        self.server.close()
        await self.runner.cleanup()
        await self.server.wait_closed()


async def start(settings: ServerSettings) -> RunningServer:
    """Bind and serve ``settings``; ``port=0`` picks a free port (see ``.port``)."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    make_protocol = runner.server
    assert make_protocol is not None
    loop = asyncio.get_running_loop()
    received = app[RECEIVED]

    def stamping_protocol() -> asyncio.Protocol:
        return _Stamping(make_protocol(), received, loop)

    try:
        server = await loop.create_server(
            stamping_protocol,
            settings.host,
            settings.port,
            reuse_address=True,
            backlog=4096,
            family=socket.AF_UNSPEC,
        )
    except BaseException:
        await runner.cleanup()
        raise
    port = server.sockets[0].getsockname()[1]
    return RunningServer(runner=runner, server=server, host=settings.host, port=port)


class _Stamping(asyncio.Protocol):
    """aiohttp's protocol, plus the time each chunk of bytes reached the socket.

    The simulated latency is counted from a request's arrival. Stamped here, arrival is when
    the bytes came in, not when the application got round to the request: in a burst of 151
    requests, the time spent parsing the ones ahead is then part of the latency instead of
    being added to it. Everything else is passed straight to aiohttp's protocol.
    """

    def __init__(
        self, inner: asyncio.Protocol, received: weakref.WeakKeyDictionary,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._inner = inner
        self._received = received
        self._loop = loop
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._received[self._transport] = self._loop.time()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
