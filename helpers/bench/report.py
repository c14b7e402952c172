"""What the showdown prints and writes: the table, CSV and JSON files, the chart, the targets.

Measured numbers use the course's formats (``0.352 s``, ``429.1 req/s``, ``9.4x``,
``93.1 %``), so the notebook's stored outputs can be compared with nbval's masks.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .runner import Row
from .serverbench import Accuracy, Throughput

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("latency", "strategy", "n", "runs", "median", "req/s", "speedup", "theory",
           "efficiency", "failures", "new conns", "peak")


def fmt_latency(latency: float) -> str:
    """A configured latency, as written in the options: ``0 ms``, ``20 ms``, ``100 ms``."""
    ms = latency * 1000
    return f"{ms:.0f} ms" if math.isclose(ms, round(ms)) else f"{ms:g} ms"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def fmt_percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def cells(row: Row) -> list[str]:
    """One row's cells, in the order of :data:`COLUMNS`."""
    return [
        fmt_latency(row.latency), row.label, row.n_label, str(row.runs), f"{row.median:.3f} s",
        f"{row.rate:.1f} req/s", fmt_ratio(row.speedup), f"{row.theory:.3f} s",
        fmt_percent(row.efficiency), str(row.failures),
        "?" if row.connections_opened is None else str(row.connections_opened),
        "?" if row.peak_in_flight is None else str(row.peak_in_flight),
    ]


def format_table(
    rows: Sequence[Row], *, markdown: bool = False, pad: bool = True,
    columns: Sequence[str] = COLUMNS,
) -> str:
    """The results as text: aligned columns, or a Markdown table (``markdown=True``).

    ``pad=False`` separates cells with `` | `` without aligning them: measured numbers change
    width from run to run, and a notebook's stored output must not depend on that.
    ``columns`` picks and orders columns by their names in :data:`COLUMNS`.
    """
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; choose from {list(COLUMNS)}")
    pick = [COLUMNS.index(c) for c in columns]
    table = [list(columns)] + [[cells(r)[i] for i in pick] for r in rows]
    if not pad:
        return "\n".join(" | ".join(line) for line in table)
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    right = {i for i, c in enumerate(columns) if c != "strategy"}

    def fmt(line: list[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts)

    out = [fmt(table[0])]
    if markdown:
        out.append("|" + "|".join(
            ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
            for i, w in enumerate(widths)) + "|")
    else:
        out.append("  ".join("-" * w for w in widths))
    out += [fmt(line) for line in table[1:]]
    return "\n".join(out)


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """A goal, what was measured, and whether it was met (reported, never asserted)."""

    goal: str
    measured: str
    value: float
    passed: bool

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'MISS'}  {self.goal}: {self.measured}"


def evaluate_targets(
    target_rows: Sequence[Row], throughput: Throughput | None, accuracy: Accuracy | None,
) -> list[Target]:
    """The issue's targets, each with its measured ratio."""
    found: list[Target] = []
    for row in target_rows:
        if row.strategy == "aiohttp" and row.efficiency is not None:
            found.append(Target(
                f"aiohttp, semaphore of {row.n}, {row.requests} requests at"
                f" {fmt_latency(row.latency)}: efficiency >= 95 %",
                f"{fmt_percent(row.efficiency)} (median {row.median:.3f} s, theory"
                f" {row.theory:.3f} s, {row.failures} failures)",
                row.efficiency, row.efficiency >= 0.95 and row.complete,
            ))
        elif row.strategy == "aiohttp-unbounded" and row.latency > 0:
            times_latency = row.median / row.latency
            found.append(Target(
                f"aiohttp unbounded, {row.requests} requests at {fmt_latency(row.latency)}:"
                " under 1.5x the latency",
                f"{times_latency:.2f}x the latency (median {row.median:.3f} s,"
                f" {row.failures} failures)",
                times_latency, times_latency < 1.5 and row.complete,
            ))
    if throughput is not None:
        found.append(Target(
            "local server vs http.server at zero latency: at least 3x the requests/s",
            f"{throughput.ratio:.1f}x ({throughput.ours:.1f} req/s against"
            f" {throughput.http_server:.1f} req/s, {throughput.failures} failures)",
            throughput.ratio, throughput.ratio >= 3 and throughput.failures == 0,
        ))
    if accuracy is not None:
        found.append(Target(
            f"latency accuracy at {fmt_latency(accuracy.latency)} with {accuracy.in_flight}"
            " in flight: median (measured - latency) <= 3 ms",
            f"{accuracy.median_excess_ms:.1f} ms (90th percentile"
            f" {accuracy.p90_excess_ms:.1f} ms, {accuracy.samples} requests,"
            f" {accuracy.failures} failures)",
            accuracy.median_excess_ms, accuracy.median_excess_ms <= 3 and accuracy.failures == 0,
        ))
    return found


# --------------------------------------------------------------------------- files


CSV_FIELDS = ("purpose", "strategy", "label", "latency", "n", "requests", "runs", "median",
              "rate", "theory", "efficiency", "speedup", "failures", "complete",
              "connections_opened", "peak_in_flight", "times")


