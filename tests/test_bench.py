"""The benchmark's behaviour: its arithmetic, its options, and one tiny run end to end.

No timing is asserted here: speed is what ``make bench`` measures and reports. These tests
check that every row is measured, complete and written, and that the numbers are derived
correctly from the times.
"""

from __future__ import annotations

import csv
import json
import math

import pytest

from helpers.bench import STRATEGIES, efficiency, runs_for, speedup, theoretical_time
from helpers.bench.catalog import StrategySpec
from helpers.bench.cli import build_parser, config_from_args, main
from helpers.bench.report import evaluate_targets, fmt_latency, format_table
from helpers.bench.runner import BenchConfig, BenchConfigError, Row, plan, target_jobs
from helpers.bench.theory import littles_law_rate

# --------------------------------------------------------------------------- arithmetic


def test_theory_is_rounds_times_latency():
    assert theoretical_time(151, 1, 0.1) == pytest.approx(15.1)
    assert theoretical_time(151, 10, 0.05) == pytest.approx(16 * 0.05)
    assert theoretical_time(151, 50, 0.05) == pytest.approx(4 * 0.05)  # 3 full rounds + 1
    assert theoretical_time(151, 151, 0.1) == pytest.approx(0.1)
    assert theoretical_time(151, 10, 0.0) == 0.0


def test_each_strategy_decides_its_own_concurrency():
    assert STRATEGIES["sequential"].concurrency(50, 151) == 1
    assert STRATEGIES["session"].concurrency(50, 151) == 1
    assert STRATEGIES["aiohttp-unbounded"].concurrency(10, 151) == 151
    assert STRATEGIES["aiohttp"].concurrency(50, 151) == 50
    assert STRATEGIES["threads"].concurrency(500, 151) == 151  # never more than N
    assert all(isinstance(s, StrategySpec) for s in STRATEGIES.values())
    assert len(STRATEGIES) == 7


def test_efficiency_is_theory_over_measured_and_undefined_at_zero_latency():
    assert efficiency(0.8, 0.84, 0.05) == pytest.approx(0.8 / 0.84)
    assert efficiency(0.0, 0.2, 0.0) is None
    with pytest.raises(ValueError):
        efficiency(0.8, 0.0, 0.05)


def test_speedup_against_the_sequential_baseline():
    assert speedup(15.2, 0.38) == pytest.approx(40.0)
    assert speedup(None, 0.38) is None


def test_littles_law():
    assert littles_law_rate(10, 0.02) == pytest.approx(500.0)
    with pytest.raises(ValueError):
        littles_law_rate(10, 0.0)


def test_slow_rows_get_fewer_runs_but_at_least_one():
    assert runs_for(0.2, 3) == 3  # fast rows: every repetition
    assert runs_for(0.0, 3) == 3  # zero latency: theory says nothing, repeat
    assert runs_for(3.02, 3) == 2  # sequential at 20 ms: two runs fit in the budget
    assert runs_for(15.1, 3) == 1  # sequential at 100 ms: one
    with pytest.raises(ValueError):
        runs_for(1.0, 0)


def test_plan_has_one_row_per_strategy_latency_and_concurrency():
    config = BenchConfig()
    jobs = plan(config)
    # Bounded strategies: 2 rows per latency; sequential, session, unbounded: 1 each.
    assert len(jobs) == 3 * (4 * 2 + 3)
    slow = [j for j in jobs if j.strategy == "sequential" and j.latency == 0.1]
    assert [j.runs for j in slow] == [1]
    assert {j.n for j in jobs if j.strategy == "aiohttp-unbounded"} == {151}
    assert all(j.requests == 151 for j in target_jobs(3))


def _row(**over) -> Row:
    base = dict(strategy="aiohttp", label="aiohttp + semaphore", latency=0.05, n=10,
                n_label="10", requests=151, runs=3, times=[0.84, 0.83, 0.85], median=0.84,
                rate=151 / 0.84, theory=0.8, efficiency=0.8 / 0.84, speedup=None, failures=0,
                complete=True, connections_opened=0, peak_in_flight=10, purpose="target")
    base.update(over)
    return Row(**base)


def test_targets_pass_and_miss_by_their_ratio():
    passed = evaluate_targets([_row(median=0.82, efficiency=0.8 / 0.82)], None, None)
    missed = evaluate_targets([_row(median=0.9, efficiency=0.8 / 0.9)], None, None)
    assert passed[0].passed and passed[0].line().startswith("PASS")
    assert not missed[0].passed and missed[0].line().startswith("MISS")
    failed = evaluate_targets([_row(median=0.82, efficiency=0.8 / 0.82, failures=1,
                                    complete=False)], None, None)
    assert not failed[0].passed  # fast but incomplete is not a pass


