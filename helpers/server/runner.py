"""Run the application on a socket (``port=0``: any free port)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from aiohttp import web

from .app import API_PREFIX, TEXT_PREFIX, create_app
from .arrival import StampingProtocol
from .dashboard import PATH as DASHBOARD_PATH
from .remote import Link
from .settings import ServerSettings


@dataclass
class Address:
    """Where a server listens, and its URLs (one process or several workers alike)."""

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



@dataclass(kw_only=True)
class RunningServer(Address):
    runner: web.AppRunner
    server: asyncio.base_events.Server

    async def close(self) -> None:
        self.server.close()
        await self.runner.cleanup()
        await self.server.wait_closed()


async def start(settings: ServerSettings, *, link: Link | None = None,
                reuse_port: bool = False) -> RunningServer:
    """Bind and serve ``settings``; ``port=0`` picks a free port (see ``.port``).

    ``link`` and ``reuse_port``: this is one worker of several sharing the port
    (:mod:`.workers`); the kernel spreads the connections over their listening sockets.
    """
    app = create_app(settings, link=link)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    make_protocol = runner.server
    assert make_protocol is not None
    loop = asyncio.get_running_loop()

    def stamping_protocol() -> asyncio.Protocol:
        return StampingProtocol(make_protocol(), loop)

    try:
        server = await loop.create_server(
            stamping_protocol,
            settings.host,
            settings.port,
            reuse_address=True,
            reuse_port=reuse_port or None,
            backlog=4096,
            family=socket.AF_UNSPEC,
        )
    except BaseException:
        await runner.cleanup()
        raise
    port = server.sockets[0].getsockname()[1]
    return RunningServer(runner=runner, server=server, host=settings.host, port=port)
