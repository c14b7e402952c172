"""What the command line prints and how it ends; every launcher option reaching the server."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from helpers import start_local_api
from tests.conftest import ROOT

# Without PYTHONUNBUFFERED, as in a notebook's kernel: the server must flush what it prints.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | {"PYTHONPATH": str(ROOT)}


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server", "--port", "0", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env or ENV, cwd=ROOT)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().decode().strip()


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    """Wait for ``proc`` (already told to stop); its status and the rest of its output."""
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def test_every_launcher_option_reaches_the_server(monkeypatch):
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # the base URL must be flushed
    options = {"latency": 0.01, "jitter": 0.02, "seed": 5, "capacity": 7, "retry_after": 4,
               "error_rate": 0.1, "drop_rate": 0.05, "slow_rate": 0.2, "slow_seconds": 0.3,
               "rate_limit": 50.0}
    with start_local_api(**options) as server:
        settings = server.stats()["settings"]
    assert {k: settings[k] for k in options} == options


def test_the_launcher_generates_a_128_bit_key_when_none_is_given(monkeypatch):
    monkeypatch.delenv("TEXT_API_KEY", raising=False)
    with start_local_api() as server:
        key = server.text_api_key
        assert len(key) == 22  # 16 random bytes (128 bits), URL-safe base64
        r = requests.post(f"{server.text_api_url}/ner", json={"text": "Hi."},
                          headers={"apikey": key}, timeout=10)
        assert r.status_code == 200


def test_a_server_that_cannot_start_says_why():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match="did not start") as info:
            start_local_api(port=port)
    # The child's whole message, from its first character.
    assert f"did not start:\nerror: port {port} is already in use" in str(info.value)


def test_an_address_that_is_not_this_machines_is_a_clear_error():
    # 192.0.2.1 is reserved for documentation: never local, so binding fails (nothing is sent).
    proc, first = _start("--host", "192.0.2.1")
    status, _out, err = _finish(proc)
    assert first == ""
    assert status == 2
    assert "cannot listen on 192.0.2.1:0" in err
    assert "Traceback" not in err


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to take away the right to bind port 80")
def test_a_port_it_may_not_bind_is_a_clear_error_not_in_use():
    """Without the capability to bind ports below 1024, port 80 is refused (EACCES): the error
    says so, and does not claim the port is in use."""
    result = subprocess.run(
        ["setpriv", "--bounding-set", "-net_bind_service", "--inh-caps", "-net_bind_service",
         sys.executable, "-m", "helpers.server", "--port", "80"],
        capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=30, stdin=subprocess.DEVNULL)
    if "cannot listen" not in result.stderr and result.returncode == 0:
        pytest.skip("port 80 could be bound anyway (unprivileged ports start lower here)")
    assert result.returncode == 2
    assert "cannot listen on 127.0.0.1:80" in result.stderr
    assert "permission denied" in result.stderr.lower()
    assert "already in use" not in result.stderr and "Traceback" not in result.stderr


def test_a_generated_key_is_shown_once_and_works():
    env = {k: v for k, v in ENV.items() if k != "TEXT_API_KEY"}
    proc, base = _start(env=env)
    assert proc.stdout is not None
    text_line = proc.stdout.readline().decode()
    stats_line = proc.stdout.readline().decode()
    dashboard_line = proc.stdout.readline().decode()
    origin = base.removesuffix("/api/v2")
    assert text_line.startswith(f"Text API: {origin}/text  (header apikey: ")
    assert "generated for this run" in text_line
    key = text_line.split("apikey: ", 1)[1].split(",", 1)[0]
    assert len(key) == 22  # 16 random bytes (128 bits), URL-safe base64
    r = requests.post(f"{origin}/text/ner", json={"text": "Hi."}, headers={"apikey": key},
                      timeout=10)
    assert r.status_code == 200
    assert stats_line.strip() == f"Stats:    {origin}/_stats"
    assert dashboard_line.startswith(f"Dashboard: {origin}/_dashboard")
    assert dashboard_line.rstrip().endswith("Press Ctrl-C to stop.")
    proc.send_signal(signal.SIGTERM)
    status, rest, err = _finish(proc)
    assert status == 0
    assert key not in rest and key not in err  # shown once only


def test_the_key_option_wins_over_the_environment():
    proc, base = _start("--text-api-key", "from-option",
                        env=dict(ENV, TEXT_API_KEY="from-env"))
    url = base.removesuffix("/api/v2") + "/text/ner"
    try:
        statuses = [requests.post(url, json={"text": "Hi."}, headers={"apikey": key},
                                  timeout=10).status_code for key in ("from-option", "from-env")]
    finally:
        proc.send_signal(signal.SIGTERM)
        status, out, _err = _finish(proc)
    assert statuses == [200, 401]
    assert status == 0
    assert "from-option" not in out  # a key the user chose is never printed


@pytest.mark.parametrize("managed", [False, True])
def test_sigterm_stops_cleanly(managed):
    """SIGTERM (``kill``, the launcher's last resort) stops the server with status 0.

    A managed server used to abort here about half the time ("Fatal Python error ... could
    not acquire lock for <stdin>"): its stdin watcher held the buffered reader's lock.
    """
    proc, base = _start(*(["--managed"] if managed else []))
    assert requests.get(f"{base}/pokemon/1", timeout=10).status_code == 200
    proc.send_signal(signal.SIGTERM)
    try:
        exited = proc.wait(timeout=10) is not None  # SIGTERM alone, stdin still open
    except subprocess.TimeoutExpired:
        exited = False
    status, out, err = _finish(proc)
    assert exited, "SIGTERM alone did not stop it (something waits on stdin)"
    assert status == 0
    assert err == ""
    if managed:
        assert out == ""  # nothing after the base URL


def test_a_managed_server_stops_when_its_stdin_closes_and_prints_nothing_more():
    proc, base = _start("--managed")
    assert base.endswith("/api/v2")
    assert requests.get(f"{base}/pokemon/1", timeout=10).status_code == 200
    status, out, err = _finish(proc)  # communicate() closes stdin first
    assert (status, out, err) == (0, "", "")


@pytest.mark.parametrize("closed", [(0,), (0, 2)], ids=["stdin", "stdin-and-stderr"])
def test_a_managed_server_without_any_stdin_stops_at_once(closed):
    """Descriptor 0 closed (a service manager, ``nohup ... <&-``): no parent could ever
    close it to stop the server, so the server stops by itself instead of living on as an
    orphan, cleanly. (With a standard descriptor closed, uvloop used to abort: its socket
    took the free number, and libuv refuses to close descriptors 0 to 2.)"""
    def close_them() -> None:
        for fd in closed:
            os.close(fd)

    proc = subprocess.Popen([sys.executable, "-m", "helpers.server", "--port", "0", "--managed"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT, preexec_fn=close_them)
    status, out, err = _finish(proc)
    assert status == 0  # not -6, the abort libuv gave on a standard descriptor
    if 2 not in closed:  # with stderr closed, nothing can show on it anyway
        assert err == ""
    assert out.strip().endswith("/api/v2")  # it started, printed its URL, and stopped


def test_wait_idle_async_times_out_with_a_clear_error():
    with start_local_api(latency=1.0) as server:
        url = f"{server.base_url}/pokemon/1"
        threading.Thread(target=lambda: requests.get(url, timeout=5), daemon=True).start()
        deadline = time.monotonic() + 5
        while server.stats()["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(TimeoutError, match=r"1 requests in flight after 0\.1 s"):
            asyncio.run(server.wait_idle_async(timeout=0.1))
        assert server.wait_idle()["by_status"] == {"200": 1}


def test_the_server_runs_in_its_own_session_with_the_notebooks_helpers():
    """Its own session: a signal sent to the notebook's process group (a terminal's Ctrl-C,
    ``kill -- -PGID``) does not reach it. Its PYTHONPATH starts with the folder that holds the
    ``helpers`` the notebook imported, so both run the same code, installed or not."""
    import helpers

    with start_local_api() as server:
        pid = server.process.pid
        assert os.getsid(pid) == pid and os.getpgid(pid) != os.getpgid(0)
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        pythonpath = next(v for v in environ if v.startswith(b"PYTHONPATH="))
        first = pythonpath.removeprefix(b"PYTHONPATH=").split(os.pathsep.encode())[0]
        assert first.decode() == str(Path(helpers.__file__).resolve().parent.parent)


def test_a_server_killed_from_outside_is_reported_stopped():
    server = start_local_api()
    try:
        server.process.kill()
        server.process.wait(timeout=10)
        assert not server.running
        assert "stopped" in repr(server)
        with pytest.raises(RuntimeError, match="stopped"):
            server.stats()
    finally:
        server.stop()


def test_wait_idle_returns_within_a_moment_of_the_server_going_idle():
    """It polls every 10 ms: a request held 0.3 s is waited for in well under 0.8 s."""
    with start_local_api(latency=0.3) as server:
        url = f"{server.base_url}/pokemon/1"
        # timeout=0.9: ample for a request of 0.3 s, and a deadline counted from now.
        for wait in (lambda: server.wait_idle(timeout=0.9),
                     lambda: asyncio.run(server.wait_idle_async(timeout=0.9))):
            start = time.perf_counter()
            threading.Thread(target=lambda: requests.get(url, timeout=5), daemon=True).start()
            while server.stats()["in_flight"] == 0 and time.perf_counter() - start < 5:
                time.sleep(0.005)
            assert wait()["in_flight"] == 0
            assert time.perf_counter() - start < 0.8


def test_stop_ends_even_a_frozen_server():
    """A child that cannot read its stdin (stopped with SIGSTOP) is signalled after 5 s, then
    killed after 5 more: ``stop()`` always returns, and the process is gone."""
    server = start_local_api()
    os.kill(server.process.pid, signal.SIGSTOP)
    start = time.perf_counter()
    server.stop()
    elapsed = time.perf_counter() - start
    assert server.process.returncode == -signal.SIGKILL
    # The documented escalation, 5 s after EOF and 5 s after SIGTERM: two timeouts, then a
    # kill and a reap, which take milliseconds (1.5 s of margin for a loaded machine).
    assert 10.0 - 0.5 <= elapsed < 10.0 + 1.5, elapsed


def test_a_server_that_exits_at_once_fails_at_once():
    """The child exits with an error (port in use): the launcher reports it as soon as it
    sees the pipe close, not after its start timeout."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        start = time.perf_counter()
        with pytest.raises(RuntimeError, match="already in use"):
            start_local_api(port=busy.getsockname()[1], timeout=60)
        assert time.perf_counter() - start < 30


def test_a_server_that_never_answers_times_out_with_a_clear_error(monkeypatch, tmp_path):
    """A child that starts but never prints its URL (here a stand-in that only sleeps): the
    launcher gives up after ``timeout`` and says so, and leaves no process behind."""
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec sleep 60\n")
    silent.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(silent))
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"did not start within 2\.0 s"):
        start_local_api(timeout=2.0)
    elapsed = time.perf_counter() - start
    assert 2.0 <= elapsed < 20  # the timeout, then the stop (5 s wait for EOF, then SIGTERM)


