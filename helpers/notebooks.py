"""Run the course's notebooks the way a reader would: Restart & Run All, then store them.

``python -m helpers.notebooks run notebooks/03_asyncio_fundamentals.ipynb`` (or a folder)
executes each notebook in a fresh kernel from its own folder, writes it back with its outputs,
and refuses to store one that printed to stderr or raised where no cell said it would: nbval
compares every stored output, so a stray warning stored today is a failing test tomorrow.
``check`` does the same inspection without running anything.

``remote --latency 0.4 --jitter 0.1 notebooks`` starts a second local server with that
latency, points ``POKEAPI_BASE_URL`` at it, and runs the notebooks under ``pytest --nbval-lax``:
a classroom server or the real API as a learner meets them. Every assert must still hold.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MACHINE_PATH = re.compile(r"(/root/|/home/\w+/|/Users/\w+/|/tmp/ipykernel|site-packages/|\.venv/)")


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What would make a stored notebook a poor or failing test."""
    found = []
    counts = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        counts.append(cell.get("execution_count"))
        if "execution" in cell.get("metadata", {}):
            found.append(f"cell {index}: execution timestamps in its metadata (churn the diff)")
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {index}: stderr output {out.get('text', '')[:120]!r}")
            if out.get("output_type") == "error" and "raises-exception" not in tags:
                found.append(f"cell {index}: error {out.get('ename')}: {out.get('evalue')}")
            match = MACHINE_PATH.search(json.dumps(out))
            if match:
                found.append(f"cell {index}: output shows a machine path ({match.group(0)})")
    if counts and counts != list(range(1, len(counts) + 1)):
        found.append(f"execution counts are not 1..{len(counts)}: {counts}")
    return found


def run(path: Path, timeout: int = 300) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=True, record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    found = problems(nb)
    if not found:
        from .slides import apply as apply_slide_metadata

        apply_slide_metadata(nb)  # the slideshow follows the notebook's structure as stored
        nbformat.write(nb, path)
    return found


def _notebooks(targets: list[str]) -> list[Path]:
    paths: list[Path] = []
    for target in targets:
        p = Path(target)
        paths += sorted(p.glob("*.ipynb")) if p.is_dir() else [p]
    return [p for p in paths if ".ipynb_checkpoints" not in p.parts]


def remote(targets: list[str], latency: float, jitter: float, pytest_args: list[str]) -> int:
    """Run the notebooks against a second server of another latency, as a classroom would."""
    import os
    import subprocess

    from .launcher import start_local_api

    with start_local_api(latency=latency, jitter=jitter, seed=7) as other:
        env = dict(os.environ, POKEAPI_BASE_URL=other.base_url)
        print(f"POKEAPI_BASE_URL={other.base_url} (latency {latency * 1000:g} ms, "
              f"jitter {jitter * 1000:g} ms)", flush=True)
        command = [sys.executable, "-m", "pytest", *targets, "--nbval-lax",
                   "--nbval-current-env", "--nbval-cell-timeout=300", "-p", "no:cacheprovider",
                   "-q", *pytest_args]
        return subprocess.call(command, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "check", "remote"])
    parser.add_argument("targets", nargs="+", help="notebooks or folders of notebooks")
    parser.add_argument("--latency", type=float, default=0.2,
                        help="remote: the second server's latency in seconds (default 0.2)")
    parser.add_argument("--jitter", type=float, default=0.0,
                        help="remote: extra seconds drawn per request from [0, jitter)")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "remote":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "remote":
        if not 0 <= args.latency <= 30 or not 0 <= args.jitter <= 30:
            parser.error("--latency and --jitter are seconds between 0 and 30")
        return remote(args.targets, args.latency, args.jitter, extra)
    failed = False
    for path in _notebooks(args.targets):
        if args.command == "run":
            found = run(path)
        else:
            found = problems(nbformat.read(path, as_version=4))
        status = "ok" if not found else "NOT STORED" if args.command == "run" else "problems"
        print(f"{path}: {status}")
        for line in found:
            print(f"  - {line}")
        failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
