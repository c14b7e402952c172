"""The runner binds the app: one course server per port unless workers share it on purpose."""

from __future__ import annotations

import asyncio
import errno

import pytest

from helpers.server import runner
from helpers.server.settings import ServerSettings
from tests.conftest import TEST_KEY


def _settings(port: int = 0) -> ServerSettings:
    return ServerSettings(port=port, text_api_key=TEST_KEY)


def test_a_second_server_on_the_same_port_is_refused():
    """Two classroom servers started on one port by mistake must not silently split the
    room's connections between them: the second one fails with "address in use"."""
    async def main() -> None:
        first = await runner.start(_settings())
        try:
            with pytest.raises(OSError) as refused:
                await runner.start(_settings(first.port))
            assert refused.value.errno == errno.EADDRINUSE
        finally:
            await first.close()

    asyncio.run(main())


def test_workers_that_ask_for_it_share_one_port():
    """``reuse_port``, as the workers of ``--workers`` ask: every one listens on the port."""
    async def main() -> list[int]:
        first = await runner.start(_settings(), reuse_port=True)
        second = await runner.start(_settings(first.port), reuse_port=True)
        try:
            return [first.port, second.port, len(second.server.sockets)]
        finally:
            await second.close()
            await first.close()

    first, second, sockets = asyncio.run(main())
    assert first == second and sockets == 1


def test_the_reported_port_is_the_one_listening():
    async def main() -> tuple[int, int]:
        server = await runner.start(_settings())
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status = int((await reader.readline()).split()[1])
            writer.close()
            return server.port, status
        finally:
            await server.close()

    port, status = asyncio.run(main())
    assert port > 0 and status == 200
