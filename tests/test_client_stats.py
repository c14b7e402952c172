"""Per-client counters: named and unnamed clients, hostile names, the bound on clients, reset."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from helpers import gather_with_concurrency
from helpers.server.stats import (
    MAX_CLIENTS,
    MAX_NAME_LENGTH,
    Stats,
    client_key,
    merge_client_dicts,
)
from tests.conftest import raw_http, serve, stats_of

# ------------------------------------------------------------------ names, without a server


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alice", "alice"),
        ("José Núñez", "José Núñez"),  # printable non-ASCII is kept as it is
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # escaped by the page
        ("a\x00b\x1bc\x7fd", "a?b?c?d"),  # control characters
        ("evil\u202egnp.exe", "evil?gnp.exe"),  # right-to-left override (a format character)
        ("line\u2028break", "line?break"),  # line separator
        ("bad\udcffbyte", "bad?byte"),  # a byte that was not UTF-8, as aiohttp decodes it
        ("  padded  ", "padded"),
        ("x" * 10_000, "x" * MAX_NAME_LENGTH),
    ],
)
def test_client_key_cleans_names(name, expected):
    assert client_key(name, "10.0.0.7") == expected


@pytest.mark.parametrize("name", [None, "", "   ", "\t"])
def test_client_key_without_a_usable_name_is_the_address(name):
    assert client_key(name, "10.0.0.7") == "10.0.0.7"
    assert client_key(name, None) == "unknown"


def test_a_name_of_64_characters_is_kept_whole_a_longer_one_is_cut_to_64():
    """The documented limit on what the dashboard shows of an ``X-Client-Name``: 64 printable
    characters (written out here, as the limit a student can rely on)."""
    assert client_key("n" * 64, "10.0.0.7") == "n" * 64
    assert client_key("n" * 63 + "é", "10.0.0.7") == "n" * 63 + "é"
    assert client_key("n" * 65, "10.0.0.7") == "n" * 64


def test_a_cut_name_is_cut_before_cleaning_so_its_length_is_bounded():
    key = client_key("\x01" * 1000, "10.0.0.7")
    assert key == "?" * MAX_NAME_LENGTH


# ------------------------------------------------------------------ Stats, without a server


def test_counts_per_client_add_up_to_the_totals():
    stats = Stats()
    alice = [stats.arrive("alice", "10.0.0.1") for _ in range(3)]
    bob = stats.arrive(None, "10.0.0.2")
    for client in alice:
        stats.enter(client)
    stats.enter(bob)
    assert stats.as_dict()["clients"]["alice"]["in_flight"] == 3
    stats.leave(alice[0])
    stats.count(200, alice[0])
    stats.leave(alice[1])
    stats.count(500, alice[1])
    stats.drop(alice[2])
    stats.leave(alice[2])
    stats.leave(bob)
    stats.count(404, bob)
    refused = stats.arrive("alice", "10.0.0.1")
    stats.count(429, refused)

    body = stats.as_dict()
    assert body["requests"] == 5
    assert body["peak_in_flight"] == 4
    assert body["clients"]["alice"] == {
        "requests": 4, "in_flight": 0, "peak_in_flight": 3, "too_many": 1,
        "errors": 2, "dropped": 1, "by_status": {"200": 1, "429": 1, "500": 1},
    }
    assert body["clients"]["10.0.0.2"]["by_status"] == {"404": 1}
    assert body["clients"]["10.0.0.2"]["errors"] == 0
    # The clients' counts add up to the totals.
    assert sum(c["requests"] for c in body["clients"].values()) == body["requests"]
    assert json.loads(json.dumps(body)) == body


def test_a_client_only_ever_refused_ran_nothing():
    """A laptop whose every request got 429 at the door (capacity full) shows on the
    dashboard with its requests and 429s, and with nothing in flight ever: peak 0."""
    stats = Stats()
    for _ in range(2):
        stats.count(429, stats.arrive("late", "10.0.0.9"))
    assert stats.as_dict()["clients"]["late"] == {
        "requests": 2, "in_flight": 0, "peak_in_flight": 0, "too_many": 2, "errors": 0,
        "dropped": 0, "by_status": {"429": 2},
    }
    assert stats.as_dict()["peak_in_flight"] == 0


def test_errors_are_every_5xx_and_every_drop():
    """A client's ``errors`` column counts any 5xx answer (not only 500) and every drop;
    4xx answers, even the last of them, are the client's own mistakes and never count."""
    stats = Stats()
    for status in (500, 502, 503, 599, 404, 429, 499):
        client = stats.arrive("bob")
        stats.count(status, client)
    stats.drop(stats.arrive("bob"))
    bob = stats.as_dict()["clients"]["bob"]
    assert bob["errors"] == 4 + 1
    assert bob["too_many"] == 1


