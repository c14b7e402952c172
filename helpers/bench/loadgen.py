"""The server benchmark's load generator: ``wrk`` where it is installed, else aiohttp in a process.

Both keep a fixed number of connections busy for a fixed time, each connection sending its
next request as soon as its answer is complete (a closed loop: the number of connections *is*
the number of requests in flight, as with a class of students each running ``gather`` with a
semaphore). Both report requests completed, the 50th and 99th percentile of the time from
sending a request to having its whole answer, and every error by kind. Timeouts are counted
after :data:`TIMEOUT` seconds by both.

``wrk`` is C and costs the machine little per request, so it measures the server; the aiohttp
client spends tens of microseconds of Python per request, so at high rates it measures itself
too. The report always says which one ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

TIMEOUT = 2.0
"""Seconds after which a request counts as a timeout (wrk's default)."""

# wrk's Lua hook: print one JSON line with exact percentiles and every error counter.
_WRK_DONE = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f,'
    .. ' "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
"""


@dataclass
class LoadResult:
    """What one load run measured."""

    generator: str
    connections: int
    seconds: float
    requests: int
    rate: float
    p50_ms: float | None
    p99_ms: float | None
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_count": self.error_count}


def which_generator(prefer: str = "auto") -> str:
    """``"wrk"`` or ``"aiohttp"``: ``auto`` takes wrk when it is on PATH."""
    if prefer not in ("auto", "wrk", "aiohttp"):
        raise ValueError(f"load generator must be auto, wrk or aiohttp, got {prefer!r}")
    if prefer == "wrk" and shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk); "
                           "use --load-generator aiohttp")
    if prefer == "auto":
        return "wrk" if shutil.which("wrk") else "aiohttp"
    return prefer


def describe(generator: str) -> str:
    """A label for the report: the tool and its version."""
    if generator == "wrk":
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
        version = out.split()[1] if len(out.split()) > 1 else "?"
        return f"wrk {version} (1 thread)"
    import aiohttp

    return f"aiohttp {aiohttp.__version__} client in a separate process (no wrk on PATH)"


class LoadRun:
    """One load run in a child process; :meth:`result` waits for it and parses its answer.

    Started in the background so the caller can sample the server (its memory) meanwhile.
    """

    def __init__(self, generator: str, url: str, connections: int, seconds: float) -> None:
        if connections < 1 or seconds <= 0:
            raise ValueError("connections must be at least 1 and seconds positive")
        self.generator, self.url = generator, url
        self.connections, self.seconds = connections, seconds
        self._tmp = tempfile.TemporaryDirectory(prefix="loadgen-")
        if generator == "wrk":
            script = os.path.join(self._tmp.name, "done.lua")
            with open(script, "w") as f:
                f.write(_WRK_DONE)
            # wrk takes whole seconds only.
            self.seconds = seconds = max(1, round(seconds))
            args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
                    f"--timeout={TIMEOUT:g}s", "-s", script, url]
            self._proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
        else:
            import sys

            from .runner import worker_env

            spec = {"url": url, "n": connections, "duration": seconds, "timeout": TIMEOUT}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "helpers.bench.worker", "latency-load"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=worker_env(),
            )
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(spec))
            self._proc.stdin.close()
            self._proc.stdin = None  # sent: communicate() has nothing more to write

    def running(self) -> bool:
        return self._proc.poll() is None

    def result(self) -> LoadResult:
        try:
            out, err = self._proc.communicate(timeout=self.seconds + 60)
        finally:
            self._tmp.cleanup()
        if self._proc.returncode != 0:
            raise RuntimeError(f"{self.generator} failed (exit {self._proc.returncode}):"
                               f" {err}{out[-2000:]}")
        if self.generator == "wrk":
            return _parse_wrk(out, self.connections)
        answer = json.loads(out.strip().splitlines()[-1])
        return LoadResult(
            generator="aiohttp", connections=self.connections, seconds=answer["seconds"],
            requests=answer["requests"], rate=answer["requests"] / answer["seconds"],
            p50_ms=answer["p50_ms"], p99_ms=answer["p99_ms"], errors=answer["errors"],
        )


def run_load(generator: str, url: str, connections: int, seconds: float) -> LoadResult:
    """Load ``url`` with ``connections`` requests in flight for ``seconds``; wait for the result."""
    return LoadRun(generator, url, connections, seconds).result()


def _parse_wrk(out: str, connections: int) -> LoadResult:
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    d = json.loads(line.removeprefix("WRKJSON "))
    seconds = d["duration_us"] / 1e6
    # wrk counts a non-2xx answer in "status"; the others are socket errors.
    errors = {k: d[k] for k in ("connect", "read", "write", "timeout", "status") if d[k]}
    if "status" in errors:
        errors["non-2xx"] = errors.pop("status")
    done = d["requests"]
    return LoadResult(
        generator="wrk", connections=connections, seconds=seconds, requests=done,
        rate=done / seconds if seconds else 0.0,
        p50_ms=d["p50_us"] / 1000 if done else None, p99_ms=d["p99_us"] / 1000 if done else None,
        errors=errors,
    )
