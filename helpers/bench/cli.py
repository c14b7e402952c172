"""``python -m helpers.bench`` (``make bench``): the options, the run, the report.

With the defaults it measures 7 strategies at 3 latencies and 2 concurrencies (3 runs each,
fewer for the slow sequential rows: see :func:`helpers.bench.theory.runs_for`), the targets'
fixed configurations (5 runs each), the server against ``http.server`` and its latency
accuracy, in about two minutes on two cores. ``--quick`` is a smoke test of the whole
pipeline in seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from .catalog import STRATEGIES
from .runner import (
    DEFAULT_CONCURRENCY,
    DEFAULT_LATENCIES,
    DEFAULT_REPEAT,
    MAX_REQUESTS,
    BenchConfig,
    BenchConfigError,
    measure,
    plan,
    start_servers,
    target_jobs,
)

QUICK = {"requests": 20, "latencies": (0.01,), "concurrency": (5,), "repeat": 1,
         "server_seconds": 0.4}
TARGET_LATENCIES = (0.05, 0.1)


def _number_list(kind: type, text: str) -> tuple:
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = kind(part)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(
                f"{part!r} is not {what} (give a comma-separated list, e.g. 10,50)"
            ) from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{part!r} is not a finite number")
        values.append(value)
    return tuple(values)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m helpers.bench",
        description=(
            "Every client strategy side by side against the local API: median time, requests"
            " per second, speedup over sequential requests.get and efficiency against the"
            " theory ceil(N/n) x latency; then the server's throughput against Python's"
            " http.server and its latency accuracy, and the targets as PASS/MISS. Each"
            " strategy runs in a process of its own. Writes bench.csv, bench.json and"
            " bench.png to --out."
        ),
        epilog="strategies:\n" + "\n".join(f"  {s.name:<18} {s.description}"
                                            for s in STRATEGIES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--strategies", type=lambda t: tuple(s.strip() for s in t.split(",")),
                   default=None, metavar="A,B",
                   help="comma-separated strategies (default: all " f"{len(STRATEGIES)})")
    p.add_argument("--latencies", type=lambda t: _number_list(float, t), default=None,
                   metavar="S,S", help="simulated latencies in seconds (default: "
                   + ",".join(f"{x:g}" for x in DEFAULT_LATENCIES) + ")")
    p.add_argument("--concurrency", type=lambda t: _number_list(int, t), default=None,
                   metavar="N,N", help="concurrency limits n for the bounded strategies"
                   " (default: " + ",".join(map(str, DEFAULT_CONCURRENCY)) + ")")
    p.add_argument("--repeat", type=int, default=None, metavar="K",
                   help=f"timed runs per row, the median is kept (default: {DEFAULT_REPEAT};"
                   " rows slower than 8 s of theory per run get fewer, at least 1)")
    p.add_argument("--requests", type=int, default=None, metavar="N",
                   help=f"requests per run, /pokemon/1..N (default: {MAX_REQUESTS}, the most)")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for bench.csv, bench.json and bench.png (default: results)")
    server = p.add_argument_group(
        "server benchmark (make bench-server)",
        "--server-only measures the course server against a minimal aiohttp.web app (its"
        " ceiling) with wrk, or an aiohttp client where wrk is not installed; it writes"
        " server-bench.json to --out.")
    server.add_argument("--server-only", action="store_true",
                        help="run only the server benchmark, not the client strategies")
    server.add_argument("--soak-seconds", type=float, default=None, metavar="S",
                        help="length of the soak at 1,000 in flight (default: 60)")
    server.add_argument("--load-seconds", type=float, default=None, metavar="S",
                        help="seconds per in-flight level (default: 5)")
    server.add_argument("--load-generator", choices=("auto", "wrk", "aiohttp"), default="auto",
                        help="auto: wrk when installed, else an aiohttp client")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: 20 requests at 10 ms, n=5, one run, short server"
                   " benchmark (explicit options still win)")
    return p


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    base = QUICK if args.quick else {}

    def pick(name: str, default: object) -> object:
        given = getattr(args, name)
        return given if given is not None else base.get(name, default)

    return BenchConfig(
        strategies=pick("strategies", tuple(STRATEGIES)),  # type: ignore[arg-type]
        latencies=pick("latencies", DEFAULT_LATENCIES),  # type: ignore[arg-type]
        concurrency=pick("concurrency", DEFAULT_CONCURRENCY),  # type: ignore[arg-type]
        repeat=pick("repeat", DEFAULT_REPEAT),  # type: ignore[arg-type]
        requests=pick("requests", MAX_REQUESTS),  # type: ignore[arg-type]
        out=args.out,
        server_seconds=base.get("server_seconds", 2.0),  # type: ignore[arg-type]
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.server_only:
        return _server_only(parser, args)
    try:
        config = config_from_args(args)
    except BenchConfigError as exc:
        parser.error(str(exc))
    return run(config, quick=args.quick)


def _server_only(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .serverperf import ServerPerfConfig
    from .serverperf import run as run_server_bench

    options: dict[str, object] = {"out": args.out, "generator": args.load_generator}
    if args.quick:  # a smoke test of every phase in well under a minute
        options.update(soak_seconds=3.0, load_seconds=1.0, throughput_seconds=3.0)
    if args.soak_seconds is not None:
        options["soak_seconds"] = args.soak_seconds
    if args.load_seconds is not None:
        options["load_seconds"] = args.load_seconds
    try:
        config = ServerPerfConfig(**options)  # type: ignore[arg-type]
    except (ValueError, RuntimeError) as exc:
        parser.error(str(exc))
    return run_server_bench(config)


def run(config: BenchConfig, *, quick: bool = False) -> int:
    """Measure everything ``config`` asks for, print the report and write the files."""
    from .report import evaluate_targets, format_table, plot_results, write_csv, write_json
    from .serverbench import compare_throughput, latency_accuracy

    started = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {message}", flush=True)

    jobs = plan(config)
    targets = target_jobs(1 if quick else max(config.repeat, 5)) if config.targets else []
    say(f"{len(jobs)} rows, {len(config.strategies)} strategies, {config.requests} requests"
        f" per run, on {os.cpu_count()} cores; each strategy in its own process")
    with ExitStack() as stack:
        wanted = {*config.latencies, 0.0, *TARGET_LATENCIES} if config.targets else set(
            config.latencies)
        servers = start_servers(wanted, stack)
        measured = measure([*jobs, *targets], servers, progress=say)
        rows, target_rows = measured[: len(jobs)], measured[len(jobs):]
        throughput = accuracy = None
        if config.targets:
            say(f"server throughput against http.server ({config.server_seconds:g} s each)")
            throughput = compare_throughput(servers[0.0], seconds=config.server_seconds)
            say("latency accuracy at 50 ms with 151 in flight")
            accuracy = latency_accuracy(servers[0.05], 0.05, runs=1 if quick else 3)
    results = evaluate_targets(target_rows, throughput, accuracy)
    elapsed = time.perf_counter() - started

    print()
    print(format_table(rows))
    print()
    print("n: requests in flight at most (sequential 1, unbounded all). speedup: against"
          " sequential requests.get at the same latency. efficiency: theory / median, n/a at"
          " 0 ms. new conns: TCP connections the server accepted during a timed run (pools are"
          " warmed first). peak: most requests the server held at once (at 0 ms it answers"
          " each request without waiting, so it never holds two). Rows slower than 8 s of"
          " theory per run get fewer runs (runs column).")
    if throughput is not None:
        print()
        print(f"Server throughput at zero latency, {throughput.concurrency} aiohttp workers:"
              f" ours {throughput.ours:.1f} req/s, http.server {throughput.http_server:.1f}"
              f" req/s, ratio {throughput.ratio:.1f}x")
    if accuracy is not None:
        print(f"Latency accuracy: {accuracy.in_flight} requests in flight at"
              f" {accuracy.latency * 1000:.0f} ms: median excess {accuracy.median_excess_ms:.1f}"
              f" ms, 90th percentile {accuracy.p90_excess_ms:.1f} ms")
    if results:
        print()
        print("Targets (measured here, reported, never asserted):")
        for t in results:
            print("  " + t.line())
    failures = sum(r.failures for r in [*rows, *target_rows])
    print()
    print(f"Failures: {failures} (every run checks {config.requests} names in order).")

    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "elapsed_seconds": elapsed,
        "config": {"strategies": config.strategies, "latencies": config.latencies,
                   "concurrency": config.concurrency, "repeat": config.repeat,
                   "requests": config.requests, "quick": quick},
        "strategies": {s.name: s.description for s in STRATEGIES.values()},
    }
    write_csv(rows, config.out / "bench.csv")
    write_json(config.out / "bench.json", rows=rows, target_rows=target_rows, targets=results,
               throughput=throughput, accuracy=accuracy, meta=meta)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig = plot_results(rows)
    fig.savefig(config.out / "bench.png", dpi=110)
    plt.close(fig)
    print(f"Wrote {config.out / 'bench.csv'}, {config.out / 'bench.json'} and"
          f" {config.out / 'bench.png'} in {elapsed:.1f} s.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
