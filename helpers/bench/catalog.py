"""The strategies the showdown compares: names, labels and what each one really does.

Kept free of imports of the HTTP clients themselves, so the parent process (and a notebook)
can list and describe strategies without loading gevent, which must only ever be imported in
the grequests worker (it monkey-patches the whole process).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StrategySpec:
    """One way of fetching N URLs, and how its concurrency ``n`` is decided."""

    name: str
    """The name used on the command line and in results."""
    label: str
    """A short label for tables and charts."""
    bounded: bool
    """True when ``--concurrency`` applies; False for sequential (n = 1) and unbounded (n = N)."""
    sequential: bool
    """True when requests run one after another (n = 1)."""
    description: str
    """One sentence on how it works, stated so a reader can tell what is being measured."""

    def concurrency(self, n: int, n_requests: int) -> int:
        """The number of requests this strategy keeps in flight at most."""
        if self.sequential:
            return 1
        if not self.bounded:
            return n_requests
        return min(n, n_requests)


STRATEGIES: dict[str, StrategySpec] = {
    s.name: s
    for s in (
        StrategySpec(
            "sequential", "requests.get", bounded=False, sequential=True,
            description="a plain loop of requests.get(url): a new TCP connection per request",
        ),
        StrategySpec(
            "session", "requests.Session", bounded=False, sequential=True,
            description="a loop over one requests.Session: one kept-alive connection, reused",
        ),
        StrategySpec(
            "threads", "ThreadPoolExecutor", bounded=True, sequential=False,
            description="ThreadPoolExecutor(max_workers=n), one requests.Session per worker"
                        " thread (threading.local), so each thread reuses its own connection",
        ),
        StrategySpec(
            "grequests", "grequests.map", bounded=True, sequential=False,
            description="grequests.map(size=n) on gevent, all greenlets sharing one"
                        " requests.Session whose adapter pool holds n connections",
        ),
        StrategySpec(
            "aiohttp", "aiohttp + semaphore", bounded=True, sequential=False,
            description="one aiohttp.ClientSession, TCPConnector(limit=n), asyncio.gather"
                        " under an asyncio.Semaphore(n) (gather_with_concurrency)",
        ),
        StrategySpec(
            "aiohttp-unbounded", "aiohttp unbounded", bounded=False, sequential=False,
            description="one aiohttp.ClientSession, TCPConnector(limit=0): every request at"
                        " once, no semaphore",
        ),
        StrategySpec(
            "httpx", "httpx.AsyncClient", bounded=True, sequential=False,
            description="one httpx.AsyncClient with Limits(max_connections=n,"
                        " max_keepalive_connections=n) (the defaults are 100 and 20) under an"
                        " asyncio.Semaphore(n)",
        ),
    )
}
