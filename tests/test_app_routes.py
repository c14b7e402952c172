"""Routes of the app whose rules a learner meets at the edges: huge paging values, malformed
keys under the encounters link, and a reset asked by another machine."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from helpers.server.app import STATS, create_app, reset_stats
from helpers.server.settings import ServerSettings
from tests.conftest import get


def test_a_limit_of_nine_digits_is_honoured_and_ten_digits_are_the_default(port):
    """Up to nine digits is a number the server uses (all 151 on one page); ten or more is
    "unusable" and means the default 20, rather than an integer of any size."""
    nine = get(port, "/api/v2/pokemon/?limit=999999999")
    assert nine.status == 200
    assert '"next": null' in nine.text and nine.text.count('"name"') == 151
    ten = get(port, "/api/v2/pokemon/?limit=9999999999")
    assert ten.status == 200 and ten.text.count('"name"') == 20
    assert "offset=20&limit=20" in ten.text


def test_an_offset_of_nine_digits_is_past_the_end_and_ten_digits_are_the_start(port):
    far = get(port, "/api/v2/pokemon/?offset=999999999")
    assert far.status == 200 and '"results": []' in far.text
    assert "offset=999999979&limit=20" in far.text  # previous: one page back
    start = get(port, "/api/v2/pokemon/?offset=9999999999")
    assert '"previous": null' in start.text and '"name": "bulbasaur"' in start.text


@pytest.mark.parametrize(("key", "status", "body"), [
    ("25", 200, "[]"), ("pikachu", 200, "[]"), ("0", 404, "Not Found"),
    ("9999999999", 404, "Not Found"), ("pika%20chu", 400, "Bad Request"),
])
def test_encounters_answer_as_the_pokemon_does(port, key, status, body):
    """The encounters link of a Pokémon that exists is an empty list; for one that does
    not, or a malformed key, the same plain-text error the Pokémon's own URL gives."""
    r = get(port, f"/api/v2/pokemon/{key}/encounters")
    assert (r.status, r.text) == (status, body)
    content_type = "application/json" if status == 200 else "text/plain"
    assert r.headers["content-type"].startswith(content_type)


def _reset_from(address: str | None) -> tuple[int, str, dict]:
    """POST /_stats/reset as if from ``address``: (status, text, the counters after it)."""
    app = create_app(ServerSettings(text_api_key="k"))
    app[STATS].count(200)
    transport = mock.Mock()
    peer = None if address is None else (address, 50000)  # None: a Unix socket has no peer
    transport.get_extra_info.side_effect = (
        lambda name, default=None: peer if name == "peername" else default)
    request = make_mocked_request("POST", "/_stats/reset", app=app, transport=transport)
    assert request.remote == address
    response = asyncio.run(reset_stats(request))
    return response.status, response.text, app[STATS].as_dict()["by_status"]


@pytest.mark.parametrize("address", ["192.0.2.7", "10.0.0.3", "::ffff:192.0.2.7", "2001:db8::7",
                                     "fe80::1%eth0"])
def test_a_reset_from_another_machine_is_refused_and_says_why(address):
    """A student on the classroom network cannot zero the counters the room is watching,
    and the refusal says why (not a bare "Forbidden")."""
    status, text, counters = _reset_from(address)
    assert status == 403
    assert text.endswith("counters can be reset only from the server's own machine")
    assert counters == {"200": 1}  # nothing was reset


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::1%lo",
                                     "::ffff:127.0.0.1", None, ""])
def test_a_reset_from_the_servers_own_machine_is_done(address):
    """From loopback, over IPv4, IPv6 or a dual-stack socket (``--host ::``, where IPv4
    peers appear as ``::ffff:127.0.0.1``); no address at all is a Unix socket, not a peer."""
    status, text, counters = _reset_from(address)
    assert (status, counters) == (200, {})
    assert '"requests": 0' in text


def test_a_single_process_server_reports_itself_as_one_worker(api):
    """/_stats has the same "workers" section with one process as with --workers: one
    worker, never restarted, nothing lost, its pid, and all the requests its own."""
    get(int(api.origin.rsplit(":", 1)[1]), "/api/v2/pokemon/1")
    stats = api.stats()
    assert stats["requests"] >= 1
    assert stats["workers"] == {"count": 1, "restarts": 0, "lost_in_flight": 0,
                                "pids": [api.process.pid], "requests": [stats["requests"]]}


def test_a_client_that_leaves_during_the_wait_leaves_no_error_in_the_log(caplog):
    """Students press Ctrl-C mid-request all the time: the server finishes the wait, finds
    the connection gone, counts the answer and logs nothing at ERROR (the instructor's
    terminal stays readable)."""
    import logging
    import socket

    from tests.conftest import serve, stats_of

    async def main() -> dict:
        async with serve(latency=0.2) as server:
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(b"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: x\r\n\r\n")
                while (await stats_of(server))["in_flight"] == 0:
                    await asyncio.sleep(0.005)
            # Closed while the answer waits out its latency; wait until it was settled.
            while (stats := await stats_of(server))["in_flight"]:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # let aiohttp finish its own bookkeeping and logging
            return stats

    with caplog.at_level(logging.DEBUG):
        stats = asyncio.run(main())
    assert stats["by_status"] == {"200": 1}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_a_dropped_request_fails_only_after_its_latency():
    """A drop looks like a network that loses the answer: the connection closes when the
    answer would have come, not at once (a client's timeout logic sees a real wait)."""
    import socket
    import time

    from tests.conftest import serve, stats_of

    async def main() -> tuple[float, dict]:
        async with serve(latency=0.3, drop_rate=1.0) as server:
            def request() -> float:
                start = time.perf_counter()
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                    sock.sendall(b"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: x\r\n\r\n")
                    try:
                        assert sock.recv(65536) == b""  # closed without a byte of answer
                    except ConnectionResetError:
                        pass
                return time.perf_counter() - start

            elapsed = await asyncio.to_thread(request)
            return elapsed, await stats_of(server)

    elapsed, stats = asyncio.run(main())
    assert stats["dropped"] == 1 and stats["requests"] == 1
    assert elapsed >= 0.3 - 0.02, elapsed  # a lower bound: a busy machine only adds to it
