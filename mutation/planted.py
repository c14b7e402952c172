"""The nine bugs of issue 14, planted one at a time in a scratch copy: each must fail a test.

``python mutation/planted.py`` copies ``helpers/`` and ``tests/`` to a temporary folder, applies
one bug, runs the tests that should catch it, and reports which test failed. It exits non-zero
if a bug survives or if the unmodified copy fails. The work tree is never modified.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bug:
    name: str
    path: str
    old: str
    new: str
    tests: str = "tests/test_user_facing.py"


_SHUTDOWN_OLD = (
    '    """Close stdin (the child\'s signal to exit), wait, and escalate only if it must."""\n'
)
_SHUTDOWN_NEW = _SHUTDOWN_OLD + '''    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.terminate()
'''

BUGS = [
    Bug("linked 404 sent as JSON", "helpers/server/app.py",
        '        return plain(404, "Not Found")\n    return web.json_response({"id": found',
        '        return json_error(404, "Not Found")\n    return web.json_response({"id": found'),
    Bug("/api/v2/type without the slash is 404", "helpers/server/app.py",
        '    r.add_get(f"{API_PREFIX}/{{kind:{kinds}}}", linked_list)\n', ""),
    Bug("next points at an empty page", "helpers/server/app.py",
        "if offset + limit < count", "if offset + limit <= count"),
    Bug("Retry-After is (1 - tokens) * rate", "helpers/server/faults.py",
        "return (1.0 - tokens) / self.rate", "return (1.0 - tokens) * self.rate"),
    Bug("empty key accepts a request without a key", "helpers/server/app.py",
        "if not expected or not hmac.compare_digest", "if not hmac.compare_digest"),
    Bug("jitter from the unseeded global random", "helpers/server/faults.py",
        "jitter_u, slow_u, failure_u = rng.random(),",
        "jitter_u, slow_u, failure_u = random.random(),"),
    Bug("error rate applied as 1.2 x", "helpers/server/faults.py",
        "error = failure_u < s.error_rate", "error = failure_u < s.error_rate * 1.2"),
    Bug("stop() waits 5 s before closing stdin", "helpers/launcher.py",
        _SHUTDOWN_OLD, _SHUTDOWN_NEW),
    Bug("compare_digest replaced by !=", "helpers/server/app.py",
        "not hmac.compare_digest(given, expected)", "given != expected"),
]


def copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("helpers", "tests"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def run_tests(tree: Path, tests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:nbval",
         "-rf", tests],
        cwd=tree, capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
             "PYTHONDONTWRITEBYTECODE": "1"},
    )


def main() -> int:
    survivors = 0
    with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
        clean = Path(tmp) / "clean"
        copy_tree(clean)
        result = run_tests(clean, "tests/test_user_facing.py")
        print(f"unmodified copy: {result.stdout.strip().splitlines()[-1]}")
        if result.returncode != 0:
            print(result.stdout[-3000:])
            return 1
        for i, bug in enumerate(BUGS, 1):
            tree = Path(tmp) / f"bug{i}"
            copy_tree(tree)
            target = tree / bug.path
            source = target.read_text()
            if source.count(bug.old) != 1:
                print(f"{i}. {bug.name}: cannot plant (the code changed?)")
                survivors += 1
                continue
            target.write_text(source.replace(bug.old, bug.new))
            result = run_tests(tree, bug.tests)
            failed = sorted({line.split(" ")[1].split("[")[0].split("::")[-1]
                             for line in result.stdout.splitlines()
                             if line.startswith("FAILED ")})
            if result.returncode == 0:
                survivors += 1
                print(f"{i}. {bug.name}: SURVIVED")
            else:
                print(f"{i}. {bug.name}: caught by {', '.join(failed) or result.stdout[-300:]}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
