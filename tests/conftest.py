"""Shared fixtures: one local server for the whole session, raw HTTP, in-process servers."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpers import start_local_api  # noqa: E402
from helpers.launcher import LocalAPI  # noqa: E402
from helpers.server import runner  # noqa: E402
from helpers.server.settings import ServerSettings  # noqa: E402

TEST_KEY = "unit-test-key-7f3a"


@pytest.fixture(scope="session")
def api() -> Iterator[LocalAPI]:
    """A local server with every fault off, shared by the read-only tests."""
    server = start_local_api(text_api_key=TEST_KEY)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def port(api: LocalAPI) -> int:
    return int(urlsplit(api.origin).port or 0)


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def raw_http(port: int, data: bytes, *, timeout: float = 10.0) -> RawResponse:
    """Send ``data`` as it is on a fresh TCP connection and parse one HTTP response.

    Raises ``ConnectionError`` if the server closes the connection without a response.
    Reads the body by Content-Length (or to the close), so a server that lingers to drain an
    unread request body does not make the test wait.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before it has read everything; read the answer
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionError(f"connection closed without a response (got {buf[:80]!r})")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _version, status, *reason = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        while length is None or len(body) < int(length):
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            body += chunk
        if length is not None:
            body = body[: int(length)]
        return RawResponse(int(status), reason[0] if reason else "", headers, body)


def get(port: int, path: str, *, method: str = "GET", headers: str = "") -> RawResponse:
    """A well-formed request with ``Connection: close``, by raw socket (no client rewriting)."""
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
        "Connection: close\r\n\r\n"
    )
    return raw_http(port, request.encode("utf-8"))


@contextlib.asynccontextmanager
async def serve(**options: object) -> AsyncIterator[runner.RunningServer]:
    """An in-process server on a free port with these settings, closed on exit."""
    options.setdefault("text_api_key", TEST_KEY)
    server = await runner.start(ServerSettings(**options))  # type: ignore[arg-type]
    try:
        yield server
    finally:
        await server.close()


async def stats_of(server: runner.RunningServer) -> dict:
    """The counters of an in-process server, as ``/_stats`` serves them."""
    from helpers.server.app import STATS

    return server.runner.app[STATS].as_dict()
