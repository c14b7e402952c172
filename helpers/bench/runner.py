"""Orchestration: servers per latency, one worker process per strategy, rows of results.

The parent process never runs an event loop and never imports an HTTP client: it starts the
local servers (one per latency, each in its own process), hands each strategy's jobs to a
fresh ``python -m helpers.bench.worker STRATEGY`` and turns the JSON it prints into
:class:`Row` objects. So the same code runs from ``make bench`` and from inside a notebook,
whose kernel already has a running loop.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .catalog import STRATEGIES
from .theory import efficiency, median, rate, runs_for, speedup, theoretical_time

MAX_REQUESTS = 151
"""The dataset has 151 Pokémon, so at most 151 distinct URLs."""

DEFAULT_LATENCIES = (0.0, 0.02, 0.1)
DEFAULT_CONCURRENCY = (10, 50)
DEFAULT_REPEAT = 3

Progress = Callable[[str], None]


class ServerHandle(Protocol):
    """What the runner needs of a server: :class:`helpers.launcher.LocalAPI` has it."""

    base_url: str
    origin: str


class BenchConfigError(ValueError):
    """An option out of range; the message says which and why."""


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. Validated on creation, so a bad option fails before any server starts."""

    strategies: tuple[str, ...] = tuple(STRATEGIES)
    latencies: tuple[float, ...] = DEFAULT_LATENCIES
    concurrency: tuple[int, ...] = DEFAULT_CONCURRENCY
    repeat: int = DEFAULT_REPEAT
    requests: int = MAX_REQUESTS
    out: Path = Path("results")
    server_seconds: float = 2.0
    """Seconds of load on each server in the throughput comparison (split into slices)."""
    targets: bool = True
    """Also measure the fixed configurations behind the targets (and the server benchmark)."""

    def __post_init__(self) -> None:
        if not self.strategies:
            raise BenchConfigError("choose at least one strategy")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise BenchConfigError(
                f"unknown strategy {', '.join(map(repr, unknown))}; choose from "
                + ", ".join(STRATEGIES)
            )
        if len(set(self.strategies)) != len(self.strategies):
            raise BenchConfigError("a strategy is listed twice")
        if not self.latencies:
            raise BenchConfigError("choose at least one latency")
        for lat in self.latencies:
            if isinstance(lat, bool) or not isinstance(lat, int | float) or not math.isfinite(lat):
                raise BenchConfigError(f"latency must be a finite number of seconds, got {lat!r}")
            if not 0 <= lat <= 2:
                raise BenchConfigError(f"latency must be from 0 to 2 seconds, got {lat!r}")
        if not self.concurrency:
            raise BenchConfigError("choose at least one concurrency")
        for n in self.concurrency:
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
                raise BenchConfigError(f"concurrency must be an integer from 1 to 1000, got {n!r}")
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 1:
            raise BenchConfigError(f"repeat must be an integer of at least 1, got {self.repeat!r}")
        if (isinstance(self.requests, bool) or not isinstance(self.requests, int)
                or not 1 <= self.requests <= MAX_REQUESTS):
            raise BenchConfigError(
                f"requests must be an integer from 1 to {MAX_REQUESTS} (the dataset has"
                f" {MAX_REQUESTS} Pokémon), got {self.requests!r}"
            )
        if not self.server_seconds > 0:
            raise BenchConfigError(f"server_seconds must be positive, got {self.server_seconds}")


@dataclass(frozen=True)
class Job:
    """One row to measure: a strategy at one latency and concurrency, ``runs`` times."""

    strategy: str
    latency: float
    n: int
    """The concurrency the strategy really uses (1 for sequential, N for unbounded)."""
    requests: int
    runs: int
    purpose: str = "grid"
    """"grid" for the table, "target" for the fixed configurations behind the targets."""

    @property
    def id(self) -> str:
        return f"{self.purpose}|{self.strategy}|{self.latency!r}|{self.n}"

    @property
    def theory(self) -> float:
        return theoretical_time(self.requests, self.n, self.latency)


@dataclass
class Row:
    """The measured result of one :class:`Job`, with everything the table and files show."""

    strategy: str
    label: str
    latency: float
    n: int
    n_label: str
    requests: int
    runs: int
    times: list[float]
    median: float
    rate: float
    theory: float
    efficiency: float | None
    speedup: float | None
    failures: int
    complete: bool
    connections_opened: int | None
    """New TCP connections the server accepted during a timed run (median of runs)."""
    peak_in_flight: int | None
    """The most requests the server held at once during any timed run."""
    errors: dict[str, int] = field(default_factory=dict)
    purpose: str = "grid"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(config: BenchConfig) -> list[Job]:
    """The grid's jobs, in table order: latency, then strategy, then concurrency."""
    jobs: list[Job] = []
    for latency in config.latencies:
        for name in config.strategies:
            spec = STRATEGIES[name]
            ns = sorted({spec.concurrency(n, config.requests) for n in config.concurrency})
            for n in ns:
                theory = theoretical_time(config.requests, n, latency)
                jobs.append(Job(name, latency, n, config.requests,
                                runs_for(theory, config.repeat)))
    return jobs


