"""The showdown: every client strategy side by side against theory (``make bench``).

``python -m helpers.bench`` starts one local server per latency, runs each strategy in a
worker process of its own (:mod:`.worker`), and reports the median time, requests per second,
speedup over sequential ``requests.get`` and efficiency (theory / measured) of each row, then
measures the server itself against Python's ``http.server`` and checks the targets.

Modules, one job each: :mod:`.catalog` (the strategies), :mod:`.theory` (the arithmetic),
:mod:`.clients` (the clients), :mod:`.worker` (the measuring process), :mod:`.runner` (the
orchestration), :mod:`.serverbench` (server throughput and latency accuracy), :mod:`.report`
(table, files, chart, targets), :mod:`.cli` (options).

Nothing heavy is imported here: the grequests worker imports this package before it lets
gevent patch the process.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "STRATEGIES": "catalog",
    "StrategySpec": "catalog",
    "BenchConfig": "runner",
    "Row": "runner",
    "run_grid": "runner",
    "efficiency": "theory",
    "speedup": "theory",
    "runs_for": "theory",
    "littles_law_rate": "theory",
    "theoretical_time": "theory",
    "format_table": "report",
    "plot_results": "report",
    "plot_efficiency": "report",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
