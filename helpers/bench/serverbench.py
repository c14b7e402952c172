"""The server itself: its throughput against Python's ``http.server``, and its latency accuracy.

Why measure the server: every client number above assumes the server answers on time and is
never the bottleneck. Throughput is compared at zero latency under the same load (``n``
aiohttp workers for a fixed time, from a worker process) against a ``ThreadingHTTPServer``
serving the very same 151 bodies as files. The two servers are measured in alternating
slices, so a burst of load from elsewhere on a shared machine hits both alike.

``http.server`` gets the two settings that make the comparison about serving rather than
about set-up: HTTP/1.1 (keep-alive, like ours; the stock ``python -m http.server`` speaks
HTTP/1.0 and closes every connection) and a listen backlog of 128 instead of 5 (with 5, most of
50 simultaneous connects are dropped and retried by the kernel a second later). It logs
nothing, as ours does not.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .runner import MAX_REQUESTS, ServerHandle, run_worker, worker_env

_HTTP_SERVER = r"""
import functools, sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # ours logs nothing either
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default listen backlog of 5 drops connections under load

server = Server(("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@dataclass
class Throughput:
    """Requests per second of each server under the same load, and their ratio."""

    ours: float
    http_server: float
    ratio: float
    concurrency: int
    seconds_each: float
    requests_ours: int
    requests_http_server: int
    failures: int
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Accuracy:
    """How much longer than the configured latency requests took, seen from the client."""

    latency: float
    in_flight: int
    samples: int
    median_excess_ms: float
    p90_excess_ms: float
    failures: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_bodies(server: ServerHandle, folder: Path) -> list[str]:
    """Save the server's 151 bodies as ``folder/pokemon/{id}.json``; return their paths."""
    (folder / "pokemon").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(1, MAX_REQUESTS + 1):
        with urllib.request.urlopen(f"{server.base_url}/pokemon/{i}", timeout=10) as resp:
            (folder / "pokemon" / f"{i}.json").write_bytes(resp.read())
        paths.append(f"/pokemon/{i}.json")
    return paths


def compare_throughput(
    server: ServerHandle, seconds: float = 2.0, n: int = 50, slices: int = 4,
) -> Throughput:
    """Load ``server`` (latency 0) and an ``http.server`` alternately; requests/s of each."""
    with tempfile.TemporaryDirectory(prefix="bench-bodies-") as tmp:
        paths = write_bodies(server, Path(tmp))
        proc = subprocess.Popen(
            [sys.executable, "-c", _HTTP_SERVER, tmp], stdout=subprocess.PIPE, text=True,
            env=worker_env(),
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            theirs_urls = [f"http://127.0.0.1:{port}{p}" for p in paths]
            ours_urls = [f"{server.base_url}/pokemon/{i}" for i in range(1, MAX_REQUESTS + 1)]
            done = {"ours": 0, "theirs": 0}
            spent = {"ours": 0.0, "theirs": 0.0}
            failures = 0
            errors: dict[str, int] = {}
            slice_seconds = seconds / slices
            for _ in range(slices):
                for who, urls in (("ours", ours_urls), ("theirs", theirs_urls)):
                    (answer,) = run_worker("load", {
                        "urls": urls, "n": n, "duration": slice_seconds, "warmup": 0.2,
                    })
                    done[who] += answer["ok"]
                    spent[who] += answer["seconds"]
                    failures += answer["failed"]
                    for kind, count in answer["errors"].items():
                        errors[f"{who}: {kind}"] = errors.get(f"{who}: {kind}", 0) + count
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
    ours = done["ours"] / spent["ours"]
    theirs = done["theirs"] / spent["theirs"]
    return Throughput(
        ours=ours, http_server=theirs, ratio=ours / theirs if theirs else float("inf"),
        concurrency=n, seconds_each=seconds, requests_ours=done["ours"],
        requests_http_server=done["theirs"], failures=failures, errors=errors,
    )


def latency_accuracy(server: ServerHandle, latency: float, in_flight: int = MAX_REQUESTS,
                     runs: int = 3) -> Accuracy:
    """Bursts of ``in_flight`` requests on warm connections; the excess over ``latency``."""
    (answer,) = run_worker("accuracy", {
        "base_url": server.base_url, "latency": latency, "requests": in_flight, "runs": runs,
    })
    excess = sorted(answer["excess"])
    if not excess:
        raise RuntimeError("every request of the accuracy measurement failed")
    return Accuracy(
        latency=latency, in_flight=in_flight, samples=len(excess),
        median_excess_ms=statistics.median(excess) * 1000,
        p90_excess_ms=excess[int(0.9 * (len(excess) - 1))] * 1000,
        failures=answer["failures"],
    )