def target_jobs(runs: int) -> list[Job]:
    """The fixed configurations of the targets: always 151 requests, whatever the grid is."""
    return [
        Job("aiohttp", 0.05, 10, MAX_REQUESTS, runs, "target"),
        Job("aiohttp", 0.05, 50, MAX_REQUESTS, runs, "target"),
        Job("aiohttp-unbounded", 0.1, MAX_REQUESTS, MAX_REQUESTS, runs, "target"),
    ]


def expected_names(n_requests: int = MAX_REQUESTS) -> list[str]:
    """The names /pokemon/1..n must return, in order, from the course's own dataset."""
    from ..server.pokedex import load_pokedex

    names = [p.name for p in sorted(load_pokedex(), key=lambda p: p.id)]
    return names[:n_requests]


def worker_env() -> dict[str, str]:
    """The environment for workers: ``helpers`` importable, wherever the caller's cwd is."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.pop("POKEAPI_BASE_URL", None)  # workers are given their URLs; never the real API
    return env


def run_worker(mode: str, spec: Mapping[str, Any], timeout: float = 600) -> list[dict[str, Any]]:
    """Run ``python -m helpers.bench.worker MODE`` on ``spec``; its JSON answers, one per line.

    A worker that fails raises with its standard error, so a broken strategy is reported,
    not left out of the table.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "helpers.bench.worker", mode],
        input=json.dumps(spec), capture_output=True, text=True, timeout=timeout, env=worker_env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {mode!r} failed (exit {proc.returncode}):\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def measure(
    jobs: Sequence[Job], servers: Mapping[float, ServerHandle], progress: Progress | None = None,
) -> list[Row]:
    """Run ``jobs``: one worker process per strategy, strategies one after another.

    Workers never overlap, so no strategy competes with another for the two cores. Rows come
    back in the order of ``jobs``.
    """
    expected = expected_names(max((j.requests for j in jobs), default=1))
    by_strategy: dict[str, list[Job]] = {}
    for job in jobs:
        by_strategy.setdefault(job.strategy, []).append(job)
    answers: dict[str, dict[str, Any]] = {}
    for strategy, group in by_strategy.items():
        if progress:
            total = sum(j.runs for j in group)
            progress(f"{strategy}: {len(group)} configuration(s), {total} timed run(s)")
        spec = {
            "expected": expected,
            "jobs": [
                {"id": j.id, "base_url": servers[j.latency].base_url,
                 "origin": servers[j.latency].origin, "n": j.n, "requests": j.requests,
                 "runs": j.runs}
                for j in group
            ],
        }
        for answer in run_worker(strategy, spec):
            answers[answer["id"]] = answer
    rows = [_row(job, answers[job.id]["runs"]) for job in jobs]
    _add_speedups(rows)
    return rows


def _row(job: Job, runs: list[dict[str, Any]]) -> Row:
    spec = STRATEGIES[job.strategy]
    times = [r["seconds"] for r in runs]
    med = median(times)
    errors: dict[str, int] = {}
    for r in runs:
        for kind, count in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    conns = [r["connections_opened"] for r in runs if r["connections_opened"] is not None]
    peaks = [r["peak_in_flight"] for r in runs if r["peak_in_flight"] is not None]
    if spec.sequential:
        n_label = "1"
    elif not spec.bounded:
        n_label = f"all ({job.n})"
    else:
        n_label = str(job.n)
    return Row(
        strategy=job.strategy, label=spec.label, latency=job.latency, n=job.n, n_label=n_label,
        requests=job.requests, runs=len(runs), times=times, median=med,
        rate=rate(job.requests, med), theory=job.theory,
        efficiency=efficiency(job.theory, med, job.latency), speedup=None,
        failures=sum(r["failures"] for r in runs),
        complete=all(r["failures"] == 0 and r["results"] == job.requests for r in runs),
        connections_opened=int(median(conns)) if conns else None,
        peak_in_flight=max(peaks) if peaks else None,
        errors=errors, purpose=job.purpose,
    )


def _add_speedups(rows: Iterable[Row]) -> None:
    """Speedup against sequential ``requests.get`` at the same latency, when it was measured."""
    rows = list(rows)
    baseline = {(r.latency, r.requests): r.median for r in rows if r.strategy == "sequential"}
    for r in rows:
        r.speedup = speedup(baseline.get((r.latency, r.requests)), r.median)


def start_servers(latencies: Iterable[float], stack: ExitStack) -> dict[float, ServerHandle]:
    """One local server per latency, stopped when ``stack`` closes."""
    from ..launcher import start_local_api

    servers: dict[float, ServerHandle] = {}
    for latency in sorted(set(latencies)):
        servers[latency] = stack.enter_context(start_local_api(latency=latency))
    return servers


def run_grid(
    config: BenchConfig, servers: Mapping[float, ServerHandle] | None = None,
    progress: Progress | None = None,
) -> list[Row]:
    """Measure the grid of ``config`` (no targets, no server benchmark): the notebook's entry.

    ``servers`` maps each latency to a running server; missing ones are started and stopped
    here. The rows carry ``complete`` and ``failures``: check them before trusting a time.
    """
    jobs = plan(config)
    with ExitStack() as stack:
        have = dict(servers or {})
        missing = [lat for lat in config.latencies if lat not in have]
        have.update(start_servers(missing, stack))
        return measure(jobs, have, progress)
