"""Injected faults, limits, determinism and the counters of /_stats (in-process servers)."""

from __future__ import annotations

import asyncio
import math
import time

import aiohttp
import pytest

from helpers import gather_with_concurrency
from tests.conftest import raw_http, serve, stats_of


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def _statuses(base: str, paths: list[str], **connector: object) -> dict[str, int | str]:
    """Send every path at once; the status of each, or the exception's name."""
    conn = aiohttp.TCPConnector(**connector)  # type: ignore[arg-type]
    async with aiohttp.ClientSession(connector=conn) as session:
        results = await asyncio.gather(
            *(_status(session, base + p) for p in paths), return_exceptions=True
        )
    pairs = zip(paths, results, strict=True)
    return {p: r if isinstance(r, int) else type(r).__name__ for p, r in pairs}


def test_faults_are_off_by_default():
    async def main():
        async with serve() as server:
            paths = [f"/pokemon/{i}" for i in range(1, 152)]
            result = await _statuses(server.base_url, paths)
            stats = await stats_of(server)
            return result, stats

    result, stats = asyncio.run(main())
    assert set(result.values()) == {200}
    assert stats["by_status"] == {"200": 151}
    assert stats["dropped"] == 0


def test_error_rate_1_gives_500():
    async def main():
        async with serve(error_rate=1.0) as server, aiohttp.ClientSession() as session:
            async with session.get(server.base_url + "/pokemon/1") as response:
                return response.status, await response.text(), await stats_of(server)

    status, text, stats = asyncio.run(main())
    assert status == 500
    assert text == "Internal Server Error (injected fault)"
    assert stats["by_status"] == {"500": 1}


def test_drop_rate_1_closes_without_response():
    async def main():
        async with serve(drop_rate=1.0) as server:
            conn = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=conn) as session:
                with pytest.raises(aiohttp.ServerDisconnectedError):
                    async with session.get(server.base_url + "/pokemon/1") as response:
                        await response.read()
            return await stats_of(server), server.port

    stats, _port = asyncio.run(main())
    # aiohttp 3.14 retries an idempotent request once after a disconnect, even on a fresh
    # connection: with drop_rate=1 the retry is dropped too, so the server saw 1 or 2 drops.
    assert stats["dropped"] in (1, 2)
    assert stats["in_flight"] == 0


def test_drop_seen_by_a_raw_socket():
    async def main():
        async with serve(drop_rate=1.0) as server:
            request = (
                f"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            loop = asyncio.get_running_loop()
            with pytest.raises(ConnectionError):
                await loop.run_in_executor(None, raw_http, server.port, request)

    asyncio.run(main())


def test_slow_rate_1_adds_slow_seconds():
    async def main():
        timings = {}
        for rate in (0.0, 1.0):
            async with serve(slow_rate=rate, slow_seconds=0.4) as server:
                async with aiohttp.ClientSession() as session:
                    start = time.perf_counter()
                    assert await _status(session, server.base_url + "/pokemon/1") == 200
                    timings[rate] = time.perf_counter() - start
        return timings

    timings = asyncio.run(main())
    assert timings[1.0] >= 0.35  # a sleep never ends early
    assert timings[1.0] > timings[0.0]


def test_latency_overlaps_for_concurrent_requests():
    """151 requests at 0.5 s latency, all at once: the server holds them at the same time.

    Sequential would be 75 s. Rather than a wall-clock bound (which a loaded machine can
    break), the server's own counter shows the overlap: at one moment it held as many
    requests as the client's connection pool allows (aiohttp's default, 100), each for at
    least the latency.
    """
    async def main():
        async with serve(latency=0.5) as server:
            start = time.perf_counter()
            result = await _statuses(server.base_url, [f"/pokemon/{i}" for i in range(1, 152)])
            elapsed = time.perf_counter() - start
            return result, elapsed, await stats_of(server)

    result, elapsed, stats = asyncio.run(main())
    assert set(result.values()) == {200}
    assert stats["requests"] == 151 and stats["in_flight"] == 0
    # 151 requests through 100 connections: at least two rounds of the latency.
    assert elapsed >= 2 * 0.5 - 0.05
    assert stats["peak_in_flight"] > 50  # most of the pool at once (100 when unloaded)
    assert stats["peak_in_flight"] <= 100  # never more than the client's pool


def test_capacity_refuses_the_rest_with_429():
    """Capacity 2: while two requests are held, every other one is refused at the door.

    The test waits for the condition (the server reports 2 in flight) before sending the
    other 8, so a slow start cannot let one of them in; the held two take 1 s, time enough
    for 8 refusals on any machine.
    """
    async def main():
        async with serve(capacity=2, latency=1.0, retry_after=3) as server:
            conn = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=conn) as session:

                async def one(i: int):
                    async with session.get(f"{server.base_url}/pokemon/{i}") as r:
                        await r.read()
                        return r.status, r.headers.get("Retry-After"), await r.text()

                held = [asyncio.create_task(one(i)) for i in (1, 2)]
                while (await stats_of(server))["in_flight"] < 2:
                    await asyncio.sleep(0.005)
                refused = await asyncio.gather(*(one(i) for i in range(3, 11)))
                results = await asyncio.gather(*held) + refused
            return results, await stats_of(server)

    results, stats = asyncio.run(main())
    statuses = [s for s, _, _ in results]
    assert statuses == [200, 200] + [429] * 8
    for status, retry_after, text in results:
        if status == 429:
            assert retry_after == "3"
            assert text == "Too Many Requests: server at capacity"
        else:
            assert retry_after is None
    assert stats["peak_in_flight"] == 2
    assert stats["requests"] == 10
    assert stats["by_status"] == {"200": 2, "429": 8}


