"""The launcher (free ports, stop, validation, dying with its parent) and the command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import helpers.launcher
from helpers import pokeapi_base_url, start_local_api
from tests.conftest import ROOT

BASE_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/api/v2")
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_two_servers_get_different_free_ports():
    with start_local_api() as a, start_local_api() as b:
        ma, mb = BASE_URL.fullmatch(a.base_url), BASE_URL.fullmatch(b.base_url)
        assert ma and mb
        assert ma.group(1) != mb.group(1)
        assert a.origin == a.base_url.removesuffix("/api/v2")
        assert a.text_api_url == a.origin + "/text"
        assert pokeapi_base_url() == b.base_url  # the newest one
        for server in (a, b):
            r = requests.get(f"{server.base_url}/pokemon/1", timeout=10)
            assert r.json()["name"] == "bulbasaur"
        assert "running" in repr(a)


def test_stop_is_idempotent_and_the_process_is_gone():
    server = start_local_api()
    pid = server.process.pid
    assert server.running
    server.stop()
    server.stop()
    assert not server.running
    assert server.process.poll() is not None
    assert _wait_gone(pid)
    assert "stopped" in repr(server)
    with pytest.raises(RuntimeError, match="stopped"):
        server.stats()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.base_url}/pokemon/1", timeout=5)


def test_context_manager_stops():
    with start_local_api(latency=0.01) as server:
        assert server.stats()["settings"]["latency"] == 0.01
    assert not server.running
    assert server.process.returncode is not None


def test_text_api_key_from_argument_env_or_random(monkeypatch):
    monkeypatch.delenv("TEXT_API_KEY", raising=False)
    with start_local_api() as a, start_local_api() as b:
        assert a.text_api_key and a.text_api_key != b.text_api_key
    monkeypatch.setenv("TEXT_API_KEY", "from-env")
    with start_local_api() as c:
        assert c.text_api_key == "from-env"
        r = requests.post(f"{c.text_api_url}/ner", json={"text": "Hi."},
                          headers={"apikey": "from-env"}, timeout=10)
        assert r.status_code == 200


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"latency": -0.1}, ValueError, "latency"),
        ({"latency": "0.1"}, TypeError, "latency"),
        ({"latency": float("nan")}, ValueError, "latency"),
        ({"jitter": -1}, ValueError, "jitter"),
        ({"error_rate": 2}, ValueError, "error_rate"),
        ({"drop_rate": -0.5}, ValueError, "drop_rate"),
        ({"error_rate": 0.6, "drop_rate": 0.6}, ValueError, "error_rate + drop_rate"),
        ({"slow_rate": 1.5}, ValueError, "slow_rate"),
        ({"capacity": 0}, ValueError, "capacity"),
        ({"capacity": 2.5}, TypeError, "capacity"),
        ({"capacity": True}, TypeError, "capacity"),
        ({"rate_limit": 0}, ValueError, "rate_limit"),
        ({"retry_after": -1}, ValueError, "retry_after"),
        ({"seed": "x"}, TypeError, "seed"),
        ({"port": 70000}, ValueError, "port"),
        ({"host": ""}, ValueError, "host"),
    ],
)
def test_options_validated_in_the_parent(options, error, words):
    before = set(os.listdir("/proc")) if os.path.isdir("/proc") else set()
    with pytest.raises(error, match=re.escape(words)):
        start_local_api(**options)
    if before:  # no child process was started
        new = {p for p in set(os.listdir("/proc")) - before if p.isdigit()}
        cmdlines = []
        for pid in new:
            try:
                cmdlines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                pass
        assert not any(b"helpers.server" in c and str(os.getpid()).encode() in c
                       for c in cmdlines)


def test_pokeapi_base_url_honours_the_environment(monkeypatch):
    with start_local_api() as server:
        monkeypatch.setenv("POKEAPI_BASE_URL", "https://pokeapi.co/api/v2/")
        assert pokeapi_base_url() == "https://pokeapi.co/api/v2"
        monkeypatch.setenv("POKEAPI_BASE_URL", "")
        assert pokeapi_base_url() == server.base_url
        monkeypatch.delenv("POKEAPI_BASE_URL")
        assert pokeapi_base_url() == server.base_url
    monkeypatch.setenv("POKEAPI_BASE_URL", "http://classroom.example:8000/api/v2")
    assert pokeapi_base_url() == "http://classroom.example:8000/api/v2"  # a classroom server


def test_pokeapi_base_url_without_a_server(monkeypatch):
    monkeypatch.delenv("POKEAPI_BASE_URL", raising=False)
    monkeypatch.setattr(helpers.launcher, "_started", [])
    with pytest.raises(RuntimeError, match="start_local_api"):
        pokeapi_base_url()


def test_pokeapi_base_url_falls_back_to_an_older_running_server(monkeypatch):
    monkeypatch.delenv("POKEAPI_BASE_URL", raising=False)
    monkeypatch.setattr(helpers.launcher, "_started", [])  # ignore servers of other tests
    with start_local_api() as first:
        with start_local_api() as second:
            assert pokeapi_base_url() == second.base_url
        assert pokeapi_base_url() == first.base_url  # stopping the newer one falls back
    with pytest.raises(RuntimeError, match="no local API is running"):
        pokeapi_base_url()


@pytest.mark.parametrize("workers", [1, 2])
def test_server_dies_with_its_parent_even_by_sigkill(workers):
    """Every server process, the supervisor and its workers alike, outlives no SIGKILLed parent."""
    script = (
        "import time\n"
        "from helpers import start_local_api\n"
        f"api = start_local_api(workers={workers})\n"
        "print(' '.join(map(str, {api.process.pid, *api.stats()['workers']['pids']})),"
        " flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             env=ENV, cwd=ROOT)
    try:
        assert child.stdout is not None
        pids = [int(p) for p in child.stdout.readline().split()]
        assert len(pids) == (1 if workers == 1 else workers + 1)
        assert not any(_gone(p) for p in pids)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        for pid in pids:
            assert _wait_gone(pid, timeout=10), "a server process outlived its parent"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def _ignored_signals(pid: int) -> set[int]:
    """The signals ``pid`` ignores, from the kernel's own record (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    raise AssertionError("no SigIgn line")


