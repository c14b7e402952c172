"""``python -m helpers.bench.ceiling``: the smallest aiohttp.web app, the benchmark's ceiling.

Why it exists: "is the course server fast?" only has an answer next to what aiohttp itself can
do on the same machine, at the same moment, on the same event loop. This app does nothing but
wait the latency (one ``asyncio.sleep``) and return a fixed body: no middleware, no counters,
no faults, no JSON. Whatever the course server costs beyond it is the course server's own work.

It serves the bytes of ``--body-file`` (the course server's ``/pokemon/25``, so both send the
same body), prints its base URL as the first line, and exits when standard input
closes, like the course server started with ``--managed``. It runs on the course server's loop
(uvloop where installed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading

from aiohttp import web

from ..server.cli import _run


def build_app(body: bytes, latency: float) -> web.Application:
    """One GET route, ``/api/v2/pokemon/{key}``, answering ``body`` after ``latency`` seconds."""

    async def pokemon(request: web.Request) -> web.Response:
        if latency:
            await asyncio.sleep(latency)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    app = web.Application()
    app.router.add_get("/api/v2/pokemon/{key}", pokemon)
    return app


async def _serve(body: bytes, latency: float) -> None:
    runner = web.AppRunner(build_app(body, latency), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    server = site._server
    assert server is not None and server.sockets
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/api/v2", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_eof() -> None:
        # The raw descriptor, not sys.stdin.buffer: a thread blocked in the buffered reader
        # holds its lock, which interpreter shutdown (after SIGTERM) would then wait for.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:  # the loop has already ended
            pass

    threading.Thread(target=wait_for_eof, daemon=True).start()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m helpers.bench.ceiling", description=__doc__)
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--body-file", required=True,
                   help="file holding the body to serve (the course server's /pokemon/25)")
    args = p.parse_args(argv)
    with open(args.body_file, "rb") as f:
        body = f.read()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _run(_serve(body, args.latency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
