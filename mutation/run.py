"""``make mutation``: cosmic-ray over the server, the launcher and gather_with_concurrency.

Why cosmic-ray: it writes each mutant to the file on disk, so the mutant is also what runs in
the server's own process (the suite starts ``python -m helpers.server`` as a child).

Why a scratch copy: the mutants are written into a copy of ``helpers/`` and ``tests/`` under
``results/mutation/``, never into the work tree, so an interrupted run cannot leave a bug
behind in a file that git tracks. One copy per module, so two modules can run side by side.

Why one session per module: each mutant runs only the tests that exercise its module
(``TARGETS``), with ``-x`` so a killed mutant costs one failing test, not the whole file.

Usage: ``python mutation/run.py [--jobs N] [MODULE ...]``; prints the survivors and the score,
and writes ``results/mutation/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "mutation"
BIN = Path(sys.executable).parent

# Module -> the tests that exercise it (files, or single tests where only they concern the
# module), fastest and most sensitive first: -x stops at the first failure, so a killed mutant
# costs little. A surviving mutant runs them all: that is where the time goes.
TARGETS: dict[str, list[str]] = {
    "helpers/server/app.py": [
        "tests/test_keys.py", "tests/test_app_routes.py", "tests/test_api.py",
        "tests/test_malformed.py", "tests/test_server_internals.py", "tests/test_text_api.py",
        "tests/test_ledger.py::test_capacity_and_rate_limit_hold_across_two_workers",
        "tests/test_server_edges.py", "tests/test_user_facing.py", "tests/test_faults_stats.py",
    ],
    "helpers/server/faults.py": [
        "tests/test_server_internals.py", "tests/test_user_facing.py",
        "tests/test_server_edges.py", "tests/test_faults_stats.py",
        "tests/test_workers.py::test_faults_are_the_same_with_one_worker_or_two",
    ],
    "helpers/server/settings.py": [
        "tests/test_settings.py",
        "tests/test_launcher_cli.py::test_options_validated_in_the_parent",
        "tests/test_text_api.py::test_key_not_in_repr_nor_public_settings",
        "tests/test_cli.py::test_every_launcher_option_reaches_the_server",
    ],
    "helpers/server/stats.py": [
        "tests/test_client_stats.py", "tests/test_dashboard_hub.py", "tests/test_server_edges.py",
        "tests/test_faults_stats.py", "tests/test_dashboard.py",
    ],
    "helpers/server/cli.py": [
        "tests/test_cli.py", "tests/test_cli_stdin.py",
        "tests/test_app_routes.py::test_a_single_process_server_reports_itself_as_one_worker",
        "tests/test_launcher_cli.py", "tests/test_text_api.py",
        "tests/test_settings.py::test_the_same_defaults_from_python_the_launcher_and_the_command_line",
    ],
    "helpers/server/runner.py": [
        "tests/test_runner.py",
        "tests/test_dashboard.py::test_dashboard_url_of_a_server_on_every_interface_is_the_loopback",
        "tests/test_dashboard.py::test_make_serve_prints_the_dashboard_url",
        "tests/test_server_edges.py", "tests/test_api.py", "tests/test_faults_stats.py",
        "tests/test_launcher_cli.py::test_sigint_does_not_stop_a_managed_server",
        "tests/test_cli.py::test_sigterm_stops_cleanly",
    ],
    "helpers/server/pokedex.py": [
        "tests/test_keys.py", "tests/test_dataset.py", "tests/test_server_internals.py",
        "tests/test_api.py",
    ],
    "helpers/server/textalgo.py": ["tests/test_textalgo.py", "tests/test_text_api.py"],
    "helpers/launcher.py": [
        "tests/test_settings.py::test_the_same_defaults_from_python_the_launcher_and_the_command_line",
        "tests/test_cli.py::test_every_launcher_option_reaches_the_server",
        "tests/test_launcher_cli.py", "tests/test_cli.py",
        "tests/test_user_facing.py::test_stop_returns_promptly",
        "tests/test_workers.py::test_workers_option_is_checked",
        # The command line's own checks, which never go through the launcher:
        "--deselect=tests/test_launcher_cli.py::test_bad_option_values_are_argparse_errors",
        "--deselect=tests/test_launcher_cli.py::test_help_documents_every_option",
        "--deselect=tests/test_launcher_cli.py::test_port_in_use_is_a_clear_error",
        "--deselect=tests/test_launcher_cli.py::test_first_line_is_the_base_url",
        "--deselect=tests/test_launcher_cli.py::test_sigint_stops_a_server_run_by_hand",
        "--deselect=tests/test_cli.py::test_an_address_that_is_not_this_machines_is_a_clear_error",
        "--deselect=tests/test_cli.py::test_a_generated_key_is_shown_once_and_works",
        "--deselect=tests/test_cli.py::test_the_key_option_wins_over_the_environment",
        "--deselect=tests/test_cli.py::test_sigterm_stops_cleanly",
        "--deselect=tests/test_cli.py::test_a_managed_server_stops_when_its_stdin_closes_and_prints_nothing_more",
    ],
    "helpers/concurrency.py": ["tests/test_helpers.py"],
    "helpers/server/arrival.py": [
        "tests/test_server_edges.py::test_pipelined_requests_are_timed_from_their_arrival",
        "tests/test_server_edges.py", "tests/test_dashboard.py",
    ],
    "helpers/server/bodies.py": [
        "tests/test_server_internals.py", "tests/test_api.py", "tests/test_server_edges.py",
        "tests/test_dataset.py",
    ],
    "helpers/server/dashboard.py": [
        "tests/test_dashboard_hub.py", "tests/test_dashboard.py", "tests/test_client_stats.py",
        "tests/test_workers.py::test_the_dashboard_of_any_worker_shows_the_whole_server",
    ],
    "helpers/server/lan.py": ["tests/test_lan.py"],
    "helpers/server/ledger.py": ["tests/test_ledger.py", "tests/test_workers.py"],
    "helpers/server/remote.py": ["tests/test_ledger.py", "tests/test_workers.py"],
    "helpers/server/sprites.py": [
        "tests/test_keys.py", "tests/test_sprite_pixels.py", "tests/test_sprites.py",
    ],
    "helpers/server/wakeups.py": ["tests/test_server_internals.py", "tests/test_api.py"],
    "helpers/server/workers.py": [
        "tests/test_supervisor.py", "tests/test_cli_stdin.py", "tests/test_ledger.py",
        "tests/test_workers.py",
        "tests/test_launcher_cli.py::test_server_dies_with_its_parent_even_by_sigkill",
    ],
}
# Not mutated: helpers/server/refs.py is a table of PokéAPI's ids (data, not logic: a mutant
# there is a wrong number, which only a test that copies the table could catch), and so is
# helpers/server/spritedata.py (the type colours and the 5×7 font the sprites are drawn with:
# a mutant there is a slightly different colour, which only a copy of the table could catch);
# __init__.py / __main__.py hold no operator cosmic-ray mutates.

# Modules whose mutants are shared among several cosmic-ray HTTP workers (each with its own
# scratch copy), because their tests start many servers: the rest run one mutant at a time.
WORKERS = {"helpers/server/app.py": 3, "helpers/launcher.py": 3, "helpers/server/cli.py": 3,
           "helpers/server/workers.py": 2}

# Operators left out, and why:
# - ``|``: in these modules it only builds type unions (annotations, never evaluated under
#   ``from __future__ import annotations``), so its mutants are equivalent by the hundred.
# - + - * / turned into **, %, <<, >>, &, |, ^ (and + - * into //): cosmic-ray makes ten
#   replacements per arithmetic operator. The three arithmetic ones (and / into //) are the
#   slips a person makes; the bit and power ones add a test run each and no information.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_BitOr_.*",
    r"core/ReplaceBinaryOperator_(Add|Sub|Mul|Div)_(Pow|Mod|RShift|LShift|BitAnd|BitOr|BitXor)$",
    r"core/ReplaceBinaryOperator_(Add|Sub|Mul)_FloorDiv$",
]
# A mutant that hangs a test is killed: pytest-timeout fails that one test after TEST_TIMEOUT
# seconds, and cosmic-ray stops a whole run that exceeds TIMEOUT.
TEST_TIMEOUT = 30
TIMEOUT = 300.0


@dataclass
class Outcome:
    module: str
    killed: int = 0
    survived: list[dict] = field(default_factory=list)
    incompetent: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str = ""
    finished: str = ""
    sources: str = ""  # digest of the module and its tests when it ran (see sources_digest)

    @property
    def total(self) -> int:
        return self.killed + len(self.survived)


def sources_digest(module: str) -> str:
    """A digest of what decides a module's score: its source, its tests and the helpers they
    share. A module whose digest has changed since its last run is reported as stale."""
    import hashlib

    files = {module, "tests/conftest.py"} | {
        t.split("::")[0] for t in TARGETS[module] if not t.startswith("-")}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def scratch_copy(tree: Path) -> Path:
    """A fresh copy of what the tests need, without bytecode that could hide a mutant."""
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for folder in ("helpers", "tests"):
        shutil.copytree(ROOT / folder, tree / folder, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def config_text(module: str, tests: list[str], worker_urls: list[str]) -> str:
    command = (f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:nbval "
               f"--timeout={TEST_TIMEOUT} " + " ".join(tests))
    excluded = ", ".join(json.dumps(e) for e in EXCLUDED_OPERATORS)
    distributor = (
        'name = "http"\n[cosmic-ray.distributor.http]\n'
        f"worker-urls = {json.dumps(worker_urls)}\n" if worker_urls else 'name = "local"\n')
    return (
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {TIMEOUT}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        "[cosmic-ray.distributor]\n"
        + distributor +
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_workers(name: str, count: int, log: IO[str]) -> tuple[list[subprocess.Popen], list[str]]:
    """``count`` cosmic-ray HTTP workers on 127.0.0.1, each mutating its own scratch copy."""
    workers, urls = [], []
    for i in range(count):
        tree = scratch_copy(OUT / name / f"worker{i}")
        port = _free_port()
        workers.append(subprocess.Popen(
            [str(BIN / "cosmic-ray"), "http-worker", "--port", str(port)], cwd=tree,
            stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{port}")
    for url in urls:
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    return workers, urls


def judgements() -> dict[tuple[str, str, str], str]:
    """The verdicts of mutation/SURVIVORS.md, by (where, operator, mutated line)."""
    verdicts = {}
    for line in (ROOT / "mutation" / "SURVIVORS.md").read_text().splitlines():
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 5 and cells[0].startswith("`helpers/"):
            where, operator, mutated, verdict, _why = cells
            verdicts[(where.strip("`"), operator, mutated.strip("`").strip())] = verdict
    return verdicts


def verdict_of(survivor: dict, verdicts: dict[tuple[str, str, str], str]) -> tuple[str, ...]:
    """The judgement of one survivor and its row's key, or () when SURVIVORS.md has none for
    it. The table may leave out a trailing comment: its text need only begin the line."""
    added = [d[1:] for d in survivor["diff"].splitlines()
             if d.startswith("+") and not d.startswith("+++")]
    mutated = " ".join((added[0] if added else "(line removed)").split())
    where = f"{survivor['module']}:{survivor['line']}"
    return next(((verdict, *key) for key, verdict in verdicts.items()
                 if key[:2] == (where, survivor["operator"])
                 and mutated.startswith(" ".join(key[2].split()))), ())


def forget_survivors(session: Path, everyone: bool = False) -> int:
    """Mark the survivors of a session pending again, to test them against today's tests,
    except those already judged in mutation/SURVIVORS.md (equivalent or timing constants).

    Killed mutants stay killed: tests are only ever added, so a test that killed one still
    exists. Returns how many survivors will run again.
    """
    import sqlite3

    judged = set(re.findall(r"^\| `(helpers/[^:`]+):(\d+)` \| (\w+) \|",
                            (ROOT / "mutation" / "SURVIVORS.md").read_text(), re.M))
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT r.job_id, m.module_path, m.start_pos_row, m.operator_name FROM work_results r"
            " JOIN mutation_specs m ON m.job_id = r.job_id WHERE r.test_outcome = 'SURVIVED'"
        ).fetchall()
        again = [job for job, path, row, op in rows
                 if everyone or (path, str(row), op.removeprefix("core/")) not in judged]
        db.executemany("DELETE FROM work_results WHERE job_id = ?", [(j,) for j in again])
        return len(again)


def run_module(module: str, resume: bool = False, recheck: bool = False,
               recheck_all: bool = False) -> Outcome:
    """Mutate ``module``; with ``resume``, finish the pending mutants of its last session;
    with ``recheck``, also run its survivors again."""
    name = module_dir(module)
    outcome = Outcome(module, sources=sources_digest(module))
    start = time.monotonic()
    tree = scratch_copy(OUT / name / "tree")
    config = OUT / name / "config.toml"
    session = OUT / name / "session.sqlite"
    log = OUT / name / "log.txt"
    resume = (resume or recheck or recheck_all) and session.exists()
    if resume and (recheck or recheck_all):
        forget_survivors(session, everyone=recheck_all)
    steps = [] if resume else [
        [BIN / "cosmic-ray", "init", config, session],
        [BIN / "cr-filter-operators", session, config],
        [BIN / "cosmic-ray", "baseline", config],
    ]
    steps.append([BIN / "cosmic-ray", "exec", config, session])
    if not resume:
        session.unlink(missing_ok=True)
    with log.open("a" if resume else "w") as out:
        workers, urls = start_workers(name, WORKERS.get(module, 1), out) if WORKERS.get(
            module, 1) > 1 else ([], [])
        config.write_text(config_text(module, TARGETS[module], urls))
        try:
            for step in steps:
                done = subprocess.run([str(s) for s in step], cwd=tree, stdout=out,
                                      stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    outcome.error = f"{Path(step[0]).name} {step[1]} failed: see {log}"
                    return outcome
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait()
    dump = subprocess.run([str(BIN / "cosmic-ray"), "dump", str(session)], cwd=tree,
                          capture_output=True, text=True, check=True)
    for line in dump.stdout.splitlines():
        item, result = json.loads(line)
        if result is None:
            continue
        if result["worker_outcome"] == "skipped":
            outcome.skipped += 1
        elif result["test_outcome"] == "killed":
            outcome.killed += 1
        elif result["test_outcome"] == "survived":
            mutation = item["mutations"][0]
            outcome.survived.append({
                "module": module,
                "line": mutation["start_pos"][0],
                "operator": mutation["operator_name"].removeprefix("core/"),
                "occurrence": mutation["occurrence"],
                "diff": result.get("diff") or "",
            })
        else:
            outcome.incompetent += 1
    outcome.survived.sort(key=lambda s: (s["line"], s["operator"]))
    outcome.seconds = time.monotonic() - start
    outcome.finished = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (OUT / name / "outcome.json").write_text(json.dumps(asdict(outcome), indent=1))
    return outcome


def last_outcomes() -> list[Outcome]:
    """The latest finished run of every module (a run of some modules keeps the others')."""
    outcomes = []
    for module in TARGETS:
        path = OUT / module_dir(module) / "outcome.json"
        if path.exists():
            outcomes.append(Outcome(**json.loads(path.read_text())))
    return outcomes


def module_dir(module: str) -> str:
    return module.removeprefix("helpers/").removesuffix(".py").replace("/", ".")


def report(outcomes: list[Outcome]) -> int:
    killed = sum(o.killed for o in outcomes)
    total = sum(o.total for o in outcomes)
    verdicts = judgements()
    unjudged, used = 0, set()
    for o in outcomes:
        for s in o.survived:
            verdict, *key = verdict_of(s, verdicts) or ("",)
            unjudged += not verdict
            used.add(tuple(key))
            print(f"\nSURVIVED {s['module']}:{s['line']} {s['operator']} #{s['occurrence']}"
                  f"  [{verdict or 'NOT JUDGED in mutation/SURVIVORS.md'}]")
            print("\n".join("    " + d for d in s["diff"].splitlines()
                            if d.startswith(("+", "-")) and not d.startswith(("+++", "---"))))
    print("\nmodule                       killed survived (skipped, incompetent) minutes  finished")
    stale = [o.module for o in outcomes if o.sources != sources_digest(o.module)]
    for o in outcomes:
        note = f"  ERROR: {o.error}" if o.error else ""
        note += "  STALE: the module or its tests changed since" if o.module in stale else ""
        print(f"{o.module:29}{o.killed:6}{len(o.survived):9}  ({o.skipped}, {o.incompetent})"
              f"{o.seconds / 60:19.1f}  {o.finished}{note}")
    missing = [m for m in TARGETS if m not in {o.module for o in outcomes}]
    if missing:
        print(f"not run yet: {', '.join(missing)}")
    score = killed / total if total else 0.0
    print(f"\nscore: {killed} of {total} mutants killed = {score:.1%}")
    if stale:
        print(f"stale (run them again for a true score): {' '.join(stale)}")
    print(f"survivors not judged in mutation/SURVIVORS.md: {unjudged}")
    run = {o.module for o in outcomes}
    unused = [k for k in verdicts if k not in used and k[0].split(":")[0] in run]
    for where, operator, mutated in unused:
        print(f"  a verdict that matches no survivor any more: {where} {operator} `{mutated}`")
    summary = {
        "killed": killed, "total": total, "score": score, "stale": stale, "unjudged": unjudged,
        "modules": [{"module": o.module, "killed": o.killed, "survived": len(o.survived),
                     "skipped": o.skipped, "incompetent": o.incompetent,
                     "minutes": round(o.seconds / 60, 1), "finished": o.finished,
                     "sources": o.sources,
                     "error": o.error} for o in outcomes],
        "survivors": [s for o in outcomes for s in o.survived],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1))
    return 1 if any(o.error for o in outcomes) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help=f"modules to mutate (default: all): {', '.join(TARGETS)}")
    parser.add_argument("--jobs", type=int, default=2, help="modules mutated side by side")
    parser.add_argument("--resume", action="store_true",
                        help="finish the pending mutants of each module's last session")
    parser.add_argument("--recheck", action="store_true",
                        help="like --resume, and run the last session's survivors again")
    parser.add_argument("--recheck-all", action="store_true",
                        help="like --recheck, including the survivors already judged")
    parser.add_argument("--report", action="store_true",
                        help="only print the last run's survivors and score")
    args = parser.parse_args(argv)
    if args.report:
        return report(last_outcomes())
    modules = args.modules or list(TARGETS)
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        parser.error(f"not a mutated module: {', '.join(unknown)}")
    OUT.mkdir(parents=True, exist_ok=True)
    # The slowest modules first, so the pool does not end on one long module alone.
    slowest = ["helpers/server/app.py", "helpers/launcher.py", "helpers/server/cli.py",
               "helpers/server/faults.py", "helpers/server/textalgo.py"]
    order = sorted(modules, key=lambda m: slowest.index(m) if m in slowest else len(slowest))
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = pool.map(
            lambda m: run_module(m, resume=args.resume, recheck=args.recheck,
                                 recheck_all=args.recheck_all), order)
        errors = [o.error for o in outcomes if o.error]
    status = report(last_outcomes())
    return 1 if errors else status


if __name__ == "__main__":
    sys.exit(main())