def test_sigint_does_not_stop_a_managed_server():
    """"Interrupt kernel" sends SIGINT to the process group: the server must ignore it.

    No sleep-and-hope: the kernel's record shows SIGINT ignored (an ignored signal is
    discarded when sent); after it, the server answers and reports its counters, which runs
    its Python code (where a pending KeyboardInterrupt would have been raised).
    """
    with start_local_api() as server:
        if os.path.exists(f"/proc/{server.process.pid}/status"):
            assert signal.SIGINT in _ignored_signals(server.process.pid)
        os.kill(server.process.pid, signal.SIGINT)
        r = requests.get(f"{server.base_url}/pokemon/25", timeout=10)
        assert r.json()["name"] == "pikachu"
        assert server.stats()["by_status"] == {"200": 1}
        assert server.running
    assert server.process.returncode == 0  # and it still stops cleanly when asked


def test_sigint_stops_a_server_run_by_hand():
    """Without --managed (make serve), Ctrl-C stops the server cleanly: exit status 0."""
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server", "--port", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        base = proc.stdout.readline().decode().strip()
        assert requests.get(f"{base}/pokemon/1", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the command line


def _cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helpers.server", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=timeout, stdin=subprocess.DEVNULL)


def test_help_documents_every_option():
    result = _cli("--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--latency", "--jitter", "--seed", "--capacity",
                   "--retry-after", "--error-rate", "--drop-rate", "--slow-rate",
                   "--slow-seconds", "--rate-limit", "--text-api-key", "--managed"):
        assert option in result.stdout, option


def test_first_line_is_the_base_url():
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server", "--managed", "--port", "0",
                             "--latency", "0.01"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode().strip()
        assert BASE_URL.fullmatch(first), first
        body = requests.get(f"{first}/pokemon/mew", timeout=10).json()
        assert body["id"] == 151
    finally:
        proc.stdin.close()  # type: ignore[union-attr]  # a managed server exits on EOF
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()  # type: ignore[union-attr]
        assert proc.stderr.read() == b""  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cli("--port", str(port))
    assert result.returncode == 2
    assert "already in use" in result.stderr
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--latency", "-1"], "latency"),
        (["--latency", "abc"], "--latency"),
        (["--port", "abc"], "--port"),
        (["--port", "70000"], "port"),
        (["--error-rate", "2"], "error_rate"),
        (["--capacity", "0"], "capacity"),
        (["--capacity", "1.5"], "--capacity"),
        (["--rate-limit", "-3"], "rate_limit"),
        (["--no-such-option"], "unrecognized"),
    ],
)
def test_bad_option_values_are_argparse_errors(args, words):
    result = _cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def _one_request_in_flight(server) -> None:
    """Start one GET in a thread and return once the server holds it."""
    import threading

    url = f"{server.base_url}/pokemon/1"
    threading.Thread(target=lambda: requests.get(url, timeout=5), daemon=True).start()
    deadline = time.monotonic() + 5
    while server.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stats()["in_flight"] == 1


def test_wait_idle_returns_once_nothing_is_in_flight():
    import asyncio

    with start_local_api(latency=0.3) as server:
        _one_request_in_flight(server)
        assert server.wait_idle()["in_flight"] == 0
        assert server.stats()["by_status"] == {"200": 1}
        _one_request_in_flight(server)
        assert asyncio.run(server.wait_idle_async())["in_flight"] == 0
        assert server.stats()["by_status"] == {"200": 2}


def test_wait_idle_times_out_with_a_clear_error():
    with start_local_api(latency=1.0) as server:
        _one_request_in_flight(server)
        with pytest.raises(TimeoutError, match="1 requests in flight"):
            server.wait_idle(timeout=0.1)
        server.wait_idle()


# ----------------------------------------------------------- reading the child's first line

READERS = [helpers.launcher.first_line_by_select, helpers.launcher.first_line_by_thread]