def write_csv(rows: Sequence[Row], path: Path) -> None:
    """One line per row; ``efficiency`` and ``speedup`` are empty where undefined."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in rows:
            d = r.as_dict()
            line = {k: d[k] for k in CSV_FIELDS}
            line["times"] = " ".join(f"{t:.6f}" for t in r.times)
            for k in ("efficiency", "speedup"):
                line[k] = "" if d[k] is None else d[k]
            writer.writerow(line)


def write_json(
    path: Path, *, rows: Sequence[Row], target_rows: Sequence[Row], targets: Sequence[Target],
    throughput: Throughput | None, accuracy: Accuracy | None, meta: dict[str, Any],
) -> None:
    data = {
        "meta": meta,
        "rows": [r.as_dict() for r in rows],
        "target_rows": [r.as_dict() for r in target_rows],
        "server_throughput": throughput.as_dict() if throughput else None,
        "latency_accuracy": accuracy.as_dict() if accuracy else None,
        "targets": [asdict(t) for t in targets],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- chart


def plot_results(rows: Sequence[Row], *, title: str | None = None) -> Figure:
    """One panel per latency: each row's median time as a bar, its theory as a black mark.

    The time axis is logarithmic: sequential and concurrent rows differ by 10-100x, and on a
    log axis equal ratios look equal, which is what a speedup is.
    """
    from matplotlib import pyplot as plt

    latencies = sorted({r.latency for r in rows})
    fig, axes = plt.subplots(
        1, len(latencies), figsize=(5.2 * len(latencies), 0.45 * (len(rows) / len(latencies)) + 2),
        squeeze=False,
    )
    for ax, latency in zip(axes[0], latencies, strict=True):
        group = [r for r in rows if r.latency == latency]
        labels = [r.label if STRATEGY_KIND.get(r.strategy) == "seq" else f"{r.label} (n={r.n})"
                  for r in group]
        y = list(range(len(group)))
        colors = ["tab:red" if not r.complete else
                  "tab:gray" if STRATEGY_KIND.get(r.strategy) == "seq" else
                  "tab:green" if STRATEGY_KIND.get(r.strategy) == "thread" else "tab:blue"
                  for r in group]
        ax.barh(y, [r.median for r in group], color=colors, height=0.7)
        if latency > 0:
            ax.plot([r.theory for r in group], y, "k|", markersize=16, markeredgewidth=2)
        for yi, r in zip(y, group, strict=True):
            note = f" {r.median:.3f} s" + (f", {r.efficiency * 100:.0f} %" if r.efficiency else "")
            ax.text(r.median, yi, note, va="center", fontsize=7)
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("median time for all requests (s, log scale)")
        ax.set_title(f"latency {fmt_latency(latency)}")
        ax.margins(x=0.35)
    n_requests = rows[0].requests if rows else 0
    fig.suptitle((title or f"{n_requests} requests: median time per strategy")
                 + "\nblack marks: theory ceil(N/n) × latency; blue: asyncio, green: threads"
                 " and greenlets, gray: sequential, red: incomplete", fontsize=10)
    fig.tight_layout()
    return fig



def plot_efficiency(rows: Sequence[Row], *, title: str | None = None) -> Figure:
    """Efficiency (theory / median time) against the concurrency n, one line per strategy.

    Why this shape: the showdown asks how close each tool gets to what its concurrency
    allows, and whether that holds as n grows. A line per strategy over n answers both at a
    glance, where bars of times make every row compete with the slow sequential ones. The
    whiskers reach from the slowest run's efficiency to the fastest run's, so the spread of
    the repeats is visible. The key sits outside the axes; the title says only what is drawn.
    Rows at zero latency have no efficiency and are left out (one panel per other latency).
    """
    from matplotlib import pyplot as plt
    from matplotlib.ticker import NullLocator

    drawn = [r for r in rows if r.efficiency is not None]
    latencies = sorted({r.latency for r in drawn})
    panels = max(1, len(latencies))
    fig, axes = plt.subplots(1, panels, figsize=(5.6 * panels + 2.6, 4.2), squeeze=False,
                             sharey=True)
    order = list(dict.fromkeys(r.strategy for r in drawn))
    markers = "osD^vP*X"
    for ax, latency in zip(axes[0], latencies, strict=False):
        for k, strategy in enumerate(order):
            group = sorted((r for r in drawn if r.strategy == strategy and r.latency == latency),
                           key=lambda r: r.n)
            if not group:
                continue
            xs = [r.n for r in group]
            ys = [100 * r.theory / r.median for r in group]
            low = [100 * r.theory / max(r.times) for r in group]
            high = [100 * r.theory / min(r.times) for r in group]
            ax.errorbar(xs, ys, yerr=[[y - lo for y, lo in zip(ys, low, strict=True)],
                                      [hi - y for y, hi in zip(ys, high, strict=True)]],
                        marker=markers[k % len(markers)], capsize=3, linewidth=1.5,
                        label=group[0].label, gid=strategy)
        ax.axhline(100, color="#666666", linestyle="--", linewidth=1.0,
                   label="theory: ceil(N / n) × latency")
        ns = sorted({r.n for r in drawn if r.latency == latency})
        ax.set_xscale("log")
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("n: requests in flight at most (log scale)")
        ax.set_ylim(0, 110)
        ax.set_title(f"latency {fmt_latency(latency)}")
    axes[0][0].set_ylabel("efficiency: theory / median time (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    keyed = sorted(zip(handles, labels, strict=True), key=lambda hl: hl[1].startswith("theory"))
    axes[0][-1].legend([h for h, _ in keyed], [label for _, label in keyed], loc="upper left",
                       bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                       title="strategy (whiskers: slowest\nand fastest run)")
    n_requests = drawn[0].requests if drawn else 0
    fig.suptitle(title or f"{n_requests} requests: efficiency against concurrency")
    fig.tight_layout()
    return fig


STRATEGY_KIND = {
    "sequential": "seq", "session": "seq", "threads": "thread", "grequests": "thread",
    "aiohttp": "async", "aiohttp-unbounded": "async", "httpx": "async",
}
