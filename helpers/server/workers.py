"""``--workers N``: N server processes sharing one port, and the supervisor that keeps them.

Why processes: one Python process answers requests on one core; a classroom (1,500 requests in
flight) needs more. The kernel does the balancing: every worker listens on the same port with
``SO_REUSEPORT`` and Linux spreads new connections over their sockets (no balancer of our own
between client and worker). The supervisor (the process the user started) only:

- reserves the port (``--port 0`` picks one) before starting any worker, and prints the base
  URL once every worker listens, so the first line still says where the server is;
- keeps the ledger (:mod:`.ledger`): every worker reports its requests there, so ``/_stats``
  (totals, per client, peaks) is exact across workers and faults stay deterministic;
- restarts a worker that dies, and counts it (``/_stats`` ``workers.restarts``; the requests it
  had in flight are ``workers.lost_in_flight``);
- stops every worker when it stops. Each worker watches a pipe from the supervisor and exits
  when it closes, so even a supervisor killed with SIGKILL takes its workers with it; and the
  supervisor itself, started with ``--managed``, exits when its standard input closes and
  ignores SIGINT, as a single server does.

POSIX only (``SO_REUSEPORT``, ``SOCK_SEQPACKET``).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from .lan import room_banner
from .ledger import MAX_MESSAGE, Ledger, decode, socket_pair
from .settings import ServerSettings

READY_TIMEOUT = 30.0
STOP_GRACE = 5.0
"""Seconds :meth:`Supervisor.stop` gives the workers to stop before it kills them."""
_ENV = "COURSE_SERVER_WORKER"


def supported() -> str | None:
    """Why ``--workers`` cannot work here, or None when it can."""
    if not hasattr(socket, "SO_REUSEPORT"):  # Windows has none
        return "--workers above 1 needs SO_REUSEPORT (Linux, macOS, BSD); use --workers 1"
    if not hasattr(socket, "SOCK_SEQPACKET"):
        return "--workers above 1 needs SOCK_SEQPACKET sockets; use --workers 1"
    return None


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with SO_REUSEPORT, held for the run.

    It keeps the port ours while workers come and go (``port=0``: the kernel's choice). It does
    not listen, so the kernel never hands it a connection. Linux's rules decide who else may
    bind the port:

    - A port another server listens on, or another program holds, is refused first, so two
      servers never share one by accident. The probe sets SO_REUSEADDR, as asyncio's and
      uvloop's servers do, so that the connections of a server stopped less than a minute ago
      (TIME_WAIT) do not count as a user: restarting on the same port works.
    - The reservation itself has only SO_REUSEPORT while it is held: our workers (the same
      user, SO_REUSEPORT) may join it, but another server's probe is refused even while none
      of our workers listens (at the start, or while they restart). Binding over the
      TIME_WAIT of a server without SO_REUSEPORT (a one-process server just stopped) needs
      SO_REUSEADDR as well: it is set for the bind and cleared at once, since Linux looks at
      the flags of the sockets already bound when someone else binds.

    Two ``--workers`` servers started on one port in the same instant can both pass the probe
    before either reserves; that race is not guarded.
    """
    family, kind, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    if port:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(addr)  # raises EADDRINUSE when taken
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    except BaseException:
        sock.close()
        raise
    return sock


