"""The ``--workers`` supervisor's own duties, each on the case that breaks it.

``test_workers.py`` checks what a client sees of several workers. This file checks the
supervisor: restarting on the port it just used, restarting a dead worker without a tight loop,
giving up at once on a worker that cannot start, killing one that will not stop, stopping when
its parent says so, and sleeping while nothing happens. The in-process tests drive a
:class:`~helpers.server.workers.Supervisor` with stand-in processes and a hand-moved clock, so
they say exactly when something happens without waiting for it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests

from helpers.server import workers
from helpers.server.settings import ServerSettings
from tests.test_launcher_cli import ENV, ROOT, _wait_gone

pytestmark = pytest.mark.skipif(os.name != "posix", reason="--workers needs SO_REUSEPORT")

SERVER = [sys.executable, "-m", "helpers.server"]
# Without PYTHONUNBUFFERED, as from a notebook's kernel: the supervisor must flush what it says.
ENV = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}


# --------------------------------------------------------------------------- stand-ins


class Clock:
    """``time.monotonic`` and ``time.sleep`` for the supervisor: time moves only by hand, or
    by the supervisor's own sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeProcess:
    """A worker process as the supervisor sees it. With a ``lifeline`` (the read end of the
    pipe the supervisor holds the other end of), it exits by itself, status 0, once the
    supervisor closes its end, unless it is ``stuck``; until then, or without one, it runs
    until it exits or is killed."""

    def __init__(self, clock: Clock, pid: int = 999_999, *, lifeline: int | None = None,
                 stuck: bool = False) -> None:
        self.clock = clock
        self.pid = pid
        self.lifeline = lifeline
        self.stuck = stuck
        self.returncode: int | None = None
        self.killed_at: float | None = None
        self.waited = False

    def exit(self, code: int) -> None:
        self.returncode = code

    def poll(self) -> int | None:
        if self.returncode is None and self.lifeline is not None and not self.stuck:
            try:
                if os.read(self.lifeline, 1) == b"":
                    self.returncode = 0  # the supervisor closed its end: stop
            except BlockingIOError:
                pass  # still open
        return self.returncode

    def kill(self) -> None:
        self.killed_at = self.clock.now
        self.returncode = -signal.SIGKILL

    def wait(self) -> int | None:
        self.waited = True
        return self.returncode


def _close(sup: workers.Supervisor) -> None:
    """Close a supervisor's sockets (a real one's close when its process exits)."""
    for sock in (sup.events, sup._events_child, *sup.replies, *sup._replies_child):
        sock.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(workers, "time", SimpleNamespace(monotonic=fake.monotonic,
                                                         sleep=fake.sleep))
    return fake


def _supervisor(clock: Clock, monkeypatch: pytest.MonkeyPatch, count: int, *,
                stuck: tuple[int, ...] = ()):
    """A supervisor whose ``spawn`` records when it was called and starts a
    :class:`FakeProcess` instead of a process; the ledger, sockets, lifelines and bookkeeping
    are the real ones."""
    sup = workers.Supervisor(ServerSettings(), count)
    sup.spawned = []  # type: ignore[attr-defined]
    ends: list[int] = []

    def spawn(index: int) -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        ends.append(read_end)
        sup.spawned.append((index, clock.now))  # type: ignore[attr-defined]
        sup.procs[index] = FakeProcess(clock, pid=999_000 + index, lifeline=read_end,
                                       stuck=index in stuck)
        sup.ledger.info[index].pid = 999_000 + index  # as the real spawn does
        sup._lifelines[index] = write_end
        sup._started_at[index] = clock.now

    monkeypatch.setattr(sup, "spawn", spawn)
    return sup, ends


