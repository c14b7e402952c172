"""``make bench-server``: the course server side by side with aiohttp's own ceiling.

Why a ceiling and not a number: on a shared 2-core machine requests per second vary from one
minute to the next, so a bare number says little. Next to it, in the same run, with the same
load generator, is a minimal aiohttp.web app on the same event loop returning the same body
(:mod:`.ceiling`); the ratio between the two is what this benchmark reports, and what the
targets are about. Each measurement alternates between the two servers, so a burst of load
from elsewhere hits both alike.

The phases: throughput at zero latency (``throughput_connections`` in flight, alternating
slices); then, at 50 ms, the median and 99th percentile of the excess over the latency and the
errors at 150, 500 and 1,500 in flight (one worker, and ``--workers 2`` where the server has
it); the showdown's accuracy client (151 in flight on raw sockets); and last a soak at 1,000
in flight, sampling the server's resident memory (RSS, every process of it) once a second.
Everything runs on 127.0.0.1 and every load run is bounded in time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .loadgen import LoadResult, LoadRun, describe, run_load, which_generator

PATH = "/pokemon/25"
"""The URL every load run requests (1,764 bytes of JSON), as in the issue's measurements."""


@dataclass(frozen=True)
class ServerPerfConfig:
    """What ``make bench-server`` measures; the defaults are the issue's."""

    latency: float = 0.05
    in_flight: tuple[int, ...] = (150, 500, 1500)
    multi_workers: int = 2
    """Workers of the second course server measured at every level (0: not measured)."""
    load_seconds: float = 5.0
    throughput_seconds: float = 6.0
    throughput_connections: int = 50
    slices: int = 3
    accuracy_in_flight: int = 151
    soak_seconds: float = 60.0
    soak_in_flight: int = 1000
    generator: str = "auto"
    out: Path = Path("results")

    def __post_init__(self) -> None:
        if not self.soak_seconds > 0 or not self.load_seconds > 0:
            raise ValueError("soak and load seconds must be positive")
        if self.soak_seconds > 3600 or self.load_seconds > 600:
            raise ValueError("keep runs bounded: at most 3600 s of soak and 600 s per load run")
        if any(n < 1 or n > 5000 for n in (*self.in_flight, self.soak_in_flight)):
            raise ValueError("in flight must be from 1 to 5000")
        which_generator(self.generator)  # fails early, with the reason


@dataclass
class Level:
    """One level of requests in flight on one server."""

    server: str
    in_flight: int
    load: LoadResult
    latency: float
    cpu_us: float | None = None
    """Server CPU time (every process of it) per answered request, in microseconds."""

    @property
    def p50_excess_ms(self) -> float | None:
        return None if self.load.p50_ms is None else self.load.p50_ms - self.latency * 1000

    @property
    def p99_excess_ms(self) -> float | None:
        return None if self.load.p99_ms is None else self.load.p99_ms - self.latency * 1000

    def as_dict(self) -> dict[str, Any]:
        return {"server": self.server, "in_flight": self.in_flight, "latency": self.latency,
                "cpu_us_per_request": self.cpu_us,
                "p50_excess_ms": self.p50_excess_ms, "p99_excess_ms": self.p99_excess_ms,
                "load": self.load.as_dict()}


@dataclass
class Soak:
    in_flight: int
    seconds: float
    rss_idle_mb: float | None
    rss_start_mb: float | None
    rss_end_mb: float | None
    rss_peak_mb: float | None
    samples: list[tuple[float, float]] = field(default_factory=list)
    load: LoadResult | None = None

    @property
    def change(self) -> float | None:
        if not self.rss_start_mb or self.rss_end_mb is None:
            return None
        return self.rss_end_mb / self.rss_start_mb - 1

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["load"] = self.load.as_dict() if self.load else None
        d["change"] = self.change
        return d


@dataclass
class Target:
    name: str
    met: bool | None
    detail: str

    def line(self) -> str:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[self.met]
        return f"{mark} {self.name}: {self.detail}"


# --------------------------------------------------------------------------- servers


@contextmanager
def course_server(latency: float, workers: int = 1) -> Iterator[Any]:
    """The course server as notebooks start it (``--managed``), stopped on exit."""
    from ..launcher import start_local_api

    options: dict[str, Any] = {"latency": latency}
    if workers != 1:
        options["workers"] = workers
    with start_local_api(**options) as api:
        yield api


@dataclass
class _Ceiling:
    base_url: str
    process: subprocess.Popen[bytes]


