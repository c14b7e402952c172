"""Bugs a learner or an instructor would hit, each pinned by what a client sees.

Each test here was written against a bug planted in a copy of ``helpers/`` that the rest of the
suite let through (issue 14): a wrong Content-Type, a missing route, a ``next`` link to an empty
page, a wrong ``Retry-After``, an open Text API, delays the seed does not reproduce, an error
rate off by a factor, a slow ``stop()``, and a key compared in variable time.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time

import aiohttp
import pytest
import requests

from helpers import start_local_api
from tests.conftest import serve, stats_of

LINKED_KINDS = ("ability", "pokemon-form", "pokemon-species", "stat", "type")


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


# --------------------------------------------------------------------------- PokéAPI routes


@pytest.mark.parametrize("kind", LINKED_KINDS)
@pytest.mark.parametrize("suffix", ["", "/"])
def test_unknown_linked_resource_is_plain_text_404(api, http, kind, suffix):
    """Like PokéAPI: an unknown id or name is ``404 text/plain Not Found``, never JSON."""
    for key in ("999999", "no-such-thing"):
        r = http.get(f"{api.base_url}/{kind}/{key}{suffix}")
        assert r.status_code == 404
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.text == "Not Found"


@pytest.mark.parametrize("kind", LINKED_KINDS)
def test_malformed_linked_key_is_plain_text_400(api, http, kind):
    r = http.get(f"{api.base_url}/{kind}/bad_key")
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text == "Bad Request"


@pytest.mark.parametrize("kind", LINKED_KINDS)
def test_linked_lists_answer_with_and_without_the_trailing_slash(api, http, kind):
    """The real API answers ``/type`` and ``/type/`` alike; so must this one."""
    bare, slashed = (http.get(f"{api.base_url}/{kind}{s}?limit=3") for s in ("", "/"))
    assert bare.status_code == slashed.status_code == 200
    assert bare.json() == slashed.json()
    assert len(bare.json()["results"]) == 3


@pytest.mark.parametrize("kind", LINKED_KINDS)
def test_linked_details_by_id_and_by_name(api, http, kind):
    first = http.get(f"{api.base_url}/{kind}/?limit=1").json()["results"][0]
    ident = int(first["url"].rstrip("/").rsplit("/", 1)[1])
    for key in (str(ident), first["name"], first["name"].upper()):
        for suffix in ("", "/"):
            r = http.get(f"{api.base_url}/{kind}/{key}{suffix}")
            assert r.status_code == 200, (key, suffix)
            assert r.headers["Content-Type"].startswith("application/json")
            assert r.json() == {"id": ident, "name": first["name"]}


@pytest.mark.parametrize(
    ("kind", "count", "limit"),
    [("pokemon", 151, 151), ("pokemon", 151, 1), ("type", 18, 6), ("type", 18, 9),
     ("type", 18, 18), ("stat", 6, 2), ("stat", 6, 3)],
)
def test_next_never_points_at_an_empty_page(api, http, kind, count, limit):
    """A client follows ``next`` until it is null: every page it fetches has results.

    The limits divide ``count``, so the last page ends exactly at ``count``: its ``next``
    must be null, not a link to an empty page.
    """
    url: str | None = f"{api.base_url}/{kind}/?limit={limit}"
    names: list[str] = []
    pages = 0
    while url:
        body = http.get(url).json()
        assert body["count"] == count
        assert body["results"], f"{url} is an empty page"
        names += [r["name"] for r in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == count // limit
    assert len(names) == len(set(names)) == count


def test_previous_walks_back_to_the_first_page(api, http):
    url: str | None = f"{api.base_url}/pokemon/?offset=140&limit=20"
    offsets = []
    while url:
        body = http.get(url).json()
        offsets.append(url.split("offset=")[1].split("&")[0])
        assert body["results"]
        url = body["previous"]
    assert offsets == ["140", "120", "100", "80", "60", "40", "20", "0"]


def test_a_page_in_the_middle_links_both_ways(api, http):
    body = http.get(f"{api.base_url}/type/?offset=5&limit=5").json()
    assert [r["name"] for r in body["results"]] == [
        "rock", "bug", "ghost", "steel", "fire"]  # PokéAPI's ids 6 to 10
    assert body["next"] == f"{api.base_url}/type/?offset=10&limit=5"
    assert body["previous"] == f"{api.base_url}/type/?offset=0&limit=5"
    for offset in (1, 3):
        short = http.get(f"{api.base_url}/type/?offset={offset}&limit=5").json()
        assert short["previous"] == f"{api.base_url}/type/?offset=0&limit=5"  # never negative


# --------------------------------------------------------------------------- the rate limiter


async def _until_refused(rate: float) -> tuple[int, float, str | None, int]:
    """Requests one after another until one is refused: how many were allowed, the seconds
    that took, the refusal's Retry-After, and the status of one more request sent once that
    Retry-After has passed."""
    async with serve(rate_limit=rate) as server, aiohttp.ClientSession() as session:
        url = f"{server.base_url}/pokemon/1"
        allowed = 0
        start = time.perf_counter()
        for _ in range(100):
            async with session.get(url) as r:
                if r.status == 429:
                    retry_after = r.headers.get("Retry-After")
                    break
                assert r.status == 200
                allowed += 1
        else:
            raise AssertionError("100 requests in a row and none refused")
        elapsed = time.perf_counter() - start
        assert retry_after is not None and retry_after.isdigit()
        await asyncio.sleep(int(retry_after))
        async with session.get(url) as r:
            after = r.status
    return allowed, elapsed, retry_after, after


@pytest.mark.parametrize(("rate", "burst", "expected"), [(5, 5, "1"), (0.5, 1, "2")])
def test_retry_after_is_the_wait_for_the_next_token(rate, burst, expected):
    """``Retry-After`` is the time until the next token, in whole seconds rounded up.

    At 5 requests/s a token comes back every 0.2 s: whatever is left of that, ``1``. At 0.5/s
    it is 2 s less the time since the last token was taken: ``2`` whenever the refused request
    follows the allowed one by less than a second (two requests on one connection). Waiting
    that long is enough: the next request is allowed.
    """
    allowed, elapsed, retry_after, after = asyncio.run(_until_refused(rate))
    # The burst is always allowed; refills add at most ``rate`` tokens per elapsed second.
    assert burst <= allowed <= burst + math.floor(rate * elapsed), (allowed, elapsed)
    assert retry_after == expected
    assert after == 200


# --------------------------------------------------------------------------- the Text API key


@pytest.mark.parametrize("header", [None, "", "anything"])
def test_a_server_with_an_empty_key_accepts_nothing(header):
    """An unconfigured Text API (empty key) must refuse every request, even one with no key."""
    async def main():
        async with serve(text_api_key="") as server, aiohttp.ClientSession() as session:
            headers = {} if header is None else {"apikey": header}
            async with session.post(f"{server.text_api_url}/ner", json={"text": "Hi Bob."},
                                    headers=headers) as r:
                return r.status, await r.json()

    status, body = asyncio.run(main())
    assert status == 401
    assert "apikey" in body["error"]


def test_the_key_is_compared_with_hmac_compare_digest(monkeypatch):
    """A ``!=`` leaks, through timing, how much of a guessed key is right; compare_digest does
    not. The server must decide with hmac.compare_digest, and with nothing else."""
    real = hmac.compare_digest
    calls: list[tuple[bytes, bytes]] = []
    verdict: dict[str, bool | None] = {"forced": None}

    def spy(a, b):
        calls.append((a, b))
        return real(a, b) if verdict["forced"] is None else verdict["forced"]

    monkeypatch.setattr(hmac, "compare_digest", spy)

    async def status(server, key: str) -> int:
        async with aiohttp.ClientSession() as session, session.post(
            f"{server.text_api_url}/ner", json={"text": "Hi Bob."}, headers={"apikey": key}
        ) as r:
            return r.status

    async def main():
        async with serve(text_api_key="right-key") as server:
            right, wrong = await status(server, "right-key"), await status(server, "wrong-key")
            verdict["forced"] = False
            right_refused = await status(server, "right-key")
            verdict["forced"] = True
            wrong_accepted = await status(server, "wrong-key")
            return right, wrong, right_refused, wrong_accepted

    right, wrong, right_refused, wrong_accepted = asyncio.run(main())
    assert (right, wrong) == (200, 401)
    assert [(bytes(a), bytes(b)) for a, b in calls[:2]] == [
        (b"right-key", b"right-key"), (b"wrong-key", b"right-key")]
    # compare_digest's answer is the decision: nothing else lets a key in or keeps it out.
    assert (right_refused, wrong_accepted) == (401, 200)


# --------------------------------------------------------------------------- seeded randomness


async def _delays(seed: int, jitter: float, paths: list[str]) -> list[float]:
    """Each request's time to answer, all sent at once to a fresh server (latency 0)."""
    async with serve(seed=seed, jitter=jitter) as server:
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as session:

            async def one(path: str) -> float:
                start = time.perf_counter()
                async with session.get(server.base_url + path) as r:
                    await r.read()
                    assert r.status == 200
                return time.perf_counter() - start

            return list(await asyncio.gather(*(one(p) for p in paths)))


