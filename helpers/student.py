"""The student edition: every notebook with each exercise's solution replaced by a stub.

``python -m helpers.student notebooks student`` (``make student``) writes ``student/``. The
transform is deterministic and driven by the cell tags STYLE.md asks for: a Markdown task
tagged ``exercise``, a code cell tagged ``solution``, and a code cell tagged ``check``. In the
edition:

- each ``solution`` cell becomes a stub that names the variables the check reads and binds
  each of them to :class:`Unsolved`, so running the check before solving the exercise fails
  with a message that says what to do (not with a puzzling ``TypeError`` about ``None``);
- the ``solution`` cell's input is shown (not collapsed) so the learner can type into it;
- the outputs of ``solution`` and ``check`` cells are cleared;
- everything else is exactly as in the course, checks included.

:func:`restore` puts the course's solutions back into an edition; the tests prove that this
gives the course notebooks again, and that every check of the edition fails until solved.
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
from pathlib import Path
from typing import Any, NoReturn

import nbformat

STUB_MARKER = "# Exercise {number}: write your solution here"


class Unsolved:
    """A placeholder that refuses every use with one clear message.

    The stub binds each name the check reads to an ``Unsolved``; whatever the check does with
    it first (compare, call, index, iterate, await, take its length or truth) raises
    :class:`NotImplementedError` naming the exercise and the variable.
    """

    __slots__ = ("_message",)

    def __init__(self, number: int, name: str) -> None:
        object.__setattr__(
            self, "_message",
            f"Exercise {number} is not solved yet: `{name}` is still the stub's placeholder. "
            "Write your solution in the cell above, run it, then run this check again.",
        )

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(object.__getattribute__(self, "_message"))

    def __getattr__(self, name: str) -> NoReturn:
        self._refuse()

    def __repr__(self) -> str:
        return "<unsolved: " + object.__getattribute__(self, "_message") + ">"

    __call__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __len__ = __bool__ = __iter__ = __getitem__ = __contains__ = __await__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __float__ = __int__ = __index__ = __hash__ = _refuse
    __aenter__ = __enter__ = __aiter__ = _refuse


def _source(cell: nbformat.NotebookNode) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _top_level_nodes(tree: ast.AST):
    """Every node of a cell that runs in the notebook's namespace (not inside a def/class)."""
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def bound_names(source: str) -> set[str]:
    """Names a cell binds in the notebook's namespace: assignments, defs, imports, targets."""
    names: set[str] = set()
    for node in _top_level_nodes(ast.parse(source)):  # top-level await parses fine
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def read_names(source: str) -> list[str]:
    """Names a cell reads, in the order they appear."""
    loads = [n for n in ast.walk(ast.parse(source))
             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    loads.sort(key=lambda n: (n.lineno, n.col_offset))
    return list(dict.fromkeys(n.id for n in loads))


def exercises(nb: nbformat.NotebookNode) -> list[tuple[int, int, int]]:
    """(task, solution, check) cell indices of every exercise, checked against STYLE.md."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "solution" not in cell.metadata.get("tags", []):
            continue
        if not (0 < i < len(nb.cells) - 1):
            raise ValueError(f"cell {i}: a solution needs a task before it and a check after it")
        task, check = nb.cells[i - 1], nb.cells[i + 1]
        if "exercise" not in task.metadata.get("tags", []) or task.cell_type != "markdown":
            raise ValueError(f"cell {i - 1}: the cell before a solution must be a Markdown task "
                             "tagged 'exercise'")
        if "check" not in check.metadata.get("tags", []) or check.cell_type != "code":
            raise ValueError(f"cell {i + 1}: the cell after a solution must be code tagged 'check'")
        found.append((i - 1, i, i + 1))
    return found


def _imports(source: str) -> tuple[list[str], set[str]]:
    """The solution's top-level import lines (kept in the stub: they are not the answer)."""
    tree = ast.parse(source)
    lines, names = [], set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            lines.append(ast.get_source_segment(source, node) or ast.unparse(node))
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return lines, names


def stub(number: int, solution: str, check: str) -> str:
    """The code a learner starts from: the solution's imports, and each name the check reads
    bound to :class:`Unsolved`."""
    import_lines, imported = _imports(solution)
    names = [n for n in read_names(check) if n in bound_names(solution) and n not in imported]
    if not names:
        raise ValueError(f"exercise {number}: the check reads nothing the solution defines")
    lines = [STUB_MARKER.format(number=number) + ".",
             "# The check below reads: " + ", ".join(names) + ".",
             "from helpers.student import Unsolved", *import_lines, ""]
    lines += [f"{name} = Unsolved({number}, {name!r})" for name in names]
    return "\n".join(lines)


def _clear(cell: nbformat.NotebookNode) -> None:
    cell.outputs = []
    cell.execution_count = None


def student_edition(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every solution stubbed and exercise outputs cleared."""
    edition = copy.deepcopy(nb)
    for number, (_, solution, check) in enumerate(exercises(edition), start=1):
        cell = edition.cells[solution]
        cell.source = stub(number, _source(cell), _source(edition.cells[check]))
        cell.metadata.get("jupyter", {}).pop("source_hidden", None)
        if cell.metadata.get("jupyter") == {}:
            del cell.metadata["jupyter"]
        _clear(cell)
        _clear(edition.cells[check])
    return edition


def restore(edition: nbformat.NotebookNode, course: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Put the course's solutions back into an edition (its inverse, outputs aside)."""
    restored = copy.deepcopy(edition)
    for (_, solution, _), (_, original, _) in zip(
        exercises(restored), exercises(course), strict=True
    ):
        restored.cells[solution].source = _source(course.cells[original])
        restored.cells[solution].metadata = copy.deepcopy(course.cells[original].metadata)
    return restored


def build(source_dir: Path, out_dir: Path) -> list[Path]:
    """Write the edition of every ``NN_*.ipynb`` in ``source_dir`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("[0-9][0-9]_*.ipynb")):
        target = out_dir / path.name
        nbformat.write(student_edition(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.student", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the course's notebooks folder")
    parser.add_argument("out", type=Path, help="where the student edition goes")
    args = parser.parse_args(argv)
    try:
        written = build(args.source, args.out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
