"""``python -m helpers.bench.worker STRATEGY``: time one strategy in a process of its own.

Why a process per strategy: grequests works by letting gevent monkey-patch the standard
library (sockets, ``time.sleep``, ...) for the whole process, so anything measured after it
in the same process would be measured on patched sockets. A fresh process per strategy also
gives every strategy the same cold start and the same idle core.

The job comes as JSON on standard input, the answer goes out as one JSON line per job on
standard output. Besides the seven strategies there are three measuring modes used by the
server benchmarks: ``load`` (as many requests as a fixed pool of workers can make in a fixed
time), ``accuracy`` (how late each request of a burst comes back, beyond the latency) and
``latency-load`` (``load`` with every request's time kept: the stand-in for ``wrk``).

Only the standard library's lightest modules are imported at the top: the grequests worker
must import gevent before anything imports ``socket``-heavy modules such as ``ssl``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m helpers.bench.worker"
              " STRATEGY|load|accuracy|latency-load < job.json", file=sys.stderr)
        return 2
    strategy = argv[0]
    if strategy == "grequests":
        import grequests  # noqa: F401  (patches the process: must come first)
    spec = json.loads(sys.stdin.read())
    if strategy == "load":
        answers = [_load(spec)]
    elif strategy == "accuracy":
        answers = [_accuracy(spec)]
    elif strategy == "latency-load":
        answers = [_latency_load(spec)]
    else:
        answers = [_job(strategy, job, spec["expected"]) for job in spec["jobs"]]
    for answer in answers:
        print(json.dumps(answer), flush=True)
    return 0


# --------------------------------------------------------------------------- strategies


def _job(strategy: str, job: dict[str, Any], expected: list[str]) -> dict[str, Any]:
    """Build the client, warm it, then time ``runs`` fetches of the job's URLs."""
    from .clients import is_async, make_client

    urls = [f"{job['base_url']}/pokemon/{i}" for i in range(1, job["requests"] + 1)]
    want = expected[: job["requests"]]
    client = make_client(strategy, job["n"])
    runs: list[dict[str, Any]] = []
    if is_async(strategy):
        import asyncio

        async def go() -> None:
            await client.open()
            try:
                await client.warm(urls)
                for _ in range(job["runs"]):
                    _reset(job["origin"])
                    t0 = time.perf_counter()
                    outcomes = await client.fetch(urls)
                    elapsed = time.perf_counter() - t0
                    runs.append(_check(outcomes, want, elapsed, _stats(job["origin"])))
            finally:
                await client.close()

        asyncio.run(go())
    else:
        try:
            client.warm(urls)
            for _ in range(job["runs"]):
                _reset(job["origin"])
                t0 = time.perf_counter()
                outcomes = client.fetch(urls)
                elapsed = time.perf_counter() - t0
                runs.append(_check(outcomes, want, elapsed, _stats(job["origin"])))
        finally:
            client.close()
    return {"id": job["id"], "runs": runs}


def _check(
    outcomes: list[Any], want: list[str], elapsed: float, stats: dict[str, Any]
) -> dict[str, Any]:
    """One run's record: its time, and every position whose outcome is not the right name."""
    errors: dict[str, int] = {}
    failures = 0
    for i, want_name in enumerate(want):
        got = outcomes[i] if i < len(outcomes) else None
        if got == want_name:
            continue
        failures += 1
        if isinstance(got, BaseException):
            kind = f"{type(got).__name__}: {got}"[:120]
        elif got is None:
            kind = "missing result"
        else:
            kind = "wrong name (out of order?)"
        errors[kind] = errors.get(kind, 0) + 1
    if len(outcomes) > len(want):
        failures += len(outcomes) - len(want)
        errors["extra results"] = len(outcomes) - len(want)
    return {
        "seconds": elapsed,
        "results": len(outcomes),
        "failures": failures,
        "errors": errors,
        "server_requests": stats.get("requests"),
        "connections_opened": stats.get("connections_opened"),
        "peak_in_flight": stats.get("peak_in_flight"),
    }


def _reset(origin: str) -> None:
    _call(origin, "/_stats/reset", "POST")


def _stats(origin: str) -> dict[str, Any]:
    return _call(origin, "/_stats", "GET")


def _call(origin: str, path: str, method: str) -> dict[str, Any]:
    import urllib.request

    data = b"" if method == "POST" else None
    req = urllib.request.Request(origin + path, method=method, data=data)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------- server bench


def _load(spec: dict[str, Any]) -> dict[str, Any]:
    """``n`` aiohttp workers cycle through ``urls`` for ``duration`` seconds; count answers.

    Bodies are read but not parsed, so the client spends as little as it can per request
    and the number measures the server. The first ``warmup`` seconds are not counted.
    """
    import asyncio

    import aiohttp

    urls: list[str] = spec["urls"]
    n, duration, warmup = spec["n"], spec["duration"], spec["warmup"]
    counts = {"ok": 0, "failed": 0}
    errors: dict[str, int] = {}
    state = {"counting": False, "stop": False, "next": 0}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not state["stop"]:
            url = urls[state["next"] % len(urls)]
            state["next"] += 1
            try:
                async with session.get(url) as r:
                    await r.read()
                    ok = r.status == 200
                    if not ok:
                        kind = f"HTTP {r.status}"
            except Exception as exc:  # counted, never hidden
                ok, kind = False, f"{type(exc).__name__}: {exc}"[:120]
            if state["counting"]:
                counts["ok" if ok else "failed"] += 1
                if not ok:
                    errors[kind] = errors.get(kind, 0) + 1

    async def go() -> float:
        connector = aiohttp.TCPConnector(limit=n)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            tasks = [asyncio.create_task(worker(session)) for _ in range(n)]
            await asyncio.sleep(warmup)
            state["counting"] = True
            t0 = time.perf_counter()
            await asyncio.sleep(duration)
            state["counting"] = False
            elapsed = time.perf_counter() - t0
            state["stop"] = True
            await asyncio.gather(*tasks)
        return elapsed

    elapsed = asyncio.run(go())
    return {"ok": counts["ok"], "failed": counts["failed"], "seconds": elapsed,
            "errors": errors}