def test_the_seed_reproduces_the_jitter():
    """Same seed, same delays per request; another seed, other delays.

    Jitter 1 s: each delay is drawn from [0, 1). Two draws of one unseeded generator differ
    by less than 0.15 s with probability 0.28, so eight requests all agreeing by chance has
    odds of 4 in 100,000; measurement noise on a loaded machine stays well under 0.15 s.
    """
    paths = [f"/pokemon/{i}" for i in range(1, 9)]
    first = asyncio.run(_delays(7, 1.0, paths))
    again = asyncio.run(_delays(7, 1.0, paths))
    other = asyncio.run(_delays(8, 1.0, paths))
    assert all(d < 1.0 + 0.5 for d in first)  # within [0, jitter) plus a margin
    assert max(abs(a - b) for a, b in zip(first, again, strict=True)) < 0.15, (first, again)
    assert max(abs(a - b) for a, b in zip(first, other, strict=True)) > 0.15, (first, other)


# --------------------------------------------------------------------------- fault rates


async def _fault_counts(n: int, **options: object) -> dict:
    """Send ``n`` distinct requests (50 at a time); the server's own counters afterwards."""
    async with serve(**options) as server:
        conn = aiohttp.TCPConnector(limit=50, force_close=True)
        async with aiohttp.ClientSession(connector=conn) as session:

            async def one(i: int) -> None:
                try:
                    async with session.get(f"{server.base_url}/pokemon/{i % 151 + 1}?n={i}") as r:
                        await r.read()
                except aiohttp.ClientError:
                    pass  # a dropped connection (after aiohttp's one silent resend)

            await asyncio.gather(*(one(i) for i in range(n)))
        return await stats_of(server)


