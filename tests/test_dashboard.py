"""The dashboard's server side: page and assets, the event stream, shutdown, the URLs printed.

What a browser does with the page is in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import aiohttp
import pytest
import requests

from helpers import gather_with_concurrency, start_local_api
from helpers.server import dashboard, runner
from helpers.server.settings import ServerSettings
from tests.conftest import ROOT, TEST_KEY, serve, stats_of

ASSETS = ["/_dashboard", "/_dashboard/dashboard.js", "/_dashboard/dashboard.css",
          "/_dashboard/favicon.svg"]


async def _frames(response: aiohttp.ClientResponse, n: int) -> list[tuple[float, str, dict]]:
    """The next ``n`` events of a stream: (arrival time, event name, data)."""
    events = []
    while len(events) < n:
        block = (await response.content.readuntil(b"\n\n")).decode()
        fields = dict(line.split(": ", 1) for line in block.strip().split("\n") if ": " in line)
        if "data" in fields:
            events.append((time.monotonic(), fields.get("event", "message"),
                           json.loads(fields["data"])))
    return events


async def _get(session: aiohttp.ClientSession, url: str, name: str) -> int:
    async with session.get(url, headers={"X-Client-Name": name}) as response:
        await response.read()
        return response.status


# ------------------------------------------------------------------ page and assets


def test_page_and_assets_are_served_with_a_strict_policy(api):
    for path in ASSETS:
        r = requests.get(api.origin + path, timeout=10)
        assert r.status_code == 200, path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert api.text_api_key not in r.text
    page = requests.get(api.dashboard_url, timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # Self-contained: every asset the page names is on this server, under /_dashboard/.
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert sorted(links) == ["/_dashboard/dashboard.css", "/_dashboard/dashboard.js",
                             "/_dashboard/favicon.svg", "/_stats"]
    script = requests.get(api.origin + "/_dashboard/dashboard.js", timeout=10).text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "http://" not in script.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in script
    css = requests.get(api.origin + "/_dashboard/dashboard.css", timeout=10).text
    assert "url(" not in css and "@import" not in css


def test_dashboard_is_not_api_traffic():
    async def main():
        async with serve(latency=0.05) as server, aiohttp.ClientSession() as session:
            for path in ASSETS:
                async with session.get(server.origin + path) as r:
                    assert r.status == 200
                    await r.read()
            started = time.monotonic()
            async with session.get(server.origin + dashboard.EVENTS_PATH) as r:
                await _frames(r, 2)
            # The stream's frames were not held back by the simulated latency either.
            assert time.monotonic() - started < 2.0
            return await stats_of(server)

    body = asyncio.run(main())
    assert body["requests"] == 0
    assert body["connections_opened"] == 0
    assert body["clients"] == {}


# ------------------------------------------------------------------ the event stream


def test_stream_sends_at_least_four_frames_a_second_with_the_stats():
    async def main():
        async with serve(latency=0.05) as server, aiohttp.ClientSession() as session:
            await asyncio.sleep(0.5)  # samples taken before anyone watched
            async with session.get(server.origin + dashboard.EVENTS_PATH) as r:
                assert r.headers["Content-Type"] == "text/event-stream"
                assert r.headers["Cache-Control"] == "no-store"
                history, *before = await _frames(r, 3)
                url = server.base_url + "/pokemon/1"
                await gather_with_concurrency(4, *(_get(session, url, "alice")
                                                   for _ in range(12)))
                frames = await _frames(r, 11)
                async with session.get(server.origin + "/_stats") as s:
                    stats = await s.json()
            return history, before, frames, stats

    history, before, frames, stats = asyncio.run(main())
    assert history[1] == "history"
    assert history[2]["interval"] == dashboard.INTERVAL
    assert len(history[2]["samples"]) >= 2  # the chart is not empty for a late viewer
    assert all(name == "message" for _, name, _ in before + frames)
    # At least four frames a second: the schedule is five, so ten intervals take ~2 s.
    elapsed = frames[-1][0] - frames[0][0]
    assert 10 / elapsed >= 4.0, f"{10 / elapsed:.1f} frames/s"
    # Each frame carries what /_stats answers, and the counts grow as requests arrive.
    last = frames[-1][2]["stats"]
    assert set(last) == set(stats)
    assert last["requests"] == stats["requests"] == 12
    assert last["clients"]["alice"]["peak_in_flight"] == 4
    assert before[0][2]["stats"]["requests"] == 0
    # Every request is in exactly one sample; their sum is the total.
    samples = [f[2]["sample"] for f in before + frames]
    assert sum(s[1] for s in samples) == 12
    assert max(s[2] for s in samples) == 4  # the window peak caught the concurrency
    assert TEST_KEY not in json.dumps([f[2] for f in frames])


def test_window_peak_shows_a_burst_shorter_than_a_frame():
    """40 requests at once, answered in 50 ms: over before the next frame, still charted."""
    async def main():
        async with serve(latency=0.05) as server, aiohttp.ClientSession() as session:
            async with session.get(server.origin + dashboard.EVENTS_PATH) as r:
                await _frames(r, 2)
                url = server.base_url + "/pokemon/2"
                statuses = await asyncio.gather(*(_get(session, url, "burst")
                                                  for _ in range(40)))
                frames = await _frames(r, 8)
            return statuses, frames

    statuses, frames = asyncio.run(main())
    assert statuses == [200] * 40
    samples = [f[2]["sample"] for f in frames]
    assert max(s[2] for s in samples) == frames[-1][2]["stats"]["peak_in_flight"]
    assert max(s[2] for s in samples) > 10  # many at once; sequential would be 1
    assert samples[-1][3] == 0  # and nothing in flight at the end
    # Requests per second: the 40 arrivals, over the one-second window that holds them.
    assert max(f[2]["rps"] for f in frames) >= 40 / 1.5


def test_reset_during_a_stream_never_gives_negative_arrivals():
    async def main():
        async with serve() as server, aiohttp.ClientSession() as session:
            async with session.get(server.origin + dashboard.EVENTS_PATH) as r:
                for _ in range(5):
                    await _get(session, server.base_url + "/pokemon/3", "a")
                await _frames(r, 2)
                async with session.post(server.origin + "/_stats/reset") as reset:
                    assert (await reset.json())["clients"] == {}
                await _get(session, server.base_url + "/pokemon/3", "a")
                return await _frames(r, 3)

    frames = asyncio.run(main())
    assert all(f[2]["sample"][1] >= 0 for f in frames)
    assert sum(f[2]["sample"][1] for f in frames) <= 1 + 5
    assert frames[-1][2]["stats"]["clients"]["a"]["requests"] == 1


def test_too_many_viewers_get_429_not_5xx(monkeypatch):
    monkeypatch.setattr(dashboard, "MAX_VIEWERS", 2)

    async def main():
        async with serve() as server, aiohttp.ClientSession() as session:
            url = server.origin + dashboard.EVENTS_PATH
            first = await session.get(url)
            second = await session.get(url)
            await _frames(first, 1)
            await _frames(second, 1)
            async with session.get(url) as third:
                result = third.status, third.headers.get("Retry-After")
            first.close()
            second.close()
            return result

    assert asyncio.run(main()) == (429, "5")


# ------------------------------------------------------------------ shutdown


def test_open_streams_end_when_the_server_stops():
    async def main():
        server = await runner.start(ServerSettings(text_api_key=TEST_KEY))
        async with aiohttp.ClientSession() as session:
            streams = [await session.get(server.origin + dashboard.EVENTS_PATH)
                       for _ in range(3)]
            for stream in streams:
                await _frames(stream, 2)
            started = time.monotonic()
            await server.close()
            took = time.monotonic() - started
            ended = [await stream.content.read() == b"" and stream.content.at_eof()
                     for stream in streams]
            for stream in streams:
                stream.release()
            return took, ended

    took, ended = asyncio.run(main())
    assert ended == [True, True, True]
    assert took < 1.0, f"stopping took {took:.3f} s"  # aiohttp would wait up to 60 s


def test_launcher_stop_is_clean_with_a_browser_watching():
    with start_local_api() as api:
        response = requests.get(api.origin + dashboard.EVENTS_PATH, stream=True, timeout=10)
        lines = response.iter_lines()
        assert next(lines) == b"retry: 1000"
        reader = threading.Thread(target=lambda: [None for _ in lines], daemon=True)
        reader.start()
        started = time.monotonic()
        api.stop()
        took = time.monotonic() - started
        reader.join(timeout=5)
        response.close()
    # Exit code 0: the server ended by itself, not after the launcher's SIGTERM (5 s later).
    assert api.process.returncode == 0
    assert took < 4.0, f"stop() took {took:.3f} s"
    assert not reader.is_alive()


# ------------------------------------------------------------------ the URLs printed


def test_launcher_handle_has_the_dashboard_url(api):
    assert api.dashboard_url == api.origin + "/_dashboard"
    assert requests.get(api.dashboard_url, timeout=10).status_code == 200


def test_dashboard_url_of_a_server_on_every_interface_is_the_loopback():
    def url(host: str) -> str:
        return runner.RunningServer(runner=None, server=None, host=host,  # type: ignore[arg-type]
                                    port=8000).dashboard_url

    assert url("0.0.0.0") == "http://127.0.0.1:8000/_dashboard"
    assert url("::") == "http://[::1]:8000/_dashboard"
    assert url("192.168.1.20") == "http://192.168.1.20:8000/_dashboard"


def test_make_serve_prints_the_dashboard_url():
    env = dict(os.environ, PYTHONPATH=str(ROOT), TEXT_API_KEY=TEST_KEY)
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        found = [m for line in lines if (m := re.match(r"Dashboard: (\S+)", line))]
        assert found, lines
        url = found[0].group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/_dashboard", url)
        assert requests.get(url, timeout=10).headers["Content-Type"].startswith("text/html")
        assert all(TEST_KEY not in line for line in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()


@pytest.mark.parametrize("path", ["/_dashboard/", "/_dashboard/nope", "/_dashboard/events/x"])
def test_other_dashboard_paths_are_404_and_not_counted(api, path):
    before = api.stats()["requests"]
    r = requests.get(api.origin + path, timeout=10)
    assert (r.status_code, r.text) == (404, "Not Found")
    assert api.stats()["requests"] == before


def test_head_on_the_event_stream_is_refused(api):
    """A HEAD request cannot receive frames: it is refused (405) instead of being answered
    with the headers of a stream that never ends and holds one of the viewer slots."""
    r = requests.head(api.origin + dashboard.EVENTS_PATH, timeout=10)
    assert r.status_code == 405
    assert "GET" in r.headers["Allow"]


async def _stalled_viewer(server: runner.RunningServer) -> socket.socket:
    """A viewer that never reads, while every frame weighs a megabyte: its buffers fill up."""
    hub = server.runner.app[dashboard.HUB]
    hub._body = lambda: {"padding": "x" * 1_000_000}
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    await loop.sock_sendall(sock, f"GET {dashboard.EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1"
                                  f":{server.port}\r\n\r\n".encode())
    deadline = time.monotonic() + 5
    while hub.viewers == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert hub.viewers == 1
    await asyncio.sleep(1.5)  # several megabytes of frames: the writes now wait
    return sock


def test_a_viewer_that_stops_reading_is_cut_and_does_not_hold_up_shutdown(monkeypatch):
    monkeypatch.setattr(dashboard, "WRITE_TIMEOUT", 60.0)  # only the shutdown grace can help

    async def main():
        server = await runner.start(ServerSettings(text_api_key=TEST_KEY))
        sock = await _stalled_viewer(server)
        started = time.monotonic()
        await server.close()
        took = time.monotonic() - started
        sock.close()
        return took

    took = asyncio.run(main())
    assert took < dashboard.SHUTDOWN_GRACE + 1.5, f"stopping took {took:.3f} s"


def test_a_viewer_that_stops_reading_is_cut_after_the_write_timeout(monkeypatch):
    """A laptop whose tab stopped reading is disconnected: it no longer counts as a viewer,
    and the server lets go of its connection at once, with the megabytes of frames it never
    read (a graceful close would wait for them to drain, that is forever). The connections
    are counted through aiohttp's ``Server.connections``: no response can show them."""
    monkeypatch.setattr(dashboard, "WRITE_TIMEOUT", 0.5)

    async def main():
        async with serve() as server:
            sock = await _stalled_viewer(server)
            hub = server.runner.app[dashboard.HUB]
            deadline = time.monotonic() + 5
            while hub.viewers and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            aiohttp_server = server.runner.server
            assert aiohttp_server is not None
            while aiohttp_server.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            left = len(aiohttp_server.connections)
            sock.close()
            return hub.viewers, hub.transports, left

    viewers, transports, connections = asyncio.run(main())
    assert viewers == 0 and transports == set()
    assert connections == 0


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("fe80::1%eth0", False),
    ("192.168.1.23", False), ("10.0.0.7", False), ("2001:db8::5", False), ("garbage", False),
])
def test_only_the_servers_own_machine_may_reset_the_counters(address, allowed):
    """A student on the room's network cannot wipe what the projector shows."""
    from helpers.server.app import _is_loopback

    assert _is_loopback(address) is allowed