@pytest.fixture
def supervisor(clock: Clock, monkeypatch: pytest.MonkeyPatch):
    """Two fake workers, started at the clock's start."""
    sup, ends = _supervisor(clock, monkeypatch, 2)
    sup.spawn(0)
    sup.spawn(1)
    sup.spawned.clear()  # type: ignore[attr-defined]
    yield sup
    sup.stop()
    _close(sup)
    for end in ends:
        os.close(end)


# --------------------------------------------------------------------------- restarts


def _checks_until_respawn(sup, clock: Clock, step: float = 0.1, limit: float = 5.0) -> float:
    """Run ``check_workers`` every ``step`` seconds (as :func:`workers.run` does); the seconds
    from the first check until a worker was started again."""
    start = clock.now
    while clock.now - start <= limit:
        sup.check_workers()
        if sup.spawned:
            return clock.now - start
        clock.now += step
    raise AssertionError(f"no worker was restarted within {limit} s")


def test_a_worker_that_dies_as_it_starts_is_restarted_after_half_a_second(supervisor, clock):
    """A worker that cannot stay up (it exits 0.2 s after it started) must not be restarted
    in a tight loop, using a core to fail again and again: the next start waits 0.5 s."""
    clock.now += 0.2
    assert supervisor.ledger.info[1].pid == 999_001
    supervisor.procs[1].exit(1)
    supervisor.check_workers()
    assert supervisor.ledger.info[1].pid == 0  # /_stats shows no pid while none runs
    waited = _checks_until_respawn(supervisor, clock)
    assert supervisor.ledger.info[1].pid == 999_001  # the new one's
    assert [i for i, _ in supervisor.spawned] == [1]
    assert 0.5 <= waited <= 0.6 + 1e-9  # 0.5 s, found by the next check (every 0.1 s)
    assert supervisor.ledger.restarts == 1


@pytest.mark.parametrize("lived", [1.0, 1.5, 30.0])
def test_a_worker_that_dies_after_running_a_second_is_restarted_at_once(supervisor, clock,
                                                                         lived):
    """One that served for a second or more and then died is replaced within one check
    (0.1 s): the room is waiting for it. (The fake clock makes 1.0 s exact: the boundary.)"""
    clock.now += lived
    supervisor.procs[0].exit(-9)
    waited = _checks_until_respawn(supervisor, clock)
    assert [i for i, _ in supervisor.spawned] == [0]
    assert waited <= 0.1 + 1e-9
    assert supervisor.ledger.restarts == 1


def test_one_workers_pause_does_not_delay_another_s_restart(supervisor, clock):
    """Worker 0's replacement dies as it starts (so its next restart waits 0.5 s); worker 1,
    which had served for half a minute, dies 0.1 s later: it is replaced within one check,
    not after worker 0's pause."""
    clock.now += 30.0
    supervisor.procs[0].exit(-9)
    _checks_until_respawn(supervisor, clock)  # replaced at once: it had served 30 s
    clock.now += 0.2
    supervisor.procs[0].exit(1)  # the replacement dies 0.2 s after it started
    supervisor.check_workers()
    supervisor.spawned.clear()
    clock.now += 0.1
    supervisor.procs[1].exit(-9)
    waited = _checks_until_respawn(supervisor, clock)
    assert [i for i, _ in supervisor.spawned] == [1]
    assert waited <= 0.1 + 1e-9


def test_a_worker_that_exits_before_it_listens_stops_the_start_at_once():
    """When a worker cannot start, the supervisor says which one and with what status, at
    once, instead of waiting for the (30 s) start timeout."""
    sup = workers.Supervisor(ServerSettings(), 2)
    try:
        clock = Clock()
        sup.procs = [FakeProcess(clock), FakeProcess(clock)]
        sup.procs[1].exit(3)
        with pytest.raises(RuntimeError) as failed:
            sup.wait_ready(timeout=2.0)
        assert str(failed.value).startswith("worker 1 exited with code 3 before it listened")
    finally:
        _close(sup)