def test_table_prints_na_at_zero_latency_and_aligns_in_markdown():
    rows = [_row(latency=0.0, theory=0.0, efficiency=None, purpose="grid")]
    text = format_table(rows)
    assert "n/a" in text and "0 ms" in text
    md = format_table(rows, markdown=True).splitlines()
    assert md[0].startswith("| latency") and set(md[1]) <= set("|-:")
    assert len({len(line) for line in md}) == 1
    assert fmt_latency(0.02) == "20 ms"


# --------------------------------------------------------------------------- options


def _config(*argv: str) -> BenchConfig:
    return config_from_args(build_parser().parse_args(list(argv)))


def test_defaults_and_quick_mode():
    config = _config()
    assert config.latencies == (0.0, 0.02, 0.1) and config.concurrency == (10, 50)
    assert config.repeat == 3 and config.requests == 151 and len(config.strategies) == 7
    quick = _config("--quick")
    assert quick.requests == 20 and quick.repeat == 1
    assert _config("--quick", "--requests", "30").requests == 30  # explicit options win


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategies", "aiohttp,curl"], "unknown strategy 'curl'"),
        (["--latencies", "-0.1"], "latency must be from 0 to 2 seconds"),
        (["--latencies", "fast"], "'fast' is not a number"),
        (["--concurrency", "0"], "concurrency must be an integer from 1 to 1000"),
        (["--concurrency", "2.5"], "'2.5' is not an integer"),
        (["--repeat", "0"], "repeat must be an integer of at least 1"),
        (["--requests", "152"], "requests must be an integer from 1 to 151"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_config_validates_when_built_from_python():
    with pytest.raises(BenchConfigError, match="at least one strategy"):
        BenchConfig(strategies=())
    with pytest.raises(BenchConfigError, match="finite"):
        BenchConfig(latencies=(math.inf,))


def test_help_lists_every_option_and_strategy(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for option in ("--strategies", "--latencies", "--concurrency", "--repeat", "--requests",
                   "--out", "--quick"):
        assert option in out
    for name in STRATEGIES:
        assert name in out


# --------------------------------------------------------------------------- end to end


@pytest.mark.timeout(120)
def test_quick_run_measures_every_row_without_failures(tmp_path, capsys):
    code = main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads((tmp_path / "bench.json").read_text())
    rows = data["rows"]
    assert {r["strategy"] for r in rows} == set(STRATEGIES)
    assert len(rows) == len(STRATEGIES)  # one latency, one n: one row each
    for r in rows:
        assert r["complete"] and r["failures"] == 0 and r["requests"] == 20
        assert r["peak_in_flight"] <= r["n"]  # the server never saw more than the limit
    assert {r["strategy"] for r in data["target_rows"]} == {"aiohttp", "aiohttp-unbounded"}
    assert all(r["failures"] == 0 for r in data["target_rows"])
    assert data["server_throughput"]["failures"] == 0
    assert data["latency_accuracy"]["failures"] == 0
    assert len(data["targets"]) == 5
    with (tmp_path / "bench.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert "Targets" in out and "Failures: 0" in out


def test_efficiency_chart_draws_one_line_per_strategy_over_n():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from helpers.bench import plot_efficiency

    rows = [
        _row(strategy="aiohttp", n=10, theory=0.8, times=[0.8, 1.0, 1.6], median=1.0),
        _row(strategy="aiohttp", n=50, theory=0.2, times=[0.25, 0.4, 0.5], median=0.4),
        _row(strategy="threads", label="ThreadPoolExecutor", n=10, theory=0.8,
             times=[0.9, 1.0, 1.1], median=1.0),
        _row(strategy="sequential", label="requests.get", n=1, efficiency=None),  # 0 ms: left out
    ]
    fig = plot_efficiency(rows)
    (ax,) = fig.axes
    lines = {}
    for line in ax.get_lines():  # the data line comes first, then the whiskers' caps
        if line.get_gid():
            lines.setdefault(line.get_gid(), line)
    assert set(lines) == {"aiohttp", "threads"}
    assert list(lines["aiohttp"].get_xdata()) == [10, 50]
    assert [round(y, 1) for y in lines["aiohttp"].get_ydata()] == [80.0, 50.0]
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1  # the key is outside
    assert [t.get_text() for t in legend.get_texts()][:2] == ["aiohttp + semaphore",
                                                             "ThreadPoolExecutor"]
    assert "requests.get" not in [t.get_text() for t in legend.get_texts()]
    plt.close(fig)