def test_rate_limit_burst_gets_429_with_retry_after():
    """At 5 requests/s: a burst of 5 passes, then 429 with Retry-After, never more than the
    tokens the elapsed time can have refilled (no fixed window, so a slow machine cannot
    break it: the bound grows with the time the requests really took)."""
    async def main():
        async with serve(rate_limit=5) as server, aiohttp.ClientSession() as session:
            results = []
            start = time.perf_counter()
            # Until the first refusal (a condition, not a count), then 4 more at once.
            while len(results) < 100 and (not results or results[-1][0] != 429):
                async with session.get(server.base_url + "/pokemon/1") as r:
                    await r.read()
                    results.append((r.status, r.headers.get("Retry-After")))
            for _ in range(4):
                async with session.get(server.base_url + "/pokemon/1") as r:
                    await r.read()
                    results.append((r.status, r.headers.get("Retry-After")))
            elapsed = time.perf_counter() - start
            return results, elapsed, await stats_of(server)

    results, elapsed, stats = asyncio.run(main())
    ok = [s for s, _ in results if s == 200]
    refused = [(s, ra) for s, ra in results if s == 429]
    assert results[:5] == [(200, None)] * 5  # the burst
    assert refused
    # Tokens come back at 5 a second: no more than the burst plus what elapsed refilled.
    assert len(ok) <= 5 + math.floor(5 * elapsed), (len(ok), elapsed)
    assert {s for s, _ in results} == {200, 429}
    for _, retry_after in refused:
        assert retry_after == "1"  # a token is never more than 1 / 5 s away
    # The server's counters tell the same story as the client.
    assert stats["by_status"] == {"200": len(ok), "429": len(refused)}
    assert stats["peak_in_flight"] == 1  # refused requests never enter in_flight


async def _pattern(seed: int, runs: int = 2) -> list[tuple[dict[str, int | str], int]]:
    """The same 80 URLs, all at once, ``runs`` times with a reset between.

    Each run gives the status per URL and the number of connections the server dropped (aiohttp
    retries a dropped GET once, so the client sees few of them).
    """
    paths = [f"/pokemon/{i}" for i in range(1, 81)]
    patterns = []
    async with serve(seed=seed, error_rate=0.3, drop_rate=0.1, latency=0.05,
                     jitter=0.05) as server:
        for _ in range(runs):
            async with aiohttp.ClientSession() as session:
                async with session.post(server.origin + "/_stats/reset") as r:
                    assert (await r.json())["requests"] == 0
            # force_close: a dropped keep-alive connection would be retried silently by aiohttp
            pattern = await _statuses(server.base_url, paths, force_close=True)
            patterns.append((pattern, (await stats_of(server))["dropped"]))
    return patterns