def test_workers_that_never_listen_time_out_with_a_clear_error():
    """Workers that neither listen nor exit (stuck at start) end the start after the
    timeout, with an error that says so, instead of a server that never answers."""
    sup = workers.Supervisor(ServerSettings(), 2)
    try:
        clock = Clock()
        sup.procs = [FakeProcess(clock), FakeProcess(clock)]
        failed: list[BaseException] = []

        def wait() -> None:
            try:
                sup.wait_ready(timeout=0.3)
            except BaseException as exc:  # read below
                failed.append(exc)

        waiter = threading.Thread(target=wait, daemon=True)
        started = time.monotonic()
        waiter.start()
        waiter.join(timeout=15)  # 0.3 s, with a wide margin for a loaded machine
        assert failed, "wait_ready never gave up"
        assert str(failed[0]) == "the workers did not listen within 0.3 s"
        assert time.monotonic() - started >= 0.3  # not before: a lower bound cannot flake
    finally:
        _close(sup)


def test_answers_nobody_reads_never_stall_the_supervisor():
    """One loop answers every worker's questions. A worker that stops reading its answers
    (it died with questions pending) must not stall that loop: once its queue is full, the
    rest of its answers are dropped. Here one worker asks 10,000 questions and reads none;
    the supervisor answers them all without waiting, and what it queued is the first answers,
    in order."""
    import marshal

    from helpers.server.ledger import encode

    sup = workers.Supervisor(ServerSettings(), 1)
    asked: list[int] = []

    def ask() -> None:
        for first in range(0, 10_000, 50):
            sup._events_child.send(encode(0, [("?", seq, "stats")
                                              for seq in range(first, first + 50)]))
            sup.drain()
        asked.append(10_000)

    try:
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        asker.join(timeout=30)
        assert asked == [10_000], "the supervisor waited on a worker that does not read"
        replies = sup._replies_child[0]
        replies.setblocking(False)
        queued = []
        with contextlib.suppress(BlockingIOError):
            while True:
                queued.append(marshal.loads(replies.recv(workers.MAX_MESSAGE))[0])
        assert 0 < len(queued) < 10_000  # the queue did fill: the case under test
        assert queued == list(range(len(queued)))
    finally:
        _close(sup)


# --------------------------------------------------------------------------- stopping


def test_stop_kills_only_a_worker_that_will_not_stop_and_only_after_the_grace(clock,
                                                                              monkeypatch):
    """``stop`` closes the lifelines and waits ``STOP_GRACE`` seconds: a worker that exits
    when its lifeline closes is left to exit; one that is stuck is then killed and reaped, so
    no worker outlives its server."""
    sup, ends = _supervisor(clock, monkeypatch, 2, stuck=(0,))
    try:
        sup.spawn(0)
        sup.spawn(1)
        stuck, good = sup.procs
        start = clock.now
        sup.stop()
        assert (good.returncode, good.killed_at) == (0, None)
        assert stuck.killed_at is not None and stuck.waited
        assert workers.STOP_GRACE <= stuck.killed_at - start <= workers.STOP_GRACE + 0.05
    finally:
        _close(sup)
        for end in ends:
            os.close(end)


def test_stop_before_every_worker_was_started_does_not_wait(clock, monkeypatch):
    """A start that failed part-way (the second of three workers could not be started) is
    stopped at once: the started worker exits when asked, the others never existed."""
    sup, ends = _supervisor(clock, monkeypatch, 3)
    try:
        sup.spawn(0)
        start = clock.now
        sup.stop()
        assert sup.procs[0].returncode == 0 and sup.procs[0].killed_at is None
        assert clock.now - start <= 0.05  # no grace spent waiting for the other two
    finally:
        _close(sup)
        for end in ends:
            os.close(end)


