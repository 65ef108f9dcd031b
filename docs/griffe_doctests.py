"""Griffe extension for the API reference: docstrings written for Sphinx, rendered as Markdown.

A ``>>>`` block in a docstring is plain text to Markdown, where its output (``array([[1, 2]])``)
reads as a link reference: each block (up to the next blank line) is fenced as ``python`` code.
The reST roles the docstrings use become Markdown: ``:math:`x``` an inline formula, ``:class:`~a.B```
and its kin the name in code. This changes the rendered page only; the docstrings are unchanged.
"""

from __future__ import annotations

import re

import griffe

_MATH = re.compile(r":math:`(.+?)`", re.S)
_XREF = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([\w.]+)`")


def math_directives(text: str) -> str:
    """Each ``.. math::`` directive (its first line and the more indented lines after it) as ``\\[...\\]``."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(".. math::"):
            indent = line[: len(line) - len(line.lstrip())]
            body = [line.strip()[len(".. math::") :].strip()]
            i += 1
            while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > len(indent):
                body.append(lines[i].strip())
                i += 1
            out += [indent + "\\[", *(indent + b for b in body if b), indent + "\\]"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def markdown_roles(text: str) -> str:
    """``text`` with ``:math:`...``` as ``\\(...\\)`` and cross-reference roles as code."""
    text = math_directives(text)
    text = _MATH.sub(lambda m: "\\(" + " ".join(m.group(1).split()) + "\\)", text)  # one line: no list item
    return _XREF.sub(lambda m: "`" + (m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)) + "`", text)


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
            obj.docstring.value = markdown_roles(fence_doctests(obj.docstring.value))
