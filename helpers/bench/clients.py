"""The seven ways of fetching the URLs, each built once and then timed by the worker.

Every client answers ``fetch(urls)`` with one outcome per URL, in the order of ``urls``: the
Pokémon's name, or the exception that request ended with. Nothing is dropped, so the worker can
count failures instead of discovering a short list. Each client also has ``warm(urls)``, an
untimed round of ``n`` concurrent requests that opens the connections a long-lived program
would already have, so the timed runs measure requests, not TCP handshakes (the sequential
``requests.get`` loop has no pool to warm: a new connection per request is what it measures).

The HTTP libraries are imported inside the classes: this module is imported by every worker,
and only the grequests worker may load gevent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

TIMEOUT = 30.0
"""Seconds before one request counts as failed (generous: a failure here is a bug, not noise)."""

Outcome = str | BaseException


class BadResponse(Exception):
    """A response that is not ``200`` with a JSON body holding a ``name``."""


def name_of(status: int, parse: Callable[[], Any]) -> Outcome:
    """The ``name`` of a 200 JSON body, or a :class:`BadResponse` saying what was wrong."""
    if status != 200:
        return BadResponse(f"HTTP {status}")
    try:
        body = parse()
        return str(body["name"])
    except (ValueError, KeyError, TypeError) as exc:
        return BadResponse(f"unusable body: {type(exc).__name__}")


# --------------------------------------------------------------------------- synchronous


class SequentialGet:
    """``requests.get`` in a loop: the article's version, a new connection every time."""

    def __init__(self, n: int) -> None:
        import requests

        self._get = requests.get

    def _one(self, url: str) -> Outcome:
        try:
            r = self._get(url, timeout=TIMEOUT)
            return name_of(r.status_code, r.json)
        except Exception as exc:
            return exc

    def warm(self, urls: Sequence[str]) -> None:
        self._one(urls[0])  # loads lazily imported parts of requests; opens nothing that lasts

    def fetch(self, urls: Sequence[str]) -> list[Outcome]:
        return [self._one(u) for u in urls]

    def close(self) -> None:
        pass


class SequentialSession(SequentialGet):
    """One ``requests.Session``: the same loop over a kept-alive connection."""

    def __init__(self, n: int) -> None:
        import requests

        self._session = requests.Session()
        self._get = self._session.get

    def close(self) -> None:
        self._session.close()


class Threads:
    """``ThreadPoolExecutor(n)``; each worker thread has its own ``requests.Session``.

    A Session per thread rather than plain ``requests.get``: connection reuse is the fair
    comparison with the pooled async clients, and a Session is not documented as thread-safe,
    so threads do not share one.
    """

    def __init__(self, n: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import requests

        self._requests = requests
        self._n = n
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="bench")

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def _one(self, url: str) -> Outcome:
        try:
            r = self._session().get(url, timeout=TIMEOUT)
            return name_of(r.status_code, r.json)
        except Exception as exc:
            return exc

    def warm(self, urls: Sequence[str]) -> None:
        # A barrier holds each warm-up task until all n run at once, which forces the pool to
        # start all n threads, each opening its own connection.
        barrier = threading.Barrier(self._n)

        def warm_one(url: str) -> None:
            self._one(url)
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass

        list(self._pool.map(warm_one, [urls[i % len(urls)] for i in range(self._n)]))

    def fetch(self, urls: Sequence[str]) -> list[Outcome]:
        return list(self._pool.map(self._one, urls))  # _one never raises: one outcome per URL

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for s in self._sessions:
            s.close()