def test_same_seed_same_faults_even_concurrently():
    first, second = asyncio.run(_pattern(seed=7))
    assert first == second
    values = list(first[0].values())
    assert values.count(500) > 5
    assert values.count(200) > 30
    assert first[1] > 0  # connections dropped
    # A different server with the same seed: the same pattern again.
    (third,) = asyncio.run(_pattern(seed=7, runs=1))
    assert third == first


def test_different_seed_different_faults():
    (a,) = asyncio.run(_pattern(seed=1, runs=1))
    (b,) = asyncio.run(_pattern(seed=2, runs=1))
    assert a != b


def test_a_retry_gets_a_fresh_draw():
    async def main():
        async with serve(seed=3, error_rate=0.5) as server, aiohttp.ClientSession() as session:
            return [await _status(session, server.base_url + "/pokemon/1") for _ in range(30)]

    statuses = asyncio.run(main())
    assert {200, 500} == set(statuses)


def test_stats_peak_in_flight_equals_the_semaphore():
    async def main():
        # 0.3 s per request: ample time for 7 to be under way together on a loaded machine.
        async with serve(latency=0.3) as server, aiohttp.ClientSession() as session:
            urls = [f"{server.base_url}/pokemon/{i}" for i in range(1, 22)]
            results = await gather_with_concurrency(7, *(_status(session, u) for u in urls))
            return results, await stats_of(server)

    results, stats = asyncio.run(main())
    assert results == [200] * 21
    assert stats["peak_in_flight"] == 7
    assert stats["in_flight"] == 0
    assert stats["requests"] == 21


def test_stats_connections_keep_alive_vs_force_close():
    async def run(force_close: bool) -> dict:
        async with serve() as server:
            conn = aiohttp.TCPConnector(force_close=force_close)
            async with aiohttp.ClientSession(connector=conn) as session:
                for i in range(1, 11):
                    assert await _status(session, f"{server.base_url}/pokemon/{i}") == 200
            return await stats_of(server)

    keep_alive = asyncio.run(run(False))
    closing = asyncio.run(run(True))
    assert keep_alive["connections_opened"] == 1
    assert closing["connections_opened"] == 10
    assert keep_alive["requests"] == closing["requests"] == 10


def test_stats_by_status_not_counting_stats_and_reset():
    async def main():
        async with serve() as server, aiohttp.ClientSession() as session:
            for path in ("/pokemon/1", "/pokemon/2", "/pokemon/agumon", "/pokemon/%20"):
                await _status(session, server.base_url + path)
            for _ in range(3):
                async with session.get(server.origin + "/_stats") as r:
                    seen = await r.json()
            async with session.post(server.origin + "/_stats/reset") as r:
                after_reset = await r.json()
            return seen, after_reset

    seen, after_reset = asyncio.run(main())
    assert seen["requests"] == 4
    assert seen["by_status"] == {"200": 2, "400": 1, "404": 1}
    assert seen["in_flight"] == 0
    assert seen["peak_in_flight"] == 1
    assert after_reset["requests"] == 0
    assert after_reset["by_status"] == {}
    assert after_reset["peak_in_flight"] == 0
    assert after_reset["connections_opened"] == 0


def test_stats_through_the_launcher_handle(api):
    import requests

    api.reset_stats()
    with requests.Session() as session:
        for i in range(1, 6):
            session.get(f"{api.base_url}/pokemon/{i}")
    stats = api.stats()
    assert stats["requests"] == 5
    assert stats["by_status"] == {"200": 5}
    assert stats["in_flight"] == 0
    assert stats["connections_opened"] == 1
    assert set(stats["settings"]) >= {"latency", "capacity", "error_rate", "seed"}
    assert api.reset_stats()["requests"] == 0