@pytest.mark.parametrize(("given", "workers"), [([], 1), (["--workers", "1"], 1),
                                                (["--workers", "64"], 64),
                                                (["--workers", "auto"], 6)])
def test_workers_from_the_command_line(given, workers, monkeypatch):
    """``--workers`` takes 1 to 64, or ``auto`` for one per core (6 cores here, faked)."""
    from helpers.server import cli

    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert cli.build_parser().parse_args(given).workers == workers


def test_workers_auto_is_one_where_the_cores_cannot_be_counted(monkeypatch):
    from helpers.server import cli

    monkeypatch.setattr(os, "cpu_count", lambda: None)  # os.cpu_count() may say "unknown"
    assert cli.build_parser().parse_args(["--workers", "auto"]).workers == 1


@pytest.mark.parametrize(("value", "message"), [("0", "must be from 1 to 64, got 0"),
                                                ("65", "must be from 1 to 64, got 65"),
                                                ("-2", "must be from 1 to 64, got -2"),
                                                ("two", "'two' is not a whole number or 'auto'")])
def test_workers_out_of_range_is_a_usage_error(value, message, capsys):
    from helpers.server import cli

    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["--workers", value])
    assert exited.value.code == 2
    assert f"argument --workers: {message}" in capsys.readouterr().err


def test_a_failing_worker_is_an_error_with_status_2(monkeypatch, capsys):
    """What the supervisor reports (a worker that exited, workers that never listened) is
    printed as one line, and the server exits with status 2, not a traceback."""
    from helpers.server import cli, workers

    def fail(*args, **kwargs):
        raise RuntimeError("worker 1 exited with code 3 before it listened")

    monkeypatch.setattr(workers, "supported", lambda: None)
    monkeypatch.setattr(workers, "run", fail)
    ctrl_c = signal.getsignal(signal.SIGINT)
    try:
        assert cli.main(["--workers", "2", "--port", "0"]) == 2
        # Run by hand (not --managed), Ctrl-C is left alone: it must still stop the server.
        assert signal.getsignal(signal.SIGINT) is ctrl_c
    finally:
        signal.signal(signal.SIGINT, ctrl_c)  # never leave this test process deaf to Ctrl-C
    assert capsys.readouterr().err == "error: worker 1 exited with code 3 before it listened\n"
