"""``python -m helpers.server``: the local PokéAPI and Text API, in the foreground.

The first line printed (and flushed) is the PokéAPI base URL, so a program that starts the
server can read where it listens. ``--managed`` is for the launcher: the server then exits when
its standard input closes (its parent died, even by SIGKILL) and ignores SIGINT, so a notebook's
"Interrupt kernel" does not take the API down with the cell. ``--workers N`` runs N processes
on the port (see :mod:`.workers`); all of the above still holds for the whole server.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import io
import os
import secrets
import signal
import sys
import threading
from collections.abc import Coroutine
from typing import Any

from . import runner
from .lan import room_banner
from .settings import ServerSettings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m helpers.server",
        description=(
            "A local, offline stand-in for PokéAPI (/api/v2/pokemon) and The Text API (/text/...),"
            " with a picture of each Pokémon (/sprites/{id or name}.png) and simulated latency,"
            " limits and faults. Prints its base URL first, then serves"
            " until stopped (Ctrl-C). Faults are off unless asked for; the same --seed and the"
            " same order of requests give the same faults."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind; 0.0.0.0 serves a whole classroom on the LAN")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                   help="time every API response is held back, from the request's arrival")
    p.add_argument("--jitter", type=float, default=0.0, metavar="SECONDS",
                   help="extra delay drawn uniformly from [0, SECONDS) per request")
    p.add_argument("--seed", type=int, default=0, help="seed for jitter and faults")
    p.add_argument("--capacity", type=int, default=None, metavar="N",
                   help="most requests served at once; more get 429 with Retry-After")
    p.add_argument("--retry-after", type=int, default=1, metavar="SECONDS",
                   help="Retry-After (whole seconds) sent when --capacity is exceeded")
    p.add_argument("--error-rate", type=float, default=0.0, metavar="P",
                   help="probability of answering 500 Internal Server Error")
    p.add_argument("--drop-rate", type=float, default=0.0, metavar="P",
                   help="probability of closing the connection without any response")
    p.add_argument("--slow-rate", type=float, default=0.0, metavar="P",
                   help="probability that a response is --slow-seconds late")
    p.add_argument("--slow-seconds", type=float, default=1.0, metavar="SECONDS",
                   help="extra delay of a slow response")
    p.add_argument("--rate-limit", type=float, default=None, metavar="R",
                   help="requests per second allowed per client address; then 429 with"
                        " Retry-After")
    p.add_argument("--sprite-kb", type=int, default=16, metavar="KIB",
                   help="size of every /sprites/{id or name}.png in KiB, exactly (1 to 16384):"
                        " a picture drawn by the course, sent in 16 KiB pieces")
    p.add_argument("--text-api-key", default=None, metavar="KEY",
                   help="key the Text API expects in its apikey header (default: the"
                        " TEXT_API_KEY environment variable; if unset, a random key is"
                        " generated and shown once)")
    p.add_argument("--workers", type=_workers, default=1, metavar="N",
                   help="server processes sharing the port (SO_REUSEPORT), each on one core;"
                        " 'auto' is one per core. /_stats counts for all of them")
    p.add_argument("--managed", action="store_true",
                   help="for programs that start the server: exit when standard input"
                        " closes, ignore SIGINT, print nothing after the base URL")
    return p


def _workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'auto'") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"must be from 1 to 64, got {n}")
    return n


def settings_from_args(args: argparse.Namespace, key: str) -> ServerSettings:
    return ServerSettings(
        host=args.host,
        port=args.port,
        latency=args.latency,
        jitter=args.jitter,
        seed=args.seed,
        capacity=args.capacity,
        retry_after=args.retry_after,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        rate_limit=args.rate_limit,
        sprite_kb=args.sprite_kb,
        text_api_key=key,
    )


def main(argv: list[str] | None = None) -> int:
    _open_missing_standard_descriptors()
    parser = build_parser()
    args = parser.parse_args(argv)
    key = args.text_api_key or os.environ.get("TEXT_API_KEY", "")
    generated = not key
    if generated:
        key = secrets.token_urlsafe(16)
    try:
        settings = settings_from_args(args, key)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    if args.managed:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args.workers > 1:
        from . import workers

        why_not = workers.supported()
        if why_not:
            parser.error(why_not)
    try:
        if args.workers > 1:
            return workers.run(settings, args.workers, managed=args.managed, show_key=generated)
        _run(_serve(settings, managed=args.managed, show_key=generated))
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"error: port {settings.port} is already in use on {settings.host}; "
                "choose another with --port, or --port 0 for any free port",
                file=sys.stderr,
            )
        else:
            print(f"error: cannot listen on {settings.host}:{settings.port}: {exc}",
                  file=sys.stderr)
        return 2
    return 0


def _open_missing_standard_descriptors() -> None:
    """Put /dev/null on descriptors 0, 1 and 2 where they are closed (``<&-``, a service
    manager). Else the server's own sockets land on them: libuv (uvloop) then aborts when it
    closes one, and a managed server would read its listening socket as its stdin. A closed
    stdin so reads as end of file, and a managed server stops at once: no parent could ever
    stop it otherwise."""
    for fd in range(3):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the server's loop: uvloop where it is installed (not on Windows), else asyncio's.

    uvloop does the loop's bookkeeping and socket writes in C. It matters when many answers
    fall due at the same moment (151 requests in flight): they go out one after another, and
    the faster each goes, the closer the last one is to its simulated latency.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(settings: ServerSettings, managed: bool, show_key: bool) -> None:
    server = await runner.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Signals are handled before the URL is printed: whoever reads the URL may signal at once.
    for sig in (signal.SIGTERM,) if managed else (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: no signal handlers in loops
            pass
    print(server.base_url, flush=True)
    if managed:
        threading.Thread(target=_wait_for_eof, args=(loop, stop), daemon=True).start()
    else:
        key = (f"{settings.text_api_key}, generated for this run; set TEXT_API_KEY to choose"
               if show_key else "the value of --text-api-key or TEXT_API_KEY")
        lines = [
            f"Text API: {server.text_api_url}  (header apikey: {key})",
            f"Stats:    {server.origin}/_stats",
            room_banner(settings.host, server.port),  # "" unless every interface
            f"Dashboard: {server.dashboard_url}  (live; open it on the projector)"
            "    Press Ctrl-C to stop.",
        ]
        print("\n".join(line for line in lines if line), flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def _wait_for_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Block on stdin until it closes: the parent is gone or asked us to stop.

    Reads the raw descriptor, not ``sys.stdin.buffer``: a thread blocked in the buffered
    reader holds its lock, and a server stopped meanwhile by SIGTERM would abort at exit
    ("Fatal Python error: could not acquire lock ... at interpreter shutdown"). Descriptor 0
    is always open here (see :func:`_open_missing_standard_descriptors`); a read that fails
    (EIO from a terminal that hung up, EAGAIN from a non-blocking stdin) also stops the server,
    which no parent could stop otherwise.
    """
    try:
        while os.read(0, io.DEFAULT_BUFFER_SIZE):
            pass
    except OSError:
        pass
    try:
        loop.call_soon_threadsafe(stop.set)
    except RuntimeError:  # the loop has already ended (stopped by a signal)
        pass
