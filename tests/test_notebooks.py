"""Hygiene of every stored notebook: clean outputs (helpers.notebooks) and STYLE.md's shape."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from helpers.notebooks import problems

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
NAV = re.compile(r"\[Contents\]\(\.\./README\.md#contents\)")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.fixture(params=NOTEBOOKS, ids=_ids(NOTEBOOKS))
def nb(request) -> nbformat.NotebookNode:
    notebook = nbformat.read(request.param, as_version=4)
    notebook.metadata["_path"] = request.param
    return notebook


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def test_there_are_notebooks():
    if not NOTEBOOKS:
        pytest.skip("no notebook stored yet")


def test_stored_outputs_are_clean(nb):
    assert problems(nb) == []


def test_first_cell_opens_the_lesson(nb):
    path: Path = nb.metadata["_path"]
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    text = _source(first)
    number = path.name[:2]
    assert re.match(rf"# {number}\b", text), "the title must be '# NN · Title'"
    assert NAV.search(text), "navigation line with [Contents](../README.md#contents)"
    for heading in ("## Overview", "## Prerequisites"):
        assert heading in text, heading
    assert re.search(r"\*\*Time to learn:\*\*\s*\d+ minutes", text), "**Time to learn:** N minutes"


def test_closing_sections_and_navigation(nb):
    headings = [_source(c).lstrip().split("\n", 1)[0] for c in nb.cells
                if c.cell_type == "markdown"]
    for heading in ("## Summary", "## What's next", "## Exercises",
                    "## Resources and references"):
        assert heading in headings, f"{heading!r} opens a Markdown cell of its own"
    last_markdown = [c for c in nb.cells if c.cell_type == "markdown"][-1]
    assert NAV.search(_source(last_markdown)), "navigation line at the bottom too"


def test_exercises_are_task_solution_check(nb):
    """STYLE.md: a task (tag exercise), a collapsed solution (tag solution), then its check."""
    cells = nb.cells
    solutions = [i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", [])]
    assert solutions, "at least one exercise solution (tag 'solution')"
    for i in solutions:
        cell = cells[i]
        assert cell.cell_type == "code"
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, f"cell {i}"
        assert "assert" not in _source(cell), f"cell {i}: the solution asserts nothing"
        task, check = cells[i - 1], cells[i + 1]
        assert task.cell_type == "markdown" and "exercise" in task.metadata.get("tags", []), (
            f"cell {i - 1}: the task before a solution is Markdown tagged 'exercise'")
        assert check.cell_type == "code" and "check" in check.metadata.get("tags", []), (
            f"cell {i + 1}: the cell after a solution is code tagged 'check'")
        assert "assert" in _source(check), f"cell {i + 1}: a check asserts the result"
    tagged = [c for c in cells if {"exercise", "check"} & set(c.metadata.get("tags", []))]
    assert len(tagged) == 2 * len(solutions), "every exercise and check belongs to a solution"


SESSION_CALL = re.compile(r"\b(aiohttp\.ClientSession|requests\.Session|httpx\.(Async)?Client)\(")


def _call_arguments(source: str, open_paren: int) -> str:
    depth = 0
    for j in range(open_paren, len(source)):
        depth += {"(": 1, ")": -1}.get(source[j], 0)
        if depth == 0:
            return source[open_paren + 1 : j]
    return source[open_paren + 1 :]


def test_sessions_carry_the_client_name(nb):
    """STYLE.md: every session the notebooks open sends CLIENT_HEADERS (the dashboard's key)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = _source(cell)
        for match in SESSION_CALL.finditer(source):
            arguments = _call_arguments(source, match.end() - 1)
            assert "headers" in arguments, (
                f"cell {i}: {match.group(0)}...) sends no headers=CLIENT_HEADERS")



IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
CAPTION = re.compile(r"\*Figure (\d+)\.\s+\S")


def _images(cell) -> list[str]:
    """The image MIME types a code cell stores, one entry per image output."""
    if cell.cell_type != "code":
        return []
    return [mime for output in cell.get("outputs", [])
            for mime in IMAGE_TYPES if mime in output.get("data", {})]


def figure_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """What breaks issue 9's rules for stored figures (empty when nothing does).

    nbval ignores PNG bytes but compares SVG text, so no figure may be stored as SVG. The
    Markdown cell right after a figure's cell starts with ``*Figure N.``, N counting from 1;
    one figure per cell, so that every image has a caption of its own; and no caption stands
    where there is no figure.
    """
    cells = notebook.cells
    problems: list[str] = []
    figures = 0
    for i, cell in enumerate(cells):
        images = _images(cell)
        if "image/svg+xml" in images:
            problems.append(f"cell {i}: a figure stored as SVG (store PNG)")
        if images:
            figures += 1
            if len(images) > 1:
                problems.append(f"cell {i} stores {len(images)} images: draw them as one figure "
                                "(subplots) or split the cell, so each has its caption")
            after = cells[i + 1] if i + 1 < len(cells) else None
            if after is None or after.cell_type != "markdown":
                problems.append(f"cell {i}: a figure, and no Markdown caption cell right after it")
                continue
            match = CAPTION.match(_source(after).lstrip())
            if not match:
                problems.append(f"cell {i + 1}: the caption of cell {i}'s figure must start "
                                f"with '*Figure {figures}. '")
            elif int(match.group(1)) != figures:
                problems.append(f"cell {i + 1}: Figure {match.group(1)}, expected Figure {figures}")
        elif cell.cell_type == "markdown" and CAPTION.match(_source(cell).lstrip()):
            if i == 0 or not _images(cells[i - 1]):
                problems.append(f"cell {i}: a figure caption with no stored figure right before it")
    return problems


def test_every_figure_has_a_caption_and_none_is_svg(nb):
    """Issue 9: a figure is evidence, with a caption that says what to look for (its alt text)."""
    assert figure_problems(nb) == []


def _figure_cell(*mimes: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("fig")
    cell.outputs = [nbformat.v4.new_output("display_data", data={m: "x", "text/plain": "<Figure>"})
                    for m in mimes]
    return cell


@pytest.mark.parametrize(("cells", "problem"), [
    ([_figure_cell("image/png"), nbformat.v4.new_markdown_cell("*Figure 1. Lanes.*")], None),
    ([_figure_cell("image/png"), nbformat.v4.new_markdown_cell("*Figure 1. A.*"),
      _figure_cell("image/png"), nbformat.v4.new_markdown_cell("*Figure 2. B.*")], None),
    ([_figure_cell("image/png")], "no Markdown caption"),
    ([_figure_cell("image/png"), nbformat.v4.new_code_cell("x = 1")], "no Markdown caption"),
    ([_figure_cell("image/png"), nbformat.v4.new_markdown_cell("The figure shows lanes.")],
     "must start with '*Figure 1. '"),
    ([_figure_cell("image/png"), nbformat.v4.new_markdown_cell("*Figure 2. Lanes.*")],
     "expected Figure 1"),
    ([_figure_cell("image/svg+xml"), nbformat.v4.new_markdown_cell("*Figure 1. A*")],
     "SVG"),
    ([_figure_cell("image/png", "image/png"), nbformat.v4.new_markdown_cell("*Figure 1. A*")],
     "stores 2 images"),
    ([nbformat.v4.new_markdown_cell("*Figure 1. Nothing above.*")], "no stored figure"),
])
def test_figure_problems_finds_each_broken_rule(cells, problem):
    found = figure_problems(nbformat.v4.new_notebook(cells=cells))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found