def _near(count: int, p: float, n: int) -> bool:
    """``count`` is within 4 binomial standard deviations of ``p * n``."""
    return abs(count - p * n) <= 4 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize(("error_rate", "drop_rate"), [(0.5, 0.0), (0.2, 0.4)])
def test_error_and_drop_rates_are_the_configured_probabilities(error_rate, drop_rate):
    """Of the requests the server received, the share answered 500 is ``error_rate`` and the
    share dropped is ``drop_rate``, within 4 binomial standard deviations (for 1,000
    requests at 0.5, 437 to 563 errors: a rate off by a fifth, 600, falls outside). The server's
    own request count is the denominator: aiohttp silently resends a dropped GET once, and the
    resend is a request with a fresh draw. The seed makes every count repeatable.
    """
    stats = asyncio.run(_fault_counts(1000, seed=0, error_rate=error_rate, drop_rate=drop_rate))
    n, errors, dropped = stats["requests"], stats["by_status"].get("500", 0), stats["dropped"]
    assert n >= 1000
    assert _near(errors, error_rate, n), (errors, n)
    if drop_rate:
        assert _near(dropped, drop_rate, n), (dropped, n)
    else:
        assert dropped == 0 and n == 1000
    assert stats["by_status"].get("200", 0) + errors + dropped == n


# --------------------------------------------------------------------------- the launcher


def test_stop_returns_promptly():
    """``stop()`` closes the child's stdin at once; the child exits on EOF within a moment.

    A stop that first waited for the child to exit by itself (5 s) and only then signalled it
    would make every notebook that starts a server seconds slower to finish.
    """
    server = start_local_api()
    start = time.perf_counter()
    server.stop()
    elapsed = time.perf_counter() - start
    assert server.process.returncode == 0  # a clean exit, not a kill
    assert elapsed < 4.0, elapsed  # the exit on EOF takes well under a second