@pytest.fixture
def pipe():
    """A pipe: the reading end as a binary stream, and a function that writes to the other."""
    r, w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as reader:
        writer = os.fdopen(w, "wb", buffering=0)
        yield reader, writer
        writer.close()


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_the_first_line_is_read_and_the_rest_left(pipe, read):
    reader, writer = pipe
    writer.write(b"http://127.0.0.1:8000/api/v2\r\nStats: ...\n")
    assert read(reader, 5.0) == "http://127.0.0.1:8000/api/v2"


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_a_line_written_in_pieces_is_read_whole(pipe, read):
    import threading

    reader, writer = pipe

    def write_slowly():
        for piece in (b"http://127.0.0.1", b":8000/api", b"/v2\n"):
            writer.write(piece)
            time.sleep(0.05)

    threading.Thread(target=write_slowly).start()
    assert read(reader, 10.0) == "http://127.0.0.1:8000/api/v2"


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_end_of_file_gives_what_came_before_it(pipe, read):
    reader, writer = pipe
    writer.write(b"no newline")
    writer.close()
    assert read(reader, 5.0) == "no newline"


@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__)
def test_a_silent_pipe_gives_an_empty_line_after_the_timeout(pipe, read):
    reader, _writer = pipe
    start = time.perf_counter()
    assert read(reader, 0.05) == ""
    # Waits its timeout, not a fixed second more: 0.05 s asked, 0.7 s of margin for a busy
    # machine, still under the 1 s a reader that waited at least a second would take.
    assert 0.05 <= time.perf_counter() - start < 0.75


def test_a_line_already_waiting_is_read_even_with_no_time_left(pipe):
    """A timeout of 0 (or a deadline already passed) still reads what is in the pipe:
    ``select`` is asked to poll, never to wait a negative time."""
    reader, writer = pipe
    writer.write(b"ready\n")
    assert helpers.launcher.first_line_by_select(reader, 0.0) == "ready"


def test_the_threaded_reader_does_not_keep_a_silent_parent_alive():
    """Windows' reader leaves a thread blocked on a child that never writes: it must be a
    daemon thread, or the notebook's kernel could not exit. Checked in a child interpreter."""
    script = (
        "import os, helpers.launcher as l\n"
        "r, w = os.pipe()\n"
        "print(repr(l.first_line_by_thread(os.fdopen(r, 'rb'), 0.05)), flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "''\n"), done.stderr



class _JumpingClock:
    """A clock that moves 100 s at every reading: a default timeout is over at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 100.0
        return self.now


def test_wait_idle_gives_up_after_ten_seconds_by_default(api, monkeypatch):
    """The documented defaults: 10 s, for both forms, said in the error. Checked on a clock
    that jumps, with a server that reports one request in flight for ever."""
    import asyncio

    monkeypatch.setattr(helpers.launcher, "_clock", _JumpingClock())
    monkeypatch.setattr(api, "stats", lambda: {"in_flight": 1})
    with pytest.raises(TimeoutError, match=r"in flight after 10\.0 s$"):
        api.wait_idle()
    with pytest.raises(TimeoutError, match=r"in flight after 10\.0 s$"):
        asyncio.run(api.wait_idle_async())


def test_start_gives_up_after_fifteen_seconds_by_default(monkeypatch, tmp_path):
    """A child that never prints its URL is given 15 s by default, and the error says so.
    On a jumping clock; the stand-in prints nothing and exits when its stdin closes."""
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec cat >/dev/null\n")
    silent.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(silent))
    monkeypatch.setattr(helpers.launcher, "_clock", _JumpingClock())
    with pytest.raises(RuntimeError, match=r"^the local API did not start within 15\.0 s$"):
        start_local_api()


class _Spawned(Exception):
    """Raised by a stand-in for Popen: the launcher got as far as starting the child."""


@pytest.mark.parametrize("workers", [0, 65, -1, True, 2.0, "2", None])
def test_workers_must_be_a_whole_number_from_1_to_64(workers, monkeypatch):
    def popen(*args, **kwargs):
        raise _Spawned(args[0])

    monkeypatch.setattr(helpers.launcher.subprocess, "Popen", popen)
    with pytest.raises(ValueError, match=r"^workers must be an integer from 1 to 64, got "):
        start_local_api(workers=workers)


@pytest.mark.parametrize("workers", [1, 2, 64])
def test_every_allowed_number_of_workers_reaches_the_server(workers, monkeypatch):
    """Up to 64 is passed on as ``--workers N`` (the child is not started here: 64 processes
    would prove nothing more)."""
    def popen(*args, **kwargs):
        raise _Spawned(args[0])

    monkeypatch.setattr(helpers.launcher.subprocess, "Popen", popen)
    with pytest.raises(_Spawned) as spawned:
        start_local_api(workers=workers)
    command = spawned.value.args[0]
    assert command[command.index("--workers") + 1] == str(workers)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_a_start_that_cannot_run_the_interpreter_leaks_no_file(monkeypatch, tmp_path):
    """The server's log file is opened before the child starts: when the child cannot even
    be started, the launcher closes it again (a notebook retrying would pile up files)."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError) as failed:
        start_local_api()
    assert set(os.listdir("/proc/self/fd")) - before == set(), failed  # keeps the frames alive
