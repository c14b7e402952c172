"""Start the local API in a subprocess that lives exactly as long as the kernel wants it.

Why a subprocess and not a task in the notebook's own loop: a cell that blocks the loop
(``time.sleep`` on purpose, ``requests`` in a loop) would freeze the server too, and the
measurements would lie. In its own process the server keeps its own clock.

The child watches its standard input: when the parent dies, even by SIGKILL, the pipe closes
and the child exits. It ignores SIGINT, so "Interrupt kernel" stops the cell, not the API.
"""

from __future__ import annotations

import io
import json
import os
import queue
import secrets
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .server.settings import ServerSettings

_ENV_BASE_URL = "POKEAPI_BASE_URL"
IDLE_TIMEOUT = 10.0
"""How long :meth:`LocalAPI.wait_idle` waits for the server to finish by default (s)."""
IDLE_POLL = 0.01
"""How often :meth:`LocalAPI.wait_idle` asks the server (s)."""
# The one clock this module measures with; a test replaces it to check the default
# timeouts without waiting them out.
_clock = time.monotonic
# Servers started by this process, oldest first; pokeapi_base_url() answers with the newest
# one still running, so stopping a temporary second server falls back to the first.
_started: list[weakref.ref[LocalAPI]] = []


class LocalAPI:
    """A running local server. Use :func:`start_local_api` to make one."""

    def __init__(
        self, process: subprocess.Popen[bytes], base_url: str, settings: ServerSettings,
        log: IO[bytes],
    ) -> None:
        self.process = process
        self.base_url = base_url
        self.origin = base_url.removesuffix("/api/v2")
        self.text_api_url = self.origin + "/text"
        self.dashboard_url = self.origin + "/_dashboard"
        """The live dashboard: open it in a browser to watch this server's requests."""
        self.settings = settings
        self._log = log
        self._finalizer = weakref.finalize(self, _shutdown, process, log)

    @property
    def text_api_key(self) -> str:
        """The key the Text API expects in its ``apikey`` header. Pass it; don't print it."""
        return self.settings.text_api_key

    @property
    def running(self) -> bool:
        return self._finalizer.alive and self.process.poll() is None

    def stats(self) -> dict[str, Any]:
        """The server's counters: requests, in_flight, peak_in_flight, connections_opened, ..."""
        return self._call("/_stats")

    def reset_stats(self) -> dict[str, Any]:
        """Zero the counters and restart the seeded faults; returns the fresh counters."""
        return self._call("/_stats/reset", body=b"")

    def wait_idle(self, timeout: float = IDLE_TIMEOUT, poll: float = IDLE_POLL) -> dict[str, Any]:
        """Block until the server has nothing in flight; returns its counters then.

        A client that gave up on a request (a timeout) does not stop the server from
        finishing it, so read the counters only once the server is idle. In a coroutine,
        use :meth:`wait_idle_async`, which does not block the event loop.
        """
        deadline = _clock() + timeout
        while (stats := self.stats())["in_flight"]:
            if _clock() > deadline:
                raise TimeoutError(f"the server still had {stats['in_flight']} requests in "
                                   f"flight after {timeout} s")
            time.sleep(poll)
        return stats

    async def wait_idle_async(
        self, timeout: float = IDLE_TIMEOUT, poll: float = IDLE_POLL
    ) -> dict[str, Any]:
        """:meth:`wait_idle` for coroutines: sleeps with ``asyncio.sleep`` between polls."""
        import asyncio

        deadline = _clock() + timeout
        while (stats := self.stats())["in_flight"]:
            if _clock() > deadline:
                raise TimeoutError(f"the server still had {stats['in_flight']} requests in "
                                   f"flight after {timeout} s")
            await asyncio.sleep(poll)
        return stats

    def stop(self) -> None:
        """Stop the server and wait for it; safe to call twice."""
        self._finalizer()

    def _call(self, path: str, body: bytes | None = None) -> dict[str, Any]:
        """GET ``path``, or POST ``body`` to it (urllib posts whenever there is a body)."""
        if not self.running:
            raise RuntimeError("the local API has been stopped; start a new one")
        req = urllib.request.Request(self.origin + path, data=body)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def __enter__(self) -> LocalAPI:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalAPI {self.base_url} ({state})>"


