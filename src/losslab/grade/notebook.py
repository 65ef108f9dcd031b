"""Jupyter notebooks as submissions: their code cells, in order, as one Python source.

A notebook is read with nbformat (the ``classroom`` extra); outputs are ignored, and so
are Markdown and raw cells. IPython's magics (``%matplotlib inline``, ``%%time``) and
shell lines (``!pip install ...``) are not Python: each such line (a whole cell for a
cell magic) becomes a blank line, and the report notes what was removed. Line numbers
in the joined source map back to "cell N, line M", so that feedback points into the
notebook.

>>> nb = ('{"cells": [{"cell_type": "code", "id": "c1", "source": "%matplotlib inline\\\\nx = 1", '
...       '"metadata": {}, "outputs": [], "execution_count": null}], "metadata": {}, "nbformat": 4, '
...       '"nbformat_minor": 5}')
>>> code = from_notebook(nb.encode())
>>> code.source.splitlines(), code.removed, code.where(2)
(['', 'x = 1'], [(1, 1, '%matplotlib inline')], (1, 2))
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NotebookCode", "NotebookError", "from_notebook", "SUFFIX"]

SUFFIX = ".ipynb"


class NotebookError(ValueError):
    """A file that is not a notebook nbformat can read."""


@dataclass(frozen=True)
class NotebookCode:
    """The code of a notebook: the joined ``source``, what was ``removed`` (cell, line, text), and for each
    line of the source the (cell, line) it came from."""

    source: str
    removed: list = field(default_factory=list)
    origin: list = field(default_factory=list)

    def where(self, line: int) -> tuple[int, int] | None:
        """(cell, line in cell), both from 1, of line ``line`` of the joined source."""
        if 1 <= line <= len(self.origin):
            return self.origin[line - 1]
        return None


def _is_magic(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("%", "!"))


def _give_ids(notebook) -> None:
    """Give a cell of a notebook of format 4.5 or later that has no id, or another cell's, one of its own.

    Editors before nbformat 4.5 wrote no ids, and some still write the version without them. nbformat
    repairs them on its own with a warning on the grader's stderr, and says it will refuse such notebooks in
    a later version; the judge reads only the cells' code, so their ids are repaired here, quietly.
    """
    if (notebook.get("nbformat"), notebook.get("nbformat_minor", 0)) < (4, 5):
        return
    seen: set = set()
    for number, cell in enumerate(notebook.get("cells", [])):
        if not isinstance(cell, dict):
            return  # validation names what is wrong
        ident = cell.get("id")
        if not isinstance(ident, str) or ident in seen:
            ident = cell["id"] = next(i for k in itertools.count() if (i := f"cell-{number}-{k}") not in seen)
        seen.add(ident)


def _code_readable(notebook) -> bool:
    """Whether the cells the judge reads are sound: a list of cells, each with a type and a text source."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    return isinstance(cells, list) and all(
        isinstance(c, dict) and isinstance(c.get("cell_type"), str) and isinstance(c.get("source", ""), str)
        for c in cells
    )


def from_notebook(data: bytes) -> NotebookCode:
    """The code cells of the notebook ``data`` (its file's bytes); :class:`NotebookError` if it is not one,
    ``ImportError`` without nbformat."""
    try:
        import nbformat
    except ImportError as exc:
        raise ImportError("grading notebooks needs nbformat: pip install 'losslab[classroom]'") from exc
    notebook: Any = None
    try:
        notebook = nbformat.convert(nbformat.reader.reads(data.decode("utf-8")), 4)
        _give_ids(notebook)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises many kinds: JSON, schema, version
        # an output or metadata off the schema does not stop the grading (the judge reads the code cells only)
        if not isinstance(exc, nbformat.ValidationError) or not _code_readable(notebook):
            raise NotebookError(f"not a notebook nbformat can read ({type(exc).__name__}: {str(exc)[:200]})") from None
    lines, origin, removed = [], [], []
    number = 0
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        cell_lines = str(cell.get("source", "")).splitlines()
        whole = bool(cell_lines) and cell_lines[0].lstrip().startswith("%%")
        for i, text in enumerate(cell_lines, start=1):
            if whole or _is_magic(text):
                removed.append((number, i, text.strip()[:200]))
                text = ""
            lines.append(text)
            origin.append((number, i))
        lines.append("")  # a blank line between cells
        origin.append((number, len(cell_lines) + 1))
    return NotebookCode("\n".join(lines).rstrip("\n") + "\n" if lines else "", removed, origin)
