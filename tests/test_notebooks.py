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
    markdown = "\n".join(_source(c) for c in nb.cells if c.cell_type == "markdown")
    assert "## Summary" in markdown
    assert "## What's next" in markdown
    assert "## Exercises" in markdown
    last_markdown = [c for c in nb.cells if c.cell_type == "markdown"][-1]
    assert NAV.search(_source(last_markdown)), "navigation line at the bottom too"


def test_solutions_are_tagged_and_collapsed(nb):
    solutions = [c for c in nb.cells
                 if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
    assert solutions, "at least one exercise solution (tag 'solution')"
    for cell in solutions:
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True
        assert "assert" in _source(cell), "a solution asserts its result"


def test_server_started_first_and_stopped_last(nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert "start_local_api" in _source(code[0])
    assert ".stop()" in _source(code[-1])