def test_reservation_over_a_one_process_servers_time_wait_is_still_exclusive():
    """Right after a one-process server stopped (TIME_WAIT from a socket without
    SO_REUSEPORT), the reservation needs SO_REUSEADDR to bind, and must not keep it: another
    ``--workers`` server, or a one-process server, is still refused the port."""
    with socket.socket() as listener:  # a server's socket, as asyncio makes it
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server closes first: its side goes to TIME_WAIT
            client.recv(1)
    with socket.socket() as plain, pytest.raises(OSError) as busy:
        plain.bind(("127.0.0.1", port))
    assert busy.value.errno == errno.EADDRINUSE  # TIME_WAIT, the case under test
    with workers.reserve_port("127.0.0.1", port):
        with pytest.raises(OSError) as second:
            workers.reserve_port("127.0.0.1", port).close()
        assert second.value.errno == errno.EADDRINUSE
        with socket.socket() as one_process, pytest.raises(OSError) as refused:
            one_process.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            one_process.bind(("127.0.0.1", port))
        assert refused.value.errno == errno.EADDRINUSE


# --------------------------------------------------------------------------- the real process


def _start(port: int, n: int) -> tuple[subprocess.Popen, str]:
    """A managed server with ``n`` workers (its parent: this test, holding its stdin); its
    process and base URL."""
    proc = subprocess.Popen([*SERVER, "--port", str(port), "--workers", str(n), "--managed"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    with selectors.DefaultSelector() as sel:  # the first line, or a failure, within 30 s
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=30)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line:
        proc.kill()
        proc.stdin.close()
        proc.stdin = None
        _, err = proc.communicate()
        pytest.fail(f"no base URL within 30 s (not flushed, or not started): "
                    f"{err.decode().strip()}")
    return proc, line


def _stop(proc: subprocess.Popen) -> None:
    """Close its stdin, as a parent does, and expect a clean exit (status 0, nothing on
    stderr); killed if it does not exit."""
    proc.stdin.close()
    proc.stdin = None  # so that communicate does not flush it
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert (proc.returncode, err.decode()) == (0, "")


@pytest.mark.parametrize("before", [2, 1], ids=["after-workers", "after-one-process"])
def test_the_port_just_used_can_be_used_again_at_once(before):
    """Restarting the classroom server on its port right after stopping it works. The stopped
    server closed its clients' connections, so the port is in TIME_WAIT for a minute: a
    plain bind fails, which the test checks first, but a server must start there."""
    proc, url = _start(0, before)
    port = urlsplit(url).port
    try:
        with requests.Session() as session:  # keep-alive: the server closes these on stop,
            for i in range(1, 6):            # before the client does
                assert session.get(f"{url}/pokemon/{i}", timeout=10).status_code == 200
            _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with socket.socket() as plain, pytest.raises(OSError) as busy:
        plain.bind(("127.0.0.1", port))
    assert busy.value.errno == errno.EADDRINUSE  # TIME_WAIT, the case under test
    proc, url = _start(port, 2)
    try:
        assert requests.get(f"{url}/pokemon/25", timeout=10).json()["name"] == "pikachu"
    finally:
        _stop(proc)


@pytest.mark.parametrize("first", [2, 1], ids=["workers", "one-process"])
def test_a_running_server_s_port_is_still_refused(first):
    """The other half of the rule above: a port where a server (of either kind) listens is
    refused, with the error that says so."""
    proc, url = _start(0, first)
    port = urlsplit(url).port
    try:
        # Managed, stdin closed: a second server that wrongly started would stop at once.
        result = subprocess.run([*SERVER, "--port", str(port), "--workers", "2", "--managed"],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                env=ENV, cwd=ROOT, timeout=30)
    finally:
        _stop(proc)
    assert result.returncode == 2 and result.stdout == ""
    assert f"port {port} is already in use" in result.stderr


def test_run_by_hand_and_piped_it_says_everything_at_once():
    """Run by hand with its output piped (``make serve | tee log``, or a process manager), the
    supervisor's four lines (where, the Text API, the stats, the dashboard and how to stop)
    are all there while it runs, not only when it exits: each is flushed. ``ENV`` leaves out
    PYTHONUNBUFFERED, so nothing but the supervisor's own flush can make this pass."""
    proc = subprocess.Popen([*SERVER, "--port", "0", "--workers", "2"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT,
                            bufsize=0)  # unbuffered: select then sees every line not read
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 20  # about 2 s here; the margin is for a loaded machine
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while len(lines) < 4 and sel.select(timeout=max(0.0, deadline - time.monotonic())):
                lines.append(proc.stdout.readline().decode())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert [line.split(":", 1)[0] for line in lines] == ["http", "Text API", "Stats",
                                                         "Dashboard"], lines
    assert lines[3].rstrip().endswith("Press Ctrl-C to stop.")
    assert (proc.returncode, err.decode()) == (0, "")


def test_sigterm_stops_a_managed_supervisor_whose_stdin_is_still_open():
    """``kill`` (SIGTERM) stops a managed ``--workers`` server, with status 0, even while its
    parent still holds its stdin: the thread waiting on stdin must not keep it alive."""
    proc, url = _start(0, 2)
    pids = requests.get(url.rsplit("/api/v2", 1)[0] + "/_stats", timeout=10).json()[
        "workers"]["pids"]
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)  # stdin still open: not communicate(), which would close it
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
        proc.stdin = None
        _, err = proc.communicate()
    assert (proc.returncode, err.decode()) == (0, "")
    assert all(_wait_gone(pid) for pid in pids)


def test_workers_outlive_no_supervisor_killed_with_sigkill():
    """A supervisor killed outright (SIGKILL: it can close nothing itself) still takes its
    workers with it: the kernel closes its end of each worker's lifeline, and each worker
    stops when its end reads as closed."""
    proc, url = _start(0, 2)
    pids = requests.get(url.rsplit("/api/v2", 1)[0] + "/_stats", timeout=10).json()[
        "workers"]["pids"]
    alive = pids
    try:
        proc.kill()
        proc.wait(timeout=10)
        alive = [pid for pid in pids if not _wait_gone(pid, timeout=10)]
        assert not alive, "a worker outlived it"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in alive:  # a worker left running would hold the pipes open
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.stdin.close()
        proc.stdin = None
        proc.communicate()


def test_a_worker_stopped_with_sigterm_exits_and_is_restarted():
    """``kill`` (SIGTERM) on one worker stops that worker (it does not linger, holding a
    slot without listening), and the supervisor starts another in its place."""
    proc, url = _start(0, 2)
    stats_url = url.rsplit("/api/v2", 1)[0] + "/_stats"
    try:
        victim = requests.get(stats_url, timeout=10).json()["workers"]["pids"][0]
        os.kill(victim, signal.SIGTERM)
        assert _wait_gone(victim, timeout=15), "the worker did not exit on SIGTERM"
        deadline = time.monotonic() + 20
        while True:
            workers_now = requests.get(stats_url, timeout=10).json()["workers"]
            if workers_now["restarts"] == 1 and all(workers_now["pids"]):
                break
            assert time.monotonic() < deadline, f"no restart reported: {workers_now}"
            time.sleep(0.05)
        assert victim not in workers_now["pids"]
    finally:
        _stop(proc)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_an_idle_supervisor_sleeps():
    """With no request to count, the supervisor waits in ``select``: over 2 s it uses a small
    fraction of a core. A loop that polled instead would use all of one (measured here:
    0.01-0.02 s idle, against 2.0 s for a loop whose ``select`` does not wait)."""
    proc, _ = _start(0, 2)
    try:
        time.sleep(0.5)  # past the start
        before = _cpu_seconds(proc.pid)
        time.sleep(2.0)
        used = _cpu_seconds(proc.pid) - before
    finally:
        _stop(proc)
    assert used < 0.3, f"the idle supervisor used {used:.2f} s of CPU in 2 s"
