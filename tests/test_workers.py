"""``--workers N``: several processes on one port, with /_stats exact across them.

The counts are compared with what the client itself did (never with a timing): the server
must see every request once, and the peak of requests in flight at once must be the peak of
the *sum* over the workers, which only the supervisor's ledger can know.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
import requests

from helpers import start_local_api
from tests.test_launcher_cli import ENV, ROOT, _gone, _wait_gone

pytestmark = pytest.mark.skipif(os.name != "posix", reason="--workers needs SO_REUSEPORT")


async def _burst(base: str, n: int, client: str) -> list[int]:
    """``n`` requests at once on ``n`` connections; the statuses."""
    conn = aiohttp.TCPConnector(limit=0)
    headers = {"X-Client-Name": client}
    async with aiohttp.ClientSession(connector=conn, headers=headers) as session:
        async def one(i: int) -> int:
            async with session.get(f"{base}/pokemon/{i % 151 + 1}") as r:
                await r.read()
                return r.status

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_a_port_some_server_already_holds_is_refused():
    """``--workers`` shares its port between its own workers only: a port already reserved by
    another ``--workers`` server (which also uses SO_REUSEPORT) is refused, not shared."""
    from helpers.server.workers import reserve_port

    with reserve_port("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        with pytest.raises(OSError) as refused:
            reserve_port("127.0.0.1", port).close()
    assert refused.value.errno == errno.EADDRINUSE
    with reserve_port("127.0.0.1", port) as again:  # free again: reserved for this run
        assert again.getsockname()[1] == port


def test_workers_run_by_hand_say_where_they_are_and_stop_on_ctrl_c():
    """``python -m helpers.server --workers 2`` (make serve): the base URL first, the Text API
    with its generated key (which works, in every worker), the stats line saying how many
    workers, the dashboard. Ctrl-C stops it, status 0, and its workers with it; a request in
    flight then still gets its answer (the workers stop, they are not killed)."""
    env = {k: v for k, v in ENV.items() if k != "TEXT_API_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server", "--workers", "2",
                             "--port", "0", "--latency", "0.5"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        base = proc.stdout.readline().decode().strip()
        origin = base.removesuffix("/api/v2")
        text_line, stats_line, dashboard_line = (proc.stdout.readline().decode()
                                                 for _ in range(3))
        assert text_line.startswith(f"Text API: {origin}/text  (header apikey: ")
        assert "generated for this run" in text_line
        key = text_line.split("apikey: ", 1)[1].split(",", 1)[0]
        assert stats_line.strip() == f"Stats:    {origin}/_stats    (2 worker processes)"
        assert dashboard_line.startswith(f"Dashboard: {origin}/_dashboard")
        assert dashboard_line.rstrip().endswith("Press Ctrl-C to stop.")
        with ThreadPoolExecutor(8) as pool:  # fresh connections: both workers, one key
            posts = [pool.submit(requests.post, f"{origin}/text/ner", json={"text": "Hi."},
                                 timeout=10, headers={"apikey": key, "Connection": "close"})
                     for _ in range(40)]
            assert [p.result().status_code for p in posts] == [200] * 40
            workers = requests.get(f"{origin}/_stats", timeout=10).json()["workers"]
            # The kernel spreads the 40 connections over the two workers' sockets: all 40 on
            # one would happen about once in 2**39 runs. So the key works in both.
            assert sum(workers["requests"]) == 40 and min(workers["requests"]) > 0
            pids = workers["pids"]
            in_flight = pool.submit(requests.get, f"{base}/pokemon/25", timeout=10)
            deadline = time.monotonic() + 10
            while requests.get(f"{origin}/_stats", timeout=10).json()["in_flight"] < 1:
                assert time.monotonic() < deadline, "the request never reached the server"
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            assert in_flight.result().json()["name"] == "pikachu"
        assert proc.wait(timeout=20) == 0
        assert all(_wait_gone(pid) for pid in pids)
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_two_workers_count_every_request_and_the_peak_of_the_sum():
    # 400 requests at once; the latency (1.5 s) is far longer than sending them takes, so all
    # 400 are in the server together: the client's own count of what was in flight.
    with start_local_api(latency=1.5, workers=2) as api:
        statuses = asyncio.run(_burst(api.base_url, 400, "class"))
        stats = api.wait_idle()
    assert statuses == [200] * 400
    assert stats["requests"] == 400
    assert stats["by_status"] == {"200": 400}
    assert stats["peak_in_flight"] == 400
    assert stats["in_flight"] == 0
    assert stats["clients"]["class"]["requests"] == 400
    assert stats["clients"]["class"]["peak_in_flight"] == 400
    workers = stats["workers"]
    assert workers["count"] == 2 and workers["restarts"] == 0
    # Both processes took part, so no single one of them saw the 400 at once: the peak is
    # the sum's. (The kernel spreads 400 connections over two sockets; all on one is
    # astronomically unlikely.)
    assert sum(workers["requests"]) == 400
    assert min(workers["requests"]) > 0


def test_faults_are_the_same_with_one_worker_or_two():
    async def pattern(workers: int) -> list[int]:
        with start_local_api(seed=11, error_rate=0.4, workers=workers) as api:
            return await _burst(api.base_url, 151, "f")

    one, two = asyncio.run(pattern(1)), asyncio.run(pattern(2))
    assert one == two
    assert {200, 500} == set(one)


def test_capacity_holds_across_workers():
    with start_local_api(latency=1.0, capacity=10, workers=2) as api:
        statuses = asyncio.run(_burst(api.base_url, 40, "cap"))
        stats = api.wait_idle()
    assert statuses.count(200) == 10 and statuses.count(429) == 30
    assert stats["peak_in_flight"] == 10


def test_reset_covers_every_worker():
    with start_local_api(workers=2) as api:
        asyncio.run(_burst(api.base_url, 20, "r"))
        assert api.stats()["requests"] == 20
        after = api.reset_stats()
        assert after["requests"] == 0 and after["clients"] == {}
        assert after["workers"]["requests"] == [0, 0]


def test_a_killed_worker_is_restarted_and_the_stats_say_so():
    with start_local_api(workers=2) as api:
        before = api.stats()["workers"]
        victim = before["pids"][0]
        os.kill(victim, signal.SIGKILL)
        # Reaped, not only a zombie: the first thread of a killed process is a zombie while
        # its other threads still exit, and until the last does its listening socket still
        # takes connections (and resets them). The supervisor reaps it once all are gone.
        assert _wait_reaped(victim, timeout=10)
        deadline = time.monotonic() + 20
        while True:
            workers = api.stats()["workers"]
            if workers["restarts"] == 1 and all(workers["pids"]):
                break
            assert time.monotonic() < deadline, f"no restart reported: {workers}"
            time.sleep(0.05)
        assert victim not in workers["pids"]
        assert all(not _gone(pid) for pid in workers["pids"])
        # Fresh connections (one per request) reach both the survivor and the new worker.
        for i in range(1, 41):
            r = requests.get(f"{api.base_url}/pokemon/{i}", timeout=10,
                             headers={"Connection": "close"})
            assert r.status_code == 200
        assert api.stats()["workers"]["restarts"] == 1


def _wait_reaped(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_sigint_does_not_stop_managed_workers():
    with start_local_api(workers=2) as api:
        os.kill(api.process.pid, signal.SIGINT)
        for pid in api.stats()["workers"]["pids"]:
            os.kill(pid, signal.SIGINT)
        time.sleep(0.3)
        assert api.running
        stats = api.stats()
        assert stats["workers"]["restarts"] == 0
        assert requests.get(f"{api.base_url}/pokemon/25", timeout=10).json()["name"] == "pikachu"


def test_workers_option_is_checked():
    with pytest.raises(ValueError, match="workers"):
        start_local_api(workers=0)
    result = subprocess.run([sys.executable, "-m", "helpers.server", "--workers", "many"],
                            capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "'many' is not a whole number" in result.stderr


def test_the_dashboard_of_any_worker_shows_the_whole_server():
    from helpers.server.dashboard import EVENTS_PATH
    from tests.test_dashboard import _frames

    async def main(api):
        statuses = await _burst(api.base_url, 120, "dash")
        frames = []
        for _ in range(2):  # two streams, on two connections: whichever workers serve them
            async with aiohttp.ClientSession() as session, \
                    session.get(api.origin + EVENTS_PATH) as r:
                frames += [f for f in await _frames(r, 3) if f[1] == "message"]
        return statuses, frames

    with start_local_api(latency=0.8, workers=2) as api:
        statuses, frames = asyncio.run(main(api))
    assert statuses == [200] * 120
    assert frames
    for _, _, frame in frames:
        stats = frame["stats"]
        assert stats["requests"] == 120 and stats["peak_in_flight"] == 120
        assert stats["clients"]["dash"]["peak_in_flight"] == 120
        assert stats["workers"]["count"] == 2