def start_local_api(
    *,
    latency: float = 0.0,
    jitter: float = 0.0,
    seed: int = 0,
    capacity: int | None = None,
    retry_after: int = 1,
    error_rate: float = 0.0,
    drop_rate: float = 0.0,
    slow_rate: float = 0.0,
    slow_seconds: float = 1.0,
    rate_limit: float | None = None,
    sprite_kb: int = 16,
    text_api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int = 1,
    timeout: float = 15.0,
) -> LocalAPI:
    """Start the local PokéAPI and Text API; see ``python -m helpers.server --help``.

    Every option is checked here first, so a bad value fails in the notebook with a clear
    message rather than in a child process. The Text API key is ``text_api_key``, else the
    ``TEXT_API_KEY`` environment variable, else a random one (see ``.text_api_key``).
    ``workers``: server processes sharing the port (``--workers``); one is right for a
    notebook, more for a classroom.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ValueError(f"workers must be an integer from 1 to 64, got {workers!r}")
    key = text_api_key or os.environ.get("TEXT_API_KEY") or secrets.token_urlsafe(16)
    settings = ServerSettings(
        host=host, port=port, latency=latency, jitter=jitter, seed=seed, capacity=capacity,
        retry_after=retry_after, error_rate=error_rate, drop_rate=drop_rate,
        slow_rate=slow_rate, slow_seconds=slow_seconds, rate_limit=rate_limit,
        sprite_kb=sprite_kb, text_api_key=key,
    )
    args = [sys.executable, "-m", "helpers.server", "--managed", *_flags(settings),
            "--workers", str(workers)]
    env = dict(os.environ)
    env["TEXT_API_KEY"] = key  # by environment, not argv: argv is visible to every user
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    log = tempfile.TemporaryFile()
    # Out of the terminal's process group, so Ctrl-C in a console reaches the parent only:
    # a new session on POSIX, a new process group on Windows. Each system ignores the other's
    # option (Windows ignores start_new_session; POSIX accepts creationflags only when 0).
    try:
        process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
            start_new_session=True,
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
    except BaseException:
        log.close()  # no child to write it (an interpreter that cannot be run, say)
        raise
    first_line = _read_first_line(process, timeout)
    if not first_line.startswith("http"):
        _shutdown(process, log, keep_log=True)
        log.seek(0)
        detail = log.read().decode(errors="replace").strip()
        log.close()
        raise RuntimeError(
            "the local API did not start" + (f":\n{detail}" if detail else f" within {timeout} s")
        )
    api = LocalAPI(process, first_line, settings, log)
    _started[:] = [ref for ref in _started if (old := ref()) is not None and old.running]
    _started.append(weakref.ref(api))
    return api


def pokeapi_base_url() -> str:
    """``POKEAPI_BASE_URL`` when set (the real API), else the newest running local server's."""
    configured = os.environ.get(_ENV_BASE_URL, "").strip()
    if configured:
        return configured.rstrip("/")
    newest = next((a for ref in reversed(_started) if (a := ref()) is not None and a.running),
                  None)
    if newest is None:
        raise RuntimeError(
            "no local API is running: call helpers.start_local_api() first, "
            f"or set {_ENV_BASE_URL} (for example https://pokeapi.co/api/v2)"
        )
    return newest.base_url


def _flags(s: ServerSettings) -> list[str]:
    flags = [
        "--host", s.host, "--port", str(s.port), "--latency", repr(s.latency),
        "--jitter", repr(s.jitter), "--seed", str(s.seed), "--retry-after", str(s.retry_after),
        "--error-rate", repr(s.error_rate), "--drop-rate", repr(s.drop_rate),
        "--slow-rate", repr(s.slow_rate), "--slow-seconds", repr(s.slow_seconds),
        "--sprite-kb", str(s.sprite_kb),
    ]
    if s.capacity is not None:
        flags += ["--capacity", str(s.capacity)]
    if s.rate_limit is not None:
        flags += ["--rate-limit", repr(s.rate_limit)]
    return flags


def _read_first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The child's first stdout line, or "" if it exits or stays silent past ``timeout``."""
    assert process.stdout is not None
    return _FIRST_LINE_READERS.get(os.name, first_line_by_select)(process.stdout, timeout)


def first_line_by_select(stream: IO[bytes], timeout: float) -> str:
    """The first line of a pipe, or "" at end of file or once ``timeout`` s have passed.

    Reads the raw file descriptor: under gevent (notebook 06 imports grequests, which
    monkey-patches the process) the pipe object is cooperative and must not be read from
    another thread, while ``select`` on the descriptor works with or without gevent.
    POSIX only: Windows cannot ``select`` a pipe.
    """
    fd = stream.fileno()
    deadline = _clock() + timeout
    data = b""
    while b"\n" not in data:
        # Never a negative wait: a line already in the pipe is read even at the deadline.
        if not select.select([fd], [], [], max(0.0, deadline - _clock()))[0]:
            return ""
        chunk = os.read(fd, io.DEFAULT_BUFFER_SIZE)
        if not chunk:  # the child exited
            break
        data += chunk
    return data.partition(b"\n")[0].decode(errors="replace").strip()


def first_line_by_thread(stream: IO[bytes], timeout: float) -> str:
    """:func:`first_line_by_select` for Windows: a daemon thread blocks on ``readline``.

    Daemon, so a child that never writes does not keep the parent's interpreter from exiting.
    """
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).decode(errors="replace").strip()
    except queue.Empty:
        return ""


# By os.name; every other system reads with select().
_FIRST_LINE_READERS = {"nt": first_line_by_thread}

STOP_GRACE = 5.0
"""Seconds :func:`_shutdown` waits at each step: after closing stdin, then after SIGTERM."""


def _shutdown(process: subprocess.Popen[bytes], log: IO[bytes], keep_log: bool = False) -> None:
    """Close stdin (the child's signal to exit), wait, and escalate only if it must."""
    assert process.stdin is not None  # always a pipe (start_local_api)
    process.stdin.close()  # nothing is ever written to it, so closing cannot fail, even twice
    try:
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
    if not keep_log:
        log.close()
