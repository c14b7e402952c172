"""The student edition (helpers.student): a deterministic transform whose checks still run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers.student import Unsolved, build, exercises, restore, student_edition

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
NOT_SOLVED = "is not solved yet"


def _course_like() -> nbformat.NotebookNode:
    solution = new_code_cell(
        "import math\n\nasync def area(r):\n    return math.pi * r * r\n\n"
        "total = sum([await area(1), await area(2)])\nhelper = 3",
        metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}},
        execution_count=2, outputs=[{"output_type": "stream", "name": "stdout", "text": "x\n"}],
    )
    check = new_code_cell("assert abs(total - 5 * math.pi) < 1e-9, 'area of r=1 and r=2'\n"
                          "assert await area(3) > total",
                          metadata={"tags": ["check"]}, execution_count=3)
    return new_notebook(cells=[
        new_markdown_cell("# 00 · Title"),
        new_code_cell("x = 1", execution_count=1,
                      outputs=[{"output_type": "stream", "name": "stdout", "text": "1\n"}]),
        new_markdown_cell("**1. Areas.** Sum the areas.", metadata={"tags": ["exercise"]}),
        solution,
        check,
        new_markdown_cell("nav"),
    ])


def test_the_edition_stubs_the_solution_and_keeps_everything_else():
    course = _course_like()
    edition = student_edition(course)
    stub = edition.cells[3]
    assert "write your solution here" in stub.source
    assert "total = Unsolved(1, 'total')" in stub.source
    assert "area = Unsolved(1, 'area')" in stub.source
    assert "helper =" not in stub.source, "only the names the check reads are stubbed"
    assert "import math" in stub.source and "math =" not in stub.source, (
        "the solution's imports are kept, not stubbed")
    assert stub.outputs == [] and stub.execution_count is None
    assert "jupyter" not in stub.metadata, "the stub is shown, not collapsed"
    assert edition.cells[4].source == course.cells[4].source, "the check is kept as it is"
    assert edition.cells[4].outputs == []
    for i in (0, 1, 2, 5):
        assert edition.cells[i] == course.cells[i], f"cell {i} is untouched"
    assert course.cells[3].outputs, "the transform does not change its input"


def test_restore_is_the_inverse_outputs_aside():
    course = _course_like()
    restored = restore(student_edition(course), course)
    assert [c.source for c in restored.cells] == [c.source for c in course.cells]
    assert restored.cells[3].metadata == course.cells[3].metadata


def test_the_stubbed_check_fails_with_a_clear_message():
    edition = student_edition(_course_like())
    namespace: dict = {}
    exec(edition.cells[3].source, namespace)
    check = edition.cells[4].source
    code = compile(check, "<check>", "exec", flags=0x2000)  # PyCF_ALLOW_TOP_LEVEL_AWAIT
    with pytest.raises(NotImplementedError, match="Exercise 1 is not solved yet: `total`"):
        result = eval(code, namespace)
        if asyncio.iscoroutine(result):
            asyncio.run(result)


@pytest.mark.parametrize("use", [
    lambda u: u == 1, lambda u: len(u), lambda u: u(), lambda u: u[0], lambda u: list(u),
    lambda u: bool(u), lambda u: u.status, lambda u: u + 1, lambda u: 1 in u,
])
def test_unsolved_refuses_every_use(use):
    with pytest.raises(NotImplementedError, match="Exercise 2 is not solved yet: `x`"):
        use(Unsolved(2, "x"))


def test_awaiting_unsolved_refuses_too():
    async def main():
        await Unsolved(3, "fetch")
    with pytest.raises(NotImplementedError, match="Exercise 3"):
        asyncio.run(main())


@pytest.mark.parametrize("broken, message", [
    (["markdown", "solution", "check"], "Markdown task tagged 'exercise'"),
    (["exercise", "solution", "plain"], "code tagged 'check'"),
])
def test_a_notebook_that_breaks_the_convention_is_refused(broken, message):
    cells = [new_markdown_cell("# 00 · T")]
    for role in broken:
        if role in ("exercise", "markdown"):
            cells.append(new_markdown_cell("task", metadata={"tags": [role]}))
        else:
            cells.append(new_code_cell("x = 1", metadata={"tags": [role]}))
    cells.append(new_code_cell("pass"))
    with pytest.raises(ValueError, match=message):
        student_edition(new_notebook(cells=cells))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_course_notebook_makes_an_edition_and_restores(path):
    course = nbformat.read(path, as_version=4)
    edition = student_edition(course)
    assert len(exercises(edition)) >= 1
    for _, solution, _ in exercises(edition):
        assert "Unsolved(" in edition.cells[solution].source
    restored = restore(edition, course)
    assert [c.source for c in restored.cells] == [c.source for c in course.cells]


def test_build_writes_one_edition_per_notebook(tmp_path):
    written = build(NOTEBOOK_DIR, tmp_path / "student")
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]


@pytest.mark.skipif(not os.environ.get("STUDENT_EDITION_DIR"),
                    reason="runs under `make student-check` (executes the whole edition)")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_check_of_the_edition_fails_until_solved(path):
    """Execute the edition: each check fails with the clear message, nothing else fails."""
    from nbclient import NotebookClient

    edition_path = Path(os.environ["STUDENT_EDITION_DIR"]) / path.name
    nb = nbformat.read(edition_path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    checks = {check for _, _, check in exercises(nb)}
    for index, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if index in checks:
            assert errors, f"cell {index}: the check passed although nothing is solved"
            assert NOT_SOLVED in errors[0]["evalue"], (
                f"cell {index}: the check failed without the clear message: "
                f"{errors[0]['ename']}: {errors[0]['evalue']}")
        else:
            assert not errors, f"cell {index} failed in the edition: {errors[0]['evalue']}"