def test_at_most_max_clients_the_least_recently_seen_forgotten_first():
    stats = Stats()
    assert stats.max_clients == MAX_CLIENTS == 256
    for i in range(MAX_CLIENTS):
        stats.arrive(f"client-{i}")
    stats.arrive("client-0")  # seen again: now the most recent
    for i in range(MAX_CLIENTS, MAX_CLIENTS + 10):
        stats.arrive(f"client-{i}")
    keys = list(stats.clients)
    assert len(keys) == MAX_CLIENTS
    assert stats.clients_evicted == 10
    assert "client-0" in keys
    forgotten = [f"client-{i}" for i in range(MAX_CLIENTS) if f"client-{i}" not in keys]
    assert forgotten == [f"client-{i}" for i in range(1, 11)]
    assert keys[-1] == f"client-{MAX_CLIENTS + 9}"
    assert stats.as_dict()["clients_evicted"] == 10


def test_eviction_prefers_a_client_with_nothing_in_flight():
    stats = Stats(max_clients=3)
    busy = stats.arrive("busy")
    stats.enter(busy)
    stats.arrive("idle-1")
    stats.arrive("idle-2")
    stats.arrive("new")
    assert list(stats.clients) == ["busy", "idle-2", "new"]
    # The busy one is the oldest; when every client is busy, the oldest goes anyway.
    for name in ("idle-2", "new"):
        stats.enter(stats.clients[name])
    newest = stats.arrive("newest")
    assert list(stats.clients) == ["idle-2", "new", "newest"]
    # The forgotten client's request still finishes on its own counters: no total goes wrong.
    stats.leave(busy)
    stats.count(200, busy)
    assert stats.in_flight == 2
    stats.enter(newest)
    assert stats.peak_in_flight == 3


def test_eviction_looks_only_at_the_few_oldest_clients():
    """Bounded work per new name: when the oldest clients are all busy, eviction does not
    search the whole table for an idle one; the least recently seen goes."""
    stats = Stats(max_clients=50)
    for i in range(49):
        stats.enter(stats.arrive(f"busy-{i}"))
    stats.arrive("idle")  # the only idle client, behind 49 busy ones
    stats.arrive("new")
    assert "busy-0" not in stats.clients
    assert "idle" in stats.clients and "new" in stats.clients
    assert len(stats.clients) == 50


def test_a_flood_of_names_costs_bounded_memory():
    stats = Stats()
    for i in range(5000):
        client = stats.arrive(f"flood-{i}" + "x" * 500)
        stats.enter(client)  # all busy: eviction must still keep the bound
    assert len(stats.clients) == MAX_CLIENTS
    assert all(len(key) <= MAX_NAME_LENGTH for key in stats.clients)
    assert stats.clients_evicted == 5000 - MAX_CLIENTS


def test_reset_forgets_idle_clients_and_keeps_the_busy_ones_consistent():
    stats = Stats()
    idle = stats.arrive("idle")
    stats.enter(idle)
    stats.leave(idle)
    stats.count(200, idle)
    busy = stats.arrive("busy")
    stats.enter(busy)
    stats.enter(stats.arrive("busy"))
    stats.reset()
    body = stats.as_dict()
    assert list(body["clients"]) == ["busy"]
    assert body["clients"]["busy"] == {
        "requests": 0, "in_flight": 2, "peak_in_flight": 2, "too_many": 0, "errors": 0,
        "dropped": 0, "by_status": {},
    }
    assert body["in_flight"] == 2
    # The requests that were in flight finish on the same entry: nothing stays stuck.
    stats.leave(busy)
    stats.count(200, busy)
    stats.leave(busy)
    stats.count(200, busy)
    after = stats.as_dict()
    assert after["in_flight"] == after["clients"]["busy"]["in_flight"] == 0
    assert after["clients"]["busy"]["by_status"] == {"200": 2}