class GRequests:
    """``grequests.map(size=n)``; the process was monkey-patched by gevent before any import.

    All greenlets share one Session whose adapter keeps ``n`` connections (requests' default
    pool keeps 10 and would discard the rest after each use). ``exception_handler`` records
    each failure, because ``map`` itself returns a bare ``None`` in its place.
    """

    def __init__(self, n: int) -> None:
        import grequests
        import requests
        from requests.adapters import HTTPAdapter

        self._grequests = grequests
        self._n = n
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=n)
        self._session.mount("http://", adapter)

    def warm(self, urls: Sequence[str]) -> None:
        self.fetch([urls[i % len(urls)] for i in range(self._n)])

    def fetch(self, urls: Sequence[str]) -> list[Outcome]:
        errors: dict[int, BaseException] = {}

        def on_error(request: Any, exc: BaseException) -> None:
            errors[id(request)] = exc

        reqs = [self._grequests.get(u, session=self._session, timeout=TIMEOUT) for u in urls]
        responses = self._grequests.map(reqs, size=self._n, exception_handler=on_error)
        out: list[Outcome] = []
        for req, resp in zip(reqs, responses, strict=True):
            if resp is None:
                out.append(errors.get(id(req), BadResponse("no response and no exception")))
            else:
                out.append(name_of(resp.status_code, resp.json))
        return out

    def close(self) -> None:
        self._session.close()


# --------------------------------------------------------------------------- asynchronous


class AiohttpClient:
    """One ``ClientSession``; ``n`` requests at a time through ``gather_with_concurrency``.

    ``n=None`` is the unbounded variant: ``TCPConnector(limit=0)`` and a plain ``gather``.
    """

    def __init__(self, n: int | None) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._n = n
        self._session: Any = None

    async def open(self) -> None:
        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(limit=self._n or 0)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
        )

    async def _one(self, url: str) -> Outcome:
        async with self._session.get(url) as r:
            if r.status != 200:
                return BadResponse(f"HTTP {r.status}")
            body = await r.read()
        return name_of(200, lambda: _loads(body))

    async def _all(self, urls: Sequence[str]) -> list[Outcome]:
        import asyncio

        from ..concurrency import gather_with_concurrency

        coros = (self._one(u) for u in urls)
        if self._n is None:
            return await asyncio.gather(*coros, return_exceptions=True)
        return await gather_with_concurrency(self._n, *coros, return_exceptions=True)

    async def warm(self, urls: Sequence[str]) -> None:
        k = self._n or len(urls)
        await self._all([urls[i % len(urls)] for i in range(k)])

    async def fetch(self, urls: Sequence[str]) -> list[Outcome]:
        return await self._all(urls)

    async def close(self) -> None:
        await self._session.close()


class HttpxClient:
    """One ``httpx.AsyncClient`` with its pool sized to ``n``, under a semaphore of ``n``.

    httpx's default ``Limits`` are 100 connections of which only 20 are kept alive: at
    n = 50, 30 connections would be closed after each response and opened again. Setting
    both to ``n`` keeps the comparison with aiohttp about the client, not the pool.
    """

    def __init__(self, n: int) -> None:
        import httpx

        self._httpx = httpx
        self._n = n
        self._client: Any = None

    async def open(self) -> None:
        httpx = self._httpx
        limits = httpx.Limits(max_connections=self._n, max_keepalive_connections=self._n)
        self._client = httpx.AsyncClient(limits=limits, timeout=TIMEOUT)

    async def _one(self, url: str) -> Outcome:
        r = await self._client.get(url)
        return name_of(r.status_code, r.json)

    async def warm(self, urls: Sequence[str]) -> None:
        await self.fetch([urls[i % len(urls)] for i in range(self._n)])

    async def fetch(self, urls: Sequence[str]) -> list[Outcome]:
        from ..concurrency import gather_with_concurrency

        return await gather_with_concurrency(
            self._n, *(self._one(u) for u in urls), return_exceptions=True
        )

    async def close(self) -> None:
        await self._client.aclose()


def _loads(body: bytes) -> Any:
    import json

    return json.loads(body)


def make_client(strategy: str, n: int) -> Any:
    """The client object for ``strategy`` at concurrency ``n`` (ignored where it does not apply)."""
    if strategy == "sequential":
        return SequentialGet(n)
    if strategy == "session":
        return SequentialSession(n)
    if strategy == "threads":
        return Threads(n)
    if strategy == "grequests":
        return GRequests(n)
    if strategy == "aiohttp":
        return AiohttpClient(n)
    if strategy == "aiohttp-unbounded":
        return AiohttpClient(None)
    if strategy == "httpx":
        return HttpxClient(n)
    raise ValueError(f"unknown strategy {strategy!r}")


def is_async(strategy: str) -> bool:
    return strategy in ("aiohttp", "aiohttp-unbounded", "httpx")
