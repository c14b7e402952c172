"""The server at its edges: size limits, huge ids, pipelined requests, IPv6, resets mid-flight."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time

import aiohttp
import pytest

from tests.conftest import TEST_KEY, get, raw_http, serve, stats_of

MAX_BODY = 1024 * 1024  # the Text API takes bodies up to 1 MiB; beyond, 413 (test_malformed)


def _post_of_size(port: int, size: int) -> int:
    """POST /text/ner with a valid JSON body of exactly ``size`` bytes; the status."""
    prefix, suffix = b'{"text": "', b'"}'
    body = prefix + b" " * (size - len(prefix) - len(suffix)) + suffix
    assert len(body) == size and json.loads(body)
    head = (f"POST /text/ner HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\napikey: {TEST_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n"
            "Connection: close\r\n\r\n").encode()
    return raw_http(port, head + body, timeout=30).status


def test_a_body_of_exactly_the_limit_is_accepted_one_byte_more_is_413(port):
    assert _post_of_size(port, MAX_BODY) == 200
    assert _post_of_size(port, MAX_BODY + 1) == 413


@pytest.mark.parametrize("kind", ["pokemon", "type"])
def test_ids_are_read_up_to_nine_digits(port, kind):
    """Leading zeros are fine ("025" is 25) up to nine digits; a longer id is never parsed."""
    assert get(port, f"/api/v2/{kind}/000000012").status == 200
    assert get(port, f"/api/v2/{kind}/0000000012").status == 404


@pytest.mark.parametrize("kind", ["pokemon", "type", "ability"])
def test_an_id_of_thousands_of_digits_is_404_not_500(port, kind):
    # Python refuses int() of more than 4,300 digits: the server must not even try.
    for key in ("9" * 5000, "1" + "0" * 9, "-" + "9" * 5000):
        r = get(port, f"/api/v2/{kind}/{key}/")
        assert r.status == 404, (kind, len(key), r.status)
        assert r.text == "Not Found"


def test_numbers_too_long_for_offset_and_limit_mean_their_defaults(api):
    import requests

    ten_digits = requests.get(f"{api.base_url}/pokemon/?offset=1000000000&limit=1000000000",
                              timeout=10).json()
    assert len(ten_digits["results"]) == 20  # both fell back to the defaults (0, 20)
    assert ten_digits["results"][0]["name"] == "bulbasaur"
    nine_digits = requests.get(f"{api.base_url}/pokemon/?offset=999999999&limit=999999999",
                               timeout=10).json()
    assert nine_digits["results"] == [] and nine_digits["next"] is None
    assert nine_digits["previous"] == f"{api.base_url}/pokemon/?offset=0&limit=999999999"


def test_without_a_host_header_urls_use_the_servers_own_address(port):
    r = raw_http(port, b"GET /api/v2/pokemon/1 HTTP/1.0\r\n\r\n")
    assert r.status == 200
    assert json.loads(r.body)["species"]["url"] == (
        f"http://127.0.0.1:{port}/api/v2/pokemon-species/1/")


def test_pipelined_requests_are_timed_from_their_arrival():
    """Two requests sent in one packet on one connection: aiohttp handles them one after the
    other, but both arrived together, so both are due after one latency (1 s), not the second
    after two. The bound leaves 0.6 s for a loaded machine; the opposite would take 2 s."""
    async def main():
        async with serve(latency=1.0) as server:
            loop = asyncio.get_running_loop()
            request = (f"GET /api/v2/pokemon/{{}} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                       "\r\n")
            data = (request.format(1) + request.format(2)).encode()

            def pipeline() -> tuple[float, bytes]:
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                    start = time.perf_counter()
                    s.sendall(data)
                    received = b""
                    while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"}"):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        received += chunk
                    return time.perf_counter() - start, received

            elapsed, received = await loop.run_in_executor(None, pipeline)
            return elapsed, received, await stats_of(server)

    elapsed, received, stats = asyncio.run(main())
    assert received.count(b"HTTP/1.1 200") == 2
    assert b'"name": "ivysaur"' in received
    assert 1.0 - 0.05 <= elapsed < 1.6, elapsed
    assert stats["requests"] == 2 and stats["connections_opened"] == 1


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_server_writes_its_address_in_brackets():
    async def main():
        async with serve(host="::1") as server, aiohttp.ClientSession() as session:
            async with session.get(f"{server.base_url}/pokemon/1") as r:
                body = await r.json()
            return server.base_url, server.text_api_url, body

    base, text, body = asyncio.run(main())
    assert base.startswith("http://[::1]:") and base.endswith("/api/v2")
    assert text == base.removesuffix("/api/v2") + "/text"
    assert body["species"]["url"].startswith(base + "/")


def test_a_reset_while_a_request_is_held_keeps_it_in_flight():
    async def main():
        async with serve(latency=1.0) as server, aiohttp.ClientSession() as session:
            async def fetch() -> int:
                async with session.get(f"{server.base_url}/pokemon/1") as r:
                    await r.read()
                    return r.status

            held = asyncio.create_task(fetch())
            while (await stats_of(server))["in_flight"] == 0:
                await asyncio.sleep(0.005)
            async with session.post(server.origin + "/_stats/reset") as r:
                at_reset = await r.json()
            status = await held
            return at_reset, status, await stats_of(server)

    at_reset, status, after = asyncio.run(main())
    assert status == 200
    assert (at_reset["requests"], at_reset["in_flight"], at_reset["peak_in_flight"]) == (0, 1, 1)
    assert at_reset["by_status"] == {} and at_reset["connections_opened"] == 0
    assert after["in_flight"] == 0 and after["by_status"] == {"200": 1}


def test_a_reset_refills_the_rate_limit():
    async def main():
        async with serve(rate_limit=0.2) as server, aiohttp.ClientSession() as session:
            url = f"{server.base_url}/pokemon/1"
            statuses = []
            for _ in range(2):
                async with session.get(url) as r:
                    statuses.append(r.status)
            async with session.post(server.origin + "/_stats/reset") as r:
                assert r.status == 200
            async with session.get(url) as r:
                statuses.append(r.status)
            return statuses

    # Burst 1 at one request per 5 s: the second is refused; after the reset, allowed again.
    assert asyncio.run(main()) == [200, 429, 200]


def test_the_rate_limit_is_per_client_address():
    """Two clients on two loopback addresses (127.0.0.1 and 127.0.0.2) each get a burst."""
    async def status(session: aiohttp.ClientSession, url: str) -> int:
        async with session.get(url) as r:
            return r.status

    async def main():
        async with serve(rate_limit=0.2) as server:
            url = f"{server.base_url}/pokemon/1"
            other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
            async with aiohttp.ClientSession() as a, aiohttp.ClientSession(connector=other) as b:
                return [await status(a, url), await status(a, url), await status(b, url),
                        await status(b, url)]

    try:
        statuses = asyncio.run(main())
    except aiohttp.ClientConnectorError:
        pytest.skip("127.0.0.2 is not usable as a source address here")
    assert statuses == [200, 429, 200, 429]


def test_routing_and_size_errors_are_counted_and_delayed_like_any_answer():
    """A 404 for an unknown path, a 405 for a wrong method and a 413 for a body over the
    limit come after the latency and show up in the counters, like every other answer."""
    async def main():
        async with serve(latency=0.2) as server, aiohttp.ClientSession() as session:
            timings = {}
            for method, url, data in (
                ("GET", f"{server.origin}/", None),
                ("GET", f"{server.base_url}/berry/1", None),
                ("POST", f"{server.base_url}/pokemon/1", b""),
                ("POST", f"{server.text_api_url}/summarize", io.BytesIO(b" " * (MAX_BODY + 1))),
            ):
                start = time.perf_counter()
                async with session.request(method, url, data=data,
                                           headers={"apikey": TEST_KEY}) as r:
                    await r.read()
                    timings[r.status] = time.perf_counter() - start
            return timings, await stats_of(server)

    timings, stats = asyncio.run(main())
    assert set(timings) == {404, 405, 413}
    assert all(t >= 0.2 - 0.01 for t in timings.values()), timings
    assert stats["by_status"] == {"404": 2, "405": 1, "413": 1}
    assert stats["requests"] == 4 and stats["in_flight"] == 0


ZEROS = {"requests": 0, "in_flight": 0, "peak_in_flight": 0, "connections_opened": 0,
         "dropped": 0, "by_status": {}, "clients": {}, "clients_evicted": 0}


def test_a_fresh_server_and_a_reset_one_count_nothing():
    async def main():
        async with serve(drop_rate=1.0) as server:
            fresh = await stats_of(server)
            conn = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=conn) as session:
                with pytest.raises(aiohttp.ServerDisconnectedError):
                    async with session.get(f"{server.base_url}/pokemon/1") as r:
                        await r.read()
                used = await stats_of(server)
                async with session.post(server.origin + "/_stats/reset") as r:
                    reset = await r.json()
            return fresh, used, reset

    fresh, used, reset = asyncio.run(main())
    assert {k: fresh[k] for k in ZEROS} == ZEROS
    assert used["dropped"] >= 1 and used["peak_in_flight"] == 1
    assert {k: reset[k] for k in ZEROS} == ZEROS


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [("GET", "/_stats/reset", 405, "Method Not Allowed"),
     ("POST", "/_stats", 405, "Method Not Allowed"),
     ("GET", "/_stats/nothing", 404, "Not Found")],
)
def test_errors_under_stats_are_plain_text_too(port, method, path, status, text):
    r = get(port, path, method=method, headers="Content-Length: 0\r\n")
    assert r.status == status
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == text


def test_a_server_restarts_at_once_on_the_port_it_just_left():
    """Stop the server and start it again on the same port (an instructor's ``make serve``
    after Ctrl-C): the connections it closed last (in TIME_WAIT) must not block the port."""
    async def main():
        async with serve() as first:
            port = first.port
            loop = asyncio.get_running_loop()
            request = (f"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       "Connection: close\r\n\r\n").encode()

            def until_the_server_closes() -> bytes:
                # The server closes first, so its side of the connection waits in TIME_WAIT.
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(request)
                    data = b""
                    while chunk := s.recv(65536):
                        data += chunk
                    return data

            response = await loop.run_in_executor(None, until_the_server_closes)
            assert response.startswith(b"HTTP/1.1 200")
        async with serve(port=port) as second:
            return second.port == port

    assert asyncio.run(main())


def test_a_busy_port_raises_and_leaves_nothing_behind():
    async def main():
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            with pytest.raises(OSError):
                async with serve(port=busy.getsockname()[1]):
                    pass

    asyncio.run(main())


def test_a_capacity_of_hundreds_is_enforced_too():
    """Capacity 300 (a classroom's server): with 300 held, the next 5 are refused."""
    async def main():
        async with serve(capacity=300, latency=3.0) as server:
            conn = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=conn) as session:

                async def one(i: int) -> int:
                    async with session.get(f"{server.base_url}/pokemon/{i % 151 + 1}") as r:
                        await r.read()
                        return r.status

                held = [asyncio.create_task(one(i)) for i in range(300)]
                while (await stats_of(server))["in_flight"] < 300:
                    await asyncio.sleep(0.01)
                refused = await asyncio.gather(*(one(i) for i in range(5)))
                return await asyncio.gather(*held), refused, await stats_of(server)

    held, refused, stats = asyncio.run(main())
    assert held == [200] * 300
    assert refused == [429] * 5
    assert stats["peak_in_flight"] == 300