def test_take_window_peak_sees_a_burst_between_two_samples():
    stats = Stats()
    clients = [stats.arrive("alice") for _ in range(5)]
    for c in clients:
        stats.enter(c)
    for c in clients:
        stats.leave(c)
    assert stats.in_flight == 0
    stats.enter(stats.arrive("alice"))  # one more starts before the sample is taken
    assert stats.take_window_peak() == 5
    assert stats.take_window_peak() == 1  # the next window starts from what is in flight now


def test_merge_client_dicts_adds_counts():
    a = {"alice": {"requests": 3, "in_flight": 1, "peak_in_flight": 2, "too_many": 1,
                   "errors": 0, "dropped": 0, "by_status": {"200": 1, "429": 1}}}
    b = {"alice": {"requests": 2, "in_flight": 0, "peak_in_flight": 3, "too_many": 0,
                   "errors": 1, "dropped": 0, "by_status": {"500": 1, "200": 1}},
         "bob": {"requests": 1, "in_flight": 0, "peak_in_flight": 1, "too_many": 0,
                 "errors": 0, "dropped": 0, "by_status": {"200": 1}}}
    merged = merge_client_dicts([a, b])
    assert merged["alice"] == {"requests": 5, "in_flight": 1, "peak_in_flight": 5,
                               "too_many": 1, "errors": 1, "dropped": 0,
                               "by_status": {"200": 2, "429": 1, "500": 1}}
    # Listed in order of status, as one process's /_stats lists them, whatever the order of
    # the parts (b lists 500 first).
    assert merge_client_dicts([b, a])["alice"] == merged["alice"]
    assert list(merge_client_dicts([b, a])["alice"]["by_status"]) == ["200", "429", "500"]
    assert merged["bob"] == b["bob"]
    assert merge_client_dicts([]) == {}


# ------------------------------------------------------------------ through the server


async def _get(session: aiohttp.ClientSession, url: str, name: str | None = None) -> int:
    headers = {"X-Client-Name": name} if name is not None else None
    async with session.get(url, headers=headers) as response:
        await response.read()
        return response.status


def test_named_and_unnamed_clients_each_get_their_own_peak():
    """alice runs 3 at a time, bob 6 at a time, an unnamed client 2 at once."""
    async def main():
        async with serve(latency=0.15) as server, aiohttp.ClientSession() as session:
            url = server.base_url + "/pokemon/"
            alice = gather_with_concurrency(3, *(_get(session, f"{url}{i}", "alice")
                                                 for i in range(1, 13)))
            bob = gather_with_concurrency(6, *(_get(session, f"{url}{i}", "bob")
                                               for i in range(1, 13)))
            anon = asyncio.gather(*(_get(session, f"{url}{i}") for i in (1, 2)))
            missing = _get(session, f"{url}agumon", "alice")
            results = await asyncio.gather(alice, bob, anon, missing)
            async with session.get(server.origin + "/_stats") as r:
                return results, await r.json()

    (alice, bob, anon, missing), body = asyncio.run(main())
    assert alice == bob == [200] * 12 and anon == [200, 200] and missing == 404
    clients = body["clients"]
    assert set(clients) == {"alice", "bob", "127.0.0.1"}
    assert clients["alice"]["requests"] == 13
    assert clients["alice"]["by_status"] == {"200": 12, "404": 1}
    # Each client's own peak is its own limit (the missing one runs beside alice's 3).
    assert clients["alice"]["peak_in_flight"] == 4
    assert clients["bob"]["peak_in_flight"] == 6
    assert clients["127.0.0.1"] == {
        "requests": 2, "in_flight": 0, "peak_in_flight": 2, "too_many": 0, "errors": 0,
        "dropped": 0, "by_status": {"200": 2},
    }
    assert body["peak_in_flight"] > 6  # the server saw them all at once
    assert sum(c["requests"] for c in clients.values()) == body["requests"] == 27