@contextmanager
def ceiling_server(body: bytes, latency: float) -> Iterator[_Ceiling]:
    """The minimal aiohttp app (:mod:`.ceiling`) serving ``body``, stopped on exit."""
    from ..launcher import _read_first_line
    from .runner import worker_env

    with tempfile.NamedTemporaryFile(prefix="ceiling-body-", suffix=".json") as f:
        f.write(body)
        f.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "helpers.bench.ceiling", "--latency", repr(latency),
             "--body-file", f.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=worker_env(),
        )
        try:
            base = _read_first_line(proc, 15)
            if not base.startswith("http"):
                raise RuntimeError("the ceiling app did not start")
            yield _Ceiling(base, proc)
        finally:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


def _tree(pid: int) -> list[int] | None:
    """``pid`` and all its descendants (Linux ``/proc``; None elsewhere)."""
    if not os.path.exists(f"/proc/{pid}/stat"):
        return None
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` and all its descendants, in MB (Linux; else None)."""
    pids = _tree(pid)
    if pids is None:
        return None
    total_kb = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) used so far by ``pid`` and its descendants (Linux; else None).

    Unlike requests per second, CPU time per request hardly depends on what else the shared
    machine is doing: it is the cost of an answer, not how fast the answers came.
    """
    pids = _tree(pid)
    if pids is None:
        return None
    ticks = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- phases


def throughput(config: ServerPerfConfig, generator: str, say: Callable[[str], None]
               ) -> tuple[LoadResult, LoadResult, bytes, dict[str, float | None]]:
    """Zero latency: ours and the ceiling, alternating slices; the totals of each, and each
    server's CPU time per request in microseconds."""
    with ExitStack() as stack:
        ours = stack.enter_context(course_server(0.0))
        body = fetch(ours.base_url + PATH)
        ceiling = stack.enter_context(ceiling_server(body, 0.0))
        if fetch(ceiling.base_url + PATH) != body:
            raise RuntimeError("the ceiling app does not serve the course server's body")
        n, each = config.throughput_connections, config.throughput_seconds / config.slices
        totals: dict[str, list[LoadResult]] = {"course": [], "ceiling": []}
        cpu: dict[str, float | None] = {"course": 0.0, "ceiling": 0.0}
        procs = {"course": (ours.base_url, ours.process.pid),
                 "ceiling": (ceiling.base_url, ceiling.process.pid)}
        for url, _ in procs.values():
            run_load(generator, url + PATH, n, 1.0)  # warm-up, not counted
        for i in range(config.slices):
            say(f"throughput slice {i + 1}/{config.slices}: {n} in flight, {each:g} s each")
            for who, (url, pid) in procs.items():
                before = cpu_seconds(pid)
                totals[who].append(run_load(generator, url + PATH, n, each))
                after = cpu_seconds(pid)
                spent = cpu[who]
                cpu[who] = (None if before is None or after is None or spent is None
                            else spent + after - before)
    course, top = _merge(totals["course"]), _merge(totals["ceiling"])
    per_request = {
        "course": None if cpu["course"] is None else cpu["course"] / course.requests * 1e6,
        "ceiling": None if cpu["ceiling"] is None else cpu["ceiling"] / top.requests * 1e6,
    }
    return course, top, body, per_request


def _merge(runs: list[LoadResult]) -> LoadResult:
    """Slices of one server summed: rates from totals; percentiles: the slices' median."""
    seconds = sum(r.seconds for r in runs)
    done = sum(r.requests for r in runs)
    errors: dict[str, int] = {}
    for r in runs:
        for k, v in r.errors.items():
            errors[k] = errors.get(k, 0) + v
    p50 = [r.p50_ms for r in runs if r.p50_ms is not None]
    p99 = [r.p99_ms for r in runs if r.p99_ms is not None]
    return LoadResult(
        generator=runs[0].generator, connections=runs[0].connections, seconds=seconds,
        requests=done, rate=done / seconds if seconds else 0.0,
        p50_ms=statistics.median(p50) if p50 else None,
        p99_ms=statistics.median(p99) if p99 else None, errors=errors,
    )


def levels(config: ServerPerfConfig, body: bytes, generator: str, say: Callable[[str], None]
           ) -> tuple[list[Level], dict[str, Any]]:
    """At ``latency``: every level of in flight on each server; and the accuracy client."""
    from .runner import run_worker

    out: list[Level] = []
    accuracy: dict[str, Any] = {}
    with ExitStack() as stack:
        ours = stack.enter_context(course_server(config.latency))
        ceiling = stack.enter_context(ceiling_server(body, config.latency))
        procs = {"course": (ours.base_url, ours.process.pid),
                 "ceiling": (ceiling.base_url, ceiling.process.pid)}
        if config.multi_workers > 1:
            multi = stack.enter_context(course_server(config.latency, config.multi_workers))
            procs[f"course, {config.multi_workers} workers"] = (multi.base_url, multi.process.pid)
        servers = {name: url for name, (url, _) in procs.items()}
        for url in servers.values():
            run_load(generator, url + PATH, max(config.in_flight), 1.0)  # warm-up
        for n in config.in_flight:
            for name, (url, pid) in procs.items():
                say(f"{n} in flight at {config.latency * 1000:g} ms: {name}")
                before = cpu_seconds(pid)
                result = run_load(generator, url + PATH, n, config.load_seconds)
                after = cpu_seconds(pid)
                cpu = (None if before is None or after is None or not result.requests
                       else (after - before) / result.requests * 1e6)
                out.append(Level(name, n, result, config.latency, cpu))
        for name in ("course", "ceiling"):
            say(f"accuracy client, {config.accuracy_in_flight} in flight: {name}")
            (answer,) = run_worker("accuracy", {
                "base_url": servers[name], "latency": config.latency,
                "requests": config.accuracy_in_flight, "runs": 3,
            })
            excess = sorted(answer["excess"])
            accuracy[name] = {
                "in_flight": config.accuracy_in_flight, "samples": len(excess),
                "failures": answer["failures"],
                "median_excess_ms": statistics.median(excess) * 1000 if excess else None,
                "p90_excess_ms": excess[int(0.9 * (len(excess) - 1))] * 1000 if excess else None,
            }
    return out, accuracy


def soak(config: ServerPerfConfig, generator: str, say: Callable[[str], None]) -> Soak:
    """``soak_in_flight`` requests in flight for ``soak_seconds``; RSS sampled every second."""
    with course_server(config.latency) as ours:
        pid = ours.process.pid
        idle = rss_mb(pid)
        say(f"soak: {config.soak_in_flight} in flight for {config.soak_seconds:g} s")
        run = LoadRun(generator, ours.base_url + PATH, config.soak_in_flight, config.soak_seconds)
        t0 = time.monotonic()
        samples: list[tuple[float, float]] = []
        while run.running() and time.monotonic() - t0 < config.soak_seconds + 30:
            value = rss_mb(pid)
            if value is not None:
                samples.append((round(time.monotonic() - t0, 2), round(value, 2)))
            time.sleep(1.0)
        load = run.result()
    # "Start" is once every connection is open and answered (a few seconds in): memory grows
    # while 1,000 connections get their buffers, which is set-up, not a leak.
    settle = min(5.0, config.soak_seconds / 5)
    loaded = [(t, v) for t, v in samples if t >= settle]
    return Soak(
        in_flight=config.soak_in_flight, seconds=config.soak_seconds, rss_idle_mb=idle,
        rss_start_mb=loaded[0][1] if loaded else None,
        rss_end_mb=loaded[-1][1] if loaded else None,
        rss_peak_mb=max(v for _, v in samples) if samples else None, samples=samples, load=load,
    )


# --------------------------------------------------------------------------- report


def evaluate(ratio: float, lv: list[Level], accuracy: dict[str, Any], soaked: Soak,
             multi: str | None) -> list[Target]:
    def level(server: str, n: int) -> Level | None:
        return next((x for x in lv if x.server == server and x.in_flight == n), None)

    targets = [Target(
        "one worker, zero latency: throughput >= 70 % of the minimal aiohttp app's",
        ratio >= 0.70, f"{ratio:.0%}")]
    one = level("course", 500)
    if one is not None:
        ok = (one.p50_excess_ms is not None and one.p50_excess_ms <= 3
              and one.p99_excess_ms is not None and one.p99_excess_ms <= 20
              and one.load.error_count == 0)
        targets.append(Target(
            "one worker, 500 in flight at 50 ms: median excess <= 3 ms, p99 <= 20 ms, no errors",
            ok, f"median {_ms(one.p50_excess_ms)}, p99 {_ms(one.p99_excess_ms)},"
                f" {one.load.error_count} errors"))
    many = level(multi, 1500) if multi else None
    if many is not None:
        ok = (many.load.error_count == 0 and many.p50_excess_ms is not None
              and many.p50_excess_ms <= 20)
        targets.append(Target(
            f"{multi}, 1,500 in flight at 50 ms: no errors or timeouts, median excess <= 20 ms",
            ok, f"median {_ms(many.p50_excess_ms)}, {many.load.error_count} errors"
                f" {many.load.errors or ''}".rstrip()))
    acc = accuracy.get("course")
    if acc:
        med = acc["median_excess_ms"]
        targets.append(Target(
            f"{acc['in_flight']} in flight at 50 ms, the showdown's accuracy client:"
            " median excess <= 2 ms",
            med is not None and med <= 2 and acc["failures"] == 0,
            f"median {_ms(med)} (90th percentile {_ms(acc['p90_excess_ms'])},"
            f" {acc['failures']} failures)"))
    change = soaked.change
    targets.append(Target(
        f"RSS flat (within 10 %) across the soak ({soaked.seconds:g} s,"
        f" {soaked.in_flight} in flight)",
        None if change is None else abs(change) <= 0.10,
        "not measurable here" if change is None else
        f"{soaked.rss_start_mb:.1f} MB -> {soaked.rss_end_mb:.1f} MB ({change:+.1%})"))
    return targets


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def table(lv: list[Level]) -> str:
    lines = ["| server | in flight | median excess | p99 excess | errors | req/s |"
             " CPU per request |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for x in lv:
        errors = str(x.load.error_count) + (
            " (" + ", ".join(f"{k} {v}" for k, v in x.load.errors.items()) + ")"
            if x.load.errors else "")
        lines.append(f"| {x.server} | {x.in_flight:,} | {_ms(x.p50_excess_ms)} |"
                     f" {_ms(x.p99_excess_ms)} | {errors} | {x.load.rate:,.0f} |"
                     f" {'n/a' if x.cpu_us is None else f'{x.cpu_us:.0f} µs'} |")
    return "\n".join(lines)


def run(config: ServerPerfConfig) -> int:
    """Every phase, the report on standard output, and ``server-bench.json`` in ``out``."""
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {message}", flush=True)

    generator = which_generator(config.generator)
    label = describe(generator)
    say(f"load generator: {label}; {os.cpu_count()} cores; os.getloadavg()"
        f" = {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ours, ceiling, body, cpu = throughput(config, generator, say)
    ratio = ours.rate / ceiling.rate if ceiling.rate else float("nan")
    lv, accuracy = levels(config, body, generator, say)
    soaked = soak(config, generator, say)
    multi = f"course, {config.multi_workers} workers" if config.multi_workers > 1 else None
    targets = evaluate(ratio, lv, accuracy, soaked, multi)
    elapsed = time.perf_counter() - started

    print()
    print(f"Load generator: {label}. Body: {len(body):,} bytes ({PATH}). Loopback only.")
    print(f"Zero latency, {config.throughput_connections} in flight, {config.slices} alternating"
          f" slices: course server {ours.rate:,.0f} req/s, minimal aiohttp app"
          f" {ceiling.rate:,.0f} req/s: {ratio:.0%} of the ceiling"
          f" (errors: {ours.error_count} and {ceiling.error_count}).")
    if cpu["course"] is not None and cpu["ceiling"] is not None:
        print(f"CPU time per request (all of each server's processes; hardly affected by a"
              f" busy machine): course {cpu['course']:.0f} µs, minimal aiohttp app"
              f" {cpu['ceiling']:.0f} µs: the course server costs"
              f" {cpu['course'] / cpu['ceiling']:.2f}x the ceiling's CPU per answer.")
    print()
    print(f"At {config.latency * 1000:g} ms, {config.load_seconds:g} s per row (excess ="
          " time to the whole answer minus the latency):")
    print(table(lv))
    print()
    for name, acc in accuracy.items():
        print(f"Accuracy client ({acc['in_flight']} in flight, raw sockets, time to first"
              f" byte), {name}: median excess {_ms(acc['median_excess_ms'])}, 90th percentile"
              f" {_ms(acc['p90_excess_ms'])}, {acc['failures']} failures")
    assert soaked.load is not None
    print(f"Soak, {soaked.in_flight} in flight for {soaked.seconds:g} s"
          f" ({soaked.load.rate:,.0f} req/s, {soaked.load.error_count} errors): RSS idle"
          f" {_mb(soaked.rss_idle_mb)}, start {_mb(soaked.rss_start_mb)}, end"
          f" {_mb(soaked.rss_end_mb)}, peak {_mb(soaked.rss_peak_mb)}")
    print()
    print("Targets (measured here, reported, never asserted):")
    for t in targets:
        print("  " + t.line())
    print()
    config.out.mkdir(parents=True, exist_ok=True)
    path = config.out / "server-bench.json"
    path.write_text(json.dumps({
        "meta": {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                 "python": platform.python_version(), "platform": platform.platform(),
                 "cpu_count": os.cpu_count(), "loadavg": os.getloadavg(),
                 "generator": label, "elapsed_seconds": elapsed,
                 "config": {k: (str(v) if isinstance(v, Path) else v)
                            for k, v in asdict(config).items()}},
        "throughput": {"course": ours.as_dict(), "ceiling": ceiling.as_dict(), "ratio": ratio,
                       "cpu_us_per_request": cpu},
        "levels": [x.as_dict() for x in lv], "accuracy": accuracy,
        "soak": soaked.as_dict(), "targets": [asdict(t) for t in targets],
    }, indent=1))
    print(f"Wrote {path} in {elapsed:.0f} s.")
    return 0


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} MB"