def _latency_load(spec: dict[str, Any]) -> dict[str, Any]:
    """``n`` connections each sending ``url`` again as soon as its answer is read, for
    ``duration`` seconds; the 50th/99th percentile of their times and every error by kind.

    What ``wrk`` does, for machines without it. One ``TCPConnector`` of exactly ``n``
    connections; a request slower than ``timeout`` is a timeout, as in wrk.
    """
    import asyncio

    import aiohttp

    url, n, duration = spec["url"], spec["n"], spec["duration"]
    times: list[float] = []
    errors: dict[str, int] = {}
    state = {"stop": False}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not state["stop"]:
            t0 = time.perf_counter()
            try:
                async with session.get(url) as r:
                    await r.read()
                    if r.status >= 300:
                        errors["non-2xx"] = errors.get("non-2xx", 0) + 1
                        continue
            except TimeoutError:
                errors["timeout"] = errors.get("timeout", 0) + 1
                continue
            except Exception as exc:  # counted by kind, never hidden
                kind = type(exc).__name__
                errors[kind] = errors.get(kind, 0) + 1
                continue
            if not state["stop"]:
                times.append(time.perf_counter() - t0)

    async def go() -> float:
        connector = aiohttp.TCPConnector(limit=n)
        timeout = aiohttp.ClientTimeout(total=spec["timeout"])
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            tasks = [asyncio.create_task(worker(session)) for _ in range(n)]
            t0 = time.perf_counter()
            await asyncio.sleep(duration)
            state["stop"] = True
            elapsed = time.perf_counter() - t0
            await asyncio.gather(*tasks)
        return elapsed

    elapsed = asyncio.run(go())
    times.sort()

    def pct(q: float) -> float | None:
        return times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else None

    # Like wrk: answers (2xx or not) count as requests; socket errors and timeouts do not.
    return {"requests": len(times) + errors.get("non-2xx", 0), "seconds": elapsed,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "errors": errors}


def _accuracy(spec: dict[str, Any]) -> dict[str, Any]:
    """For bursts of ``requests`` at once: how long after ``latency`` each answer starts.

    The client is deliberately minimal (raw keep-alive sockets and one ``selectors`` loop,
    some microseconds of Python per request), so what is measured is the server's accuracy,
    not the bookkeeping of an HTTP client: a full client adds its own per-response work,
    which the strategies' rows already show. One untimed burst opens the connections; in each
    timed burst a request's time runs from its ``send`` to the first byte of its answer, and
    the answer is read to its ``Content-Length`` and must be ``200``.
    """
    import selectors
    import socket
    from urllib.parse import urlsplit

    base, latency, k, runs = spec["base_url"], spec["latency"], spec["requests"], spec["runs"]
    parts = urlsplit(base)
    socks = [socket.create_connection((parts.hostname, parts.port), timeout=10)
             for _ in range(k)]
    for s in socks:
        s.setblocking(False)
    requests = [(f"GET {parts.path}/pokemon/{i % 151 + 1} HTTP/1.1\r\n"
                 f"Host: {parts.netloc}\r\n\r\n").encode() for i in range(k)]
    excess: list[float] = []
    failures = 0
    sel = selectors.DefaultSelector()
    try:
        for run in range(runs + 1):  # run 0 warms the connections and is not counted
            sent: dict[int, float] = {}
            first: dict[int, float] = {}
            data = {i: bytearray() for i in range(k)}
            pending = set(range(k))
            for i, s in enumerate(socks):
                sent[i] = time.perf_counter()
                s.sendall(requests[i])
                sel.register(s, selectors.EVENT_READ, i)
            deadline = time.perf_counter() + 30
            while pending and time.perf_counter() < deadline:
                ready = sel.select(timeout=1)
                # Every socket in this batch had its bytes by the time select() returned:
                # one clock reading for all, so reading them one by one is not counted.
                now = time.perf_counter()
                for key, _ in ready:
                    i = key.data
                    chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if chunk and i not in first:
                        first[i] = now
                    data[i] += chunk
                    if not chunk or _complete(data[i]):
                        sel.unregister(key.fileobj)
                        pending.discard(i)
            for key in list(sel.get_map().values()):  # answers that never completed
                sel.unregister(key.fileobj)
            if run == 0:
                continue
            for i in range(k):
                if i in first and data[i].startswith(b"HTTP/1.1 200") and _complete(data[i]):
                    excess.append(first[i] - sent[i] - latency)
                else:
                    failures += 1
    finally:
        sel.close()
        for s in socks:
            s.close()
    return {"excess": excess, "failures": failures}


def _complete(buf: bytearray) -> bool:
    """Whether ``buf`` holds a whole response: headers, then ``Content-Length`` bytes."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    for line in bytes(buf[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(buf) - head_end - 4 >= int(value)
    return False


if __name__ == "__main__":
    sys.exit(main())
