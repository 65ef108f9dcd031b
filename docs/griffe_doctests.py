"""Griffe extension for the API reference: show a docstring's doctest examples as Python code.

A ``>>>`` block in a docstring is plain text to Markdown, where its output (``array([[1, 2]])``)
reads as a link reference. This fences each block (up to the next blank line) as ``python`` code,
for the rendered page only; the docstrings themselves are unchanged.
"""

from __future__ import annotations

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with each run of lines starting at a ``>>>`` line, to the next blank line, fenced."""
    out: list[str] = []
    in_fence = in_block = False
    indent = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if in_block and not stripped:
            out += [indent + "```", line]
            in_block = False
            continue
        if not in_block and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_block and not in_fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + "```python")
            in_block = True
        out.append(line)
    if in_block:
        out.append(indent + "```")
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence the doctest blocks of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
