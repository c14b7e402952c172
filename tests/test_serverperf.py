"""The server benchmark's plumbing (``make bench-server``): parsing, the ceiling app, the
fallback load generator and the options. No timing is asserted: speed is what the benchmark
measures and reports."""

from __future__ import annotations

import pytest

from helpers.bench.cli import main
from helpers.bench.loadgen import _parse_wrk, run_load, which_generator
from helpers.bench.serverperf import PATH, ServerPerfConfig, ceiling_server, fetch, rss_mb


def test_wrk_summary_is_parsed_with_every_error_kind():
    out = ("Running 1s test\n"
           'WRKJSON {"requests": 3000, "duration_us": 1500000, "p50_us": 51234.0,'
           ' "p99_us": 60500.5, "connect": 0, "read": 2, "write": 0, "status": 7,'
           ' "timeout": 140}\n')
    r = _parse_wrk(out, 1500)
    assert (r.requests, r.connections) == (3000, 1500)
    assert r.rate == pytest.approx(2000.0)
    assert r.p50_ms == pytest.approx(51.234) and r.p99_ms == pytest.approx(60.5005)
    assert r.errors == {"read": 2, "timeout": 140, "non-2xx": 7}
    assert r.error_count == 149


def test_wrk_without_summary_is_an_error():
    with pytest.raises(RuntimeError, match="no summary"):
        _parse_wrk("unable to connect to 127.0.0.1:1\n", 10)


def test_unknown_generator_is_refused():
    with pytest.raises(ValueError, match="auto, wrk or aiohttp"):
        which_generator("ab")


def test_ceiling_serves_the_course_body_and_the_fallback_generator_loads_it(api):
    body = fetch(api.base_url + PATH)
    with ceiling_server(body, 0.0) as ceiling:
        assert fetch(ceiling.base_url + PATH) == body
        result = run_load("aiohttp", ceiling.base_url + PATH, 5, 0.3)
    assert result.generator == "aiohttp"
    assert result.requests > 0 and result.error_count == 0
    assert result.p50_ms is not None and result.p99_ms is not None
    assert result.p50_ms <= result.p99_ms


def test_fallback_generator_counts_errors_by_kind():
    # Nothing listens on port 9 of loopback: every request fails to connect, none is an answer.
    result = run_load("aiohttp", "http://127.0.0.1:9/api/v2" + PATH, 2, 0.2)
    assert result.requests == 0 and result.error_count > 0
    assert result.p50_ms is None


def test_rss_of_a_process_tree(api):
    value = rss_mb(api.process.pid)
    assert value is None or value > 1.0  # None only where /proc does not exist


@pytest.mark.parametrize("args, words", [
    (["--soak-seconds", "0"], "positive"),
    (["--soak-seconds", "7200"], "bounded"),
])
def test_server_bench_options_are_checked(args, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--server-only", *args])
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


def test_config_refuses_absurd_in_flight():
    with pytest.raises(ValueError, match="in flight"):
        ServerPerfConfig(in_flight=(0,))


def test_cpu_time_of_a_process_tree_grows_with_work(api):
    from helpers.bench.serverperf import cpu_seconds

    before = cpu_seconds(api.process.pid)
    if before is None:
        pytest.skip("no /proc here")
    for i in range(300):
        fetch(f"{api.base_url}/pokemon/{i % 151 + 1}")
    after = cpu_seconds(api.process.pid)
    assert after is not None and after >= before


def _level(server, n, p50, p99, errors=None):
    from helpers.bench.loadgen import LoadResult
    from helpers.bench.serverperf import Level

    load = LoadResult("wrk", n, 5.0, 1000, 200.0, p50, p99, errors or {})
    return Level(server, n, load, 0.05)


def test_targets_are_judged_from_the_measurements():
    from helpers.bench.serverperf import Soak, evaluate

    levels = [_level("course", 500, 52.0, 60.0),
              _level("course, 2 workers", 1500, 75.0, 200.0, {"timeout": 3})]
    accuracy = {"course": {"in_flight": 151, "median_excess_ms": 1.5, "p90_excess_ms": 3.0,
                           "failures": 0}}
    soak = Soak(1000, 60, 40.0, 50.0, 56.0, 56.0)
    targets = {t.name.split(":")[0]: t for t in evaluate(0.71, levels, accuracy, soak,
                                                         "course, 2 workers")}
    met = {name: t.met for name, t in targets.items()}
    assert list(met.values()) == [True, True, False, True, False]
    assert "median 2.0 ms, p99 10.0 ms, 0 errors" in targets[
        "one worker, 500 in flight at 50 ms"].detail
    assert "3 errors" in targets["course, 2 workers, 1,500 in flight at 50 ms"].detail
    assert "+12.0%" in targets["RSS flat (within 10 %) across the soak (60 s, 1000 in flight)"
                               ].detail