def test_429s_and_errors_are_counted_per_client():
    async def main():
        async with serve(capacity=2, latency=0.3) as server:
            conn = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=conn) as session:
                url = server.base_url + "/pokemon/1"
                statuses = await asyncio.gather(*(_get(session, url, "greedy")
                                                  for _ in range(6)))
            return statuses, await stats_of(server)

    statuses, body = asyncio.run(main())
    assert sorted(statuses) == [200, 200, 429, 429, 429, 429]
    greedy = body["clients"]["greedy"]
    assert greedy["too_many"] == 4
    assert greedy["peak_in_flight"] == 2

    async def faults():
        async with serve(error_rate=0.5, drop_rate=0.5, seed=5) as server:
            conn = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=conn) as session:
                for _ in range(10):
                    try:
                        await _get(session, server.base_url + "/pokemon/1", "unlucky")
                    except aiohttp.ClientError:
                        pass
            return await stats_of(server)

    body = asyncio.run(faults())
    unlucky = body["clients"]["unlucky"]
    assert unlucky["dropped"] == body["dropped"] > 0
    assert unlucky["by_status"].get("500", 0) == body["by_status"]["500"] > 0
    assert unlucky["errors"] == unlucky["dropped"] + unlucky["by_status"]["500"]
    assert unlucky["requests"] == body["requests"]


HOSTILE_NAMES: dict[str, bytes] = {
    "script": b"<script>alert(1)</script>",
    "quotes and ampersands": b"\"'&amp;</td><img src=x onerror=alert(1)>",
    "raw UTF-8": "Zoë 🚀".encode(),
    "not UTF-8": b"bad\xff\xfebytes",
    "very long": b"n" * 8000,
    "empty": b"",
    "only spaces": b"     ",
    "tab inside": b"a\tb",
    "JSON-looking": b'{"requests": 999999}',
    "address-looking": b"127.0.0.1",
}


def test_hostile_names_never_give_a_5xx_and_are_stored_clean(port, api):
    api.reset_stats()
    for label, name in HOSTILE_NAMES.items():
        request = (b"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port
                   + b"X-Client-Name: " + name + b"\r\nConnection: close\r\n\r\n")
        response = raw_http(port, request)
        assert response.status == 200, (label, response.status, response.body[:200])
    # A control character in a header value: aiohttp refuses the request itself (400).
    request = (b"GET /api/v2/pokemon/1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port
               + b"X-Client-Name: a\x01b\r\nConnection: close\r\n\r\n")
    assert raw_http(port, request).status == 400
    body = api.stats()
    keys = set(body["clients"])
    assert "<script>alert(1)</script>" in keys
    assert "Zoë 🚀" in keys
    assert "n" * MAX_NAME_LENGTH in keys
    assert "a\tb" not in keys and "a?b" in keys
    assert all(len(k) <= MAX_NAME_LENGTH and k.isprintable() for k in keys)
    # No name (empty, or only spaces) counts under the address, like the address-looking one.
    assert body["clients"]["127.0.0.1"]["requests"] == 3
    # The refused one never reached the application, so it is in no count.
    assert body["by_status"] == {"200": len(HOSTILE_NAMES)}
    assert sum(c["requests"] for c in body["clients"].values()) == body["requests"]


def test_a_flood_of_names_through_the_server_stays_bounded():
    async def main():
        async with serve() as server, aiohttp.ClientSession() as session:
            url = server.base_url + "/pokemon/1"
            statuses = await gather_with_concurrency(
                20, *(_get(session, url, f"student-{i:04d}") for i in range(MAX_CLIENTS + 44))
            )
            async with session.get(server.origin + "/_stats") as r:
                body = await r.json()
            async with session.post(server.origin + "/_stats/reset") as r:
                after = await r.json()
            return statuses, body, after

    statuses, body, after = asyncio.run(main())
    assert set(statuses) == {200}
    assert len(body["clients"]) == MAX_CLIENTS
    assert body["clients_evicted"] == 44
    assert "student-0000" not in body["clients"]
    assert f"student-{MAX_CLIENTS + 43:04d}" in body["clients"]
    assert after["clients"] == {}
    assert after["clients_evicted"] == 0