class Supervisor:
    """Starts, watches and restarts the workers, and runs the ledger."""

    def __init__(self, settings: ServerSettings, workers: int) -> None:
        self.settings = settings
        self.count = workers
        self.ledger = Ledger(settings, workers)
        self.events, self._events_child = socket_pair()
        self.events.setblocking(False)
        pairs = [socket_pair() for _ in range(workers)]
        self.replies = [a for a, _ in pairs]
        for a in self.replies:
            a.setblocking(False)
        self._replies_child = [b for _, b in pairs]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * workers
        self._lifelines: list[int | None] = [None] * workers
        self._started_at = [0.0] * workers
        self._respawn_at: list[float | None] = [None] * workers

    # ------------------------------------------------------------------ workers

    def spawn(self, index: int) -> None:
        """Start worker ``index`` (again); it reports ``ready`` once it listens."""
        read_end, write_end = os.pipe()
        settings = self.settings
        config = {"index": index, "events_fd": self._events_child.fileno(),
                  "replies_fd": self._replies_child[index].fileno(), "lifeline_fd": read_end,
                  "settings": settings.public()}
        env = dict(os.environ)
        env[_ENV] = json.dumps(config)
        env["TEXT_API_KEY"] = settings.text_api_key  # by environment, never argv
        self.ledger.info[index].ready = False
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "helpers.server.workers"], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                pass_fds=(self._events_child.fileno(), self._replies_child[index].fileno(),
                          read_end),
            )
        finally:
            os.close(read_end)
        self.procs[index] = proc
        self._lifelines[index] = write_end
        self._started_at[index] = time.monotonic()
        self.ledger.info[index].pid = proc.pid

    def _reap(self, index: int) -> None:
        lifeline = self._lifelines[index]
        if lifeline is not None:
            os.close(lifeline)
            self._lifelines[index] = None

    def check_workers(self) -> None:
        """Restart every worker that exited; its requests in flight are written off."""
        now = time.monotonic()
        for i, proc in enumerate(self.procs):
            due = self._respawn_at[i]
            if due is not None:
                if now >= due:
                    self._respawn_at[i] = None
                    self.spawn(i)
                continue
            if proc is None or proc.poll() is None:
                continue
            self._reap(i)
            self.drain()  # what it said before dying comes first
            self.ledger.worker_died(i)
            self.ledger.restarts += 1
            self.ledger.info[i].pid = 0
            # One that dies as it starts is restarted after a pause, not in a tight loop.
            self._respawn_at[i] = now + (0.5 if now - self._started_at[i] < 1.0 else 0.0)

    # ------------------------------------------------------------------ ledger

    def drain(self) -> None:
        """Apply every message waiting on the events socket; answer the questions."""
        while True:
            try:
                data = self.events.recv(MAX_MESSAGE)
            except BlockingIOError:
                return
            worker, events = decode(data)
            for seq, answer in self.ledger.apply(worker, events):
                # An answer that cannot be sent at once is dropped: waiting would stall every
                # worker. The queue is full only when nobody reads it (that worker is gone,
                # and its successor skips stale seqs).
                try:
                    self.replies[worker].send(_encode_answer(seq, answer))
                except OSError:
                    pass

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.events, selectors.EVENT_READ)
        try:
            while not all(w.ready for w in self.ledger.info):
                for i, proc in enumerate(self.procs):
                    if proc is not None and proc.poll() is not None:
                        raise RuntimeError(f"worker {i} exited with code {proc.returncode}"
                                           " before it listened (see its error above)")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the workers did not listen within {timeout:g} s")
                sel.select(0.05)
                self.drain()
        finally:
            sel.close()

    def stop(self) -> None:
        """Close every lifeline (workers exit), wait up to ``STOP_GRACE`` seconds, then kill
        any worker still running (a stuck one must not outlive the server)."""
        for i in range(self.count):
            self._reap(i)
        # Keep answering while they stop: a worker may be waiting on a question (its
        # dashboard samples a few times a second) and would not see its lifeline close.
        deadline = time.monotonic() + STOP_GRACE
        while (any(p is not None and p.poll() is None for p in self.procs)
               and time.monotonic() < deadline):
            self.drain()
            time.sleep(0.01)
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def _encode_answer(seq: int, answer: Any) -> bytes:
    import marshal

    return marshal.dumps((seq, answer))


def run(settings: ServerSettings, workers: int, *, managed: bool, show_key: bool) -> int:
    """The supervisor's whole life: reserve, start, print, supervise, stop."""
    from .runner import Address

    reservation = reserve_port(settings.host, settings.port)
    port = reservation.getsockname()[1]
    settings = ServerSettings(**{**settings.public(), "port": port,
                                 "text_api_key": settings.text_api_key})
    sup = Supervisor(settings, workers)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if not managed:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        for i in range(workers):
            sup.spawn(i)
        sup.wait_ready()
        where = Address(settings.host, port)
        print(where.base_url, flush=True)
        if managed:
            threading.Thread(target=_wait_for_eof, args=(stop,), daemon=True).start()
        else:
            print(f"Text API: {where.text_api_url}  (header apikey: "
                  + (f"{settings.text_api_key}, generated for this run; set TEXT_API_KEY to"
                     " choose" if show_key else "the value of --text-api-key or TEXT_API_KEY")
                  + ")", flush=True)
            print(f"Stats:    {where.origin}/_stats    ({workers} worker processes)", flush=True)
            banner = room_banner(settings.host, port)
            if banner:
                print(banner, flush=True)
            print(f"Dashboard: {where.dashboard_url}  (live; open it on the projector)"
                  "    Press Ctrl-C to stop.", flush=True)
        sel = selectors.DefaultSelector()
        sel.register(sup.events, selectors.EVENT_READ)
        next_check = 0.0
        try:
            while not stop.is_set():
                if sel.select(0.1):
                    sup.drain()  # everything queued: under load, many messages per wake-up
                now = time.monotonic()
                if now >= next_check:  # not per message: waitpid costs a system call each
                    sup.check_workers()
                    next_check = now + 0.1
        finally:
            sel.close()
    finally:
        sup.stop()
        reservation.close()
    return 0


def _wait_for_eof(stop: threading.Event) -> None:
    """Block on stdin until it closes: the parent is gone or asked us to stop."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    stop.set()


# --------------------------------------------------------------------------- one worker


def worker_main() -> None:
    """``python -m helpers.server.workers``: one worker, configured by its supervisor."""
    from . import runner
    from .cli import _run
    from .remote import Link

    config = json.loads(os.environ.pop(_ENV))
    settings = ServerSettings(**config["settings"],
                              text_api_key=os.environ.get("TEXT_API_KEY", ""))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop
    index = config["index"]
    events = socket.socket(fileno=config["events_fd"])
    replies = socket.socket(fileno=config["replies_fd"])
    link = Link(index, events, replies)
    lifeline = config["lifeline_fd"]

    async def serve() -> None:
        server = await runner.start(settings, link=link, reuse_port=True)
        link.post(("r", os.getpid()), now=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def lifeline_closed() -> None:
            loop.remove_reader(lifeline)
            stop.set()

        # The supervisor never writes to the lifeline: it becomes readable only when its end
        # closes (the supervisor stopped, or died). Watched by the loop itself, not a thread,
        # so that nothing is left to wake once the loop has ended.
        loop.add_reader(lifeline, lifeline_closed)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await stop.wait()
        finally:
            await server.close()

    _run(serve())


if __name__ == "__main__":
    worker_main()
