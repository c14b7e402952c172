"""The per-request shortcuts of the server: each must give exactly what the long way gave.

Bodies are cached per Pokémon and host, a fault-free server skips the draw, answers due
together share a timer and a checked ``Host`` is remembered. These tests pin what each
shortcut must preserve (same bytes, same fate, every waiter woken, bounded memory).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from helpers.server.app import POKEDEX, ROOTS, create_app
from helpers.server.bodies import MAX_ROOTS, BodyCache
from helpers.server.faults import Fate, FaultPlan
from helpers.server.pokedex import Pokedex, load_pokedex, pokemon_body
from helpers.server.settings import ServerSettings
from helpers.server.wakeups import Wakeups
from tests.conftest import raw_http, serve

PIKACHU = next(p for p in load_pokedex() if p.name == "pikachu")


def test_cached_body_is_the_json_of_the_body_for_that_root():
    cache = BodyCache()
    root = "http://127.0.0.1:8000/api/v2"
    body = cache.pokemon(PIKACHU, root)
    assert body == json.dumps(pokemon_body(PIKACHU, root)).encode("utf-8")
    assert cache.pokemon(PIKACHU, root) is body  # serialised once
    other = cache.pokemon(PIKACHU, "http://localhost:8000/api/v2")
    assert b"http://localhost:8000/api/v2/type/13/" in other
    assert b"127.0.0.1" not in other


def test_body_cache_keeps_a_bounded_number_of_roots():
    cache = BodyCache(max_roots=3)
    roots = [f"http://host{i}/api/v2" for i in range(5)]
    for root in roots:
        cache.pokemon(PIKACHU, root)
    assert list(cache._by_root) == roots[2:]  # the oldest were forgotten first


@pytest.mark.parametrize("options", [
    {"jitter": 0.01}, {"error_rate": 0.1}, {"drop_rate": 0.1}, {"slow_rate": 0.1},
])
def test_any_random_setting_means_fates_are_drawn(options):
    assert FaultPlan(ServerSettings(**options)).constant is None


def test_without_randomness_the_constant_fate_is_what_a_draw_gives():
    plan = FaultPlan(ServerSettings(latency=0.05, seed=7))
    assert plan.constant == Fate(delay=0.05, error=False, drop=False, slow=False)
    for key in ("GET /api/v2/pokemon/1", "GET /api/v2/pokemon/2", "GET /api/v2/pokemon/1"):
        assert plan.next_fate(key) == plan.constant


def test_waiters_due_together_share_one_timer_and_all_wake_in_order():
    async def main():
        loop = asyncio.get_running_loop()
        wakeups = Wakeups()
        when = loop.time() + 0.02
        woken: list[int] = []

        async def wait(i: int) -> None:
            await wakeups.at(when)
            woken.append(i)

        tasks = [asyncio.create_task(wait(i)) for i in range(5)]
        await asyncio.sleep(0)
        timers = len(wakeups)
        tasks[2].cancel()  # one waiter gives up: the others must still wake
        await asyncio.gather(*tasks, return_exceptions=True)
        return timers, woken, loop.time() >= when, len(wakeups)

    timers, woken, on_time, left = asyncio.run(main())
    assert timers == 1
    assert woken == [0, 1, 3, 4]
    assert on_time and left == 0


def test_distinct_due_times_get_distinct_timers():
    async def main():
        loop = asyncio.get_running_loop()
        wakeups = Wakeups()
        now = loop.time()
        futures = [wakeups.at(now + 0.01), wakeups.at(now + 0.02), wakeups.at(now + 0.01)]
        count = len(wakeups)
        await asyncio.gather(*futures)
        return count

    assert asyncio.run(main()) == 2


def test_host_roots_are_remembered_within_a_bound():
    async def main():
        async with serve() as server:
            texts = []
            for i in range(MAX_ROOTS + 5):
                host = f"h{i}.example:{server.port}"
                request = (f"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: {host}\r\n"
                           "Connection: close\r\n\r\n").encode()
                texts.append((host, await asyncio.to_thread(raw_http, server.port, request)))
            return texts, len(server.runner.app[ROOTS])

    texts, kept = asyncio.run(main())
    for host, response in texts:
        assert response.status == 200
        assert f"http://{host}/api/v2/pokemon-species/1/" in response.text
    assert kept == MAX_ROOTS


def test_a_group_settles_before_any_waiter_wakes_and_in_one_batch():
    import contextlib

    async def main():
        loop = asyncio.get_running_loop()
        log: list[str] = []

        @contextlib.contextmanager
        def batch():
            log.append("batch")
            yield
            log.append("sent")

        wakeups = Wakeups(batch=batch)
        when = loop.time() + 0.01

        async def wait(i: int) -> None:
            await wakeups.at(when, lambda: log.append(f"settle {i}"))
            log.append(f"woke {i}")

        tasks = [asyncio.create_task(wait(i)) for i in range(3)]
        await asyncio.sleep(0)
        tasks[1].cancel()  # gave up before its time: nothing to settle for it
        await asyncio.gather(*tasks, return_exceptions=True)
        return log

    assert asyncio.run(main()) == [
        "batch", "settle 0", "settle 2", "sent", "woke 0", "woke 2",
    ]


def test_fates_and_pokemon_records_are_immutable():
    """Both are shared: one constant Fate serves every request of a server without
    randomness, and one Pokemon record every request for that Pokémon. Neither can be
    changed by one request behind the others' backs."""
    from dataclasses import FrozenInstanceError

    fate = FaultPlan(ServerSettings()).constant
    assert fate is not None
    with pytest.raises(FrozenInstanceError):
        fate.delay = 5.0  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        load_pokedex()[0].name = "missingno"  # type: ignore[misc]


def test_the_pokedex_is_loaded_once_per_process():
    """Every app and every Pokedex() shares one parsed dataset: the JSON is read once."""
    first, second = create_app(ServerSettings()), create_app(ServerSettings(latency=0.1))
    assert first[POKEDEX].pokemon is second[POKEDEX].pokemon is Pokedex().pokemon
    assert Pokedex().pokemon is load_pokedex()


@pytest.mark.parametrize(("seconds", "header"),
                         [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (4.5, "5")])
def test_retry_after_is_whole_seconds_rounded_up_and_never_zero(seconds, header):
    """RFC 9110 wants whole seconds; "Retry-After: 0" would invite an immediate retry."""
    from helpers.server.faults import retry_after_header

    assert retry_after_header(seconds) == header
