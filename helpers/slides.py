"""Slide metadata for every notebook, computed from its structure, so any notebook can be presented.

A classroom walkthrough presents the notebooks as slides (RISE in JupyterLab, or the reveal.js
HTML that ``make slides`` builds). Writing ``slideshow`` metadata by hand in ten notebooks drifts
the moment a cell is added, so it is derived from the course's own conventions (STYLE.md):

- the title cell and every Markdown cell that opens a ``##`` section start a new **slide**;
- every other Markdown cell (one idea each) starts a **sub-slide** below its section;
- a short code cell right after it appears as a **fragment** on the same sub-slide, a long one
  (more than ``LONG_CODE`` lines) gets a sub-slide of its own so it fits the screen;
- exercise solutions and checks are **skipped** (the task is shown; the answer is not), and so
  is the last cell that stops the server.

``python -m helpers.slides notebooks`` rewrites the metadata in place; ``--check`` only reports
notebooks whose metadata is stale (the test suite runs that).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

LONG_CODE = 14
HIDDEN_TAGS = {"solution", "check"}


def slide_type(cells: list[nbformat.NotebookNode], index: int) -> str:
    """The reveal.js role of ``cells[index]``: slide, subslide, fragment, skip or ``-``."""
    cell = cells[index]
    source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    tags = set(cell.get("metadata", {}).get("tags", []))
    if index == 0:
        return "slide"
    if tags & HIDDEN_TAGS:
        return "skip"
    if cell.cell_type == "markdown":
        return "slide" if source.lstrip().startswith("## ") else "subslide"
    if cell.cell_type != "code":
        return "-"
    code_indices = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    if index == code_indices[-1] and source.strip().endswith(".stop()"):
        return "skip"
    if len(source.strip().splitlines()) > LONG_CODE:
        return "subslide"
    previous = cells[index - 1]
    return "fragment" if previous.cell_type == "markdown" else "-"


def apply(nb: nbformat.NotebookNode) -> bool:
    """Set every cell's ``slideshow.slide_type``; True if anything changed."""
    changed = False
    for index, cell in enumerate(nb.cells):
        wanted = slide_type(nb.cells, index)
        slideshow = cell.metadata.setdefault("slideshow", {})
        if slideshow.get("slide_type") != wanted:
            slideshow["slide_type"] = wanted
            changed = True
    return changed


def stale(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of cells whose slide metadata is not what :func:`slide_type` computes."""
    return [i for i, cell in enumerate(nb.cells)
            if cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
            != slide_type(nb.cells, i)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.slides", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+", help="notebooks or folders of notebooks")
    parser.add_argument("--check", action="store_true",
                        help="report stale metadata, change nothing")
    args = parser.parse_args(argv)
    failed = False
    for target in args.targets:
        path = Path(target)
        paths = sorted(path.glob("[0-9][0-9]_*.ipynb")) if path.is_dir() else [path]
        for nb_path in paths:
            nb = nbformat.read(nb_path, as_version=4)
            if args.check:
                cells = stale(nb)
                if cells:
                    failed = True
                    print(f"{nb_path}: stale slide metadata in cells {cells}; "
                          "run: python -m helpers.slides notebooks")
            elif apply(nb):
                nbformat.write(nb, nb_path)
                print(f"{nb_path}: slide metadata updated")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
