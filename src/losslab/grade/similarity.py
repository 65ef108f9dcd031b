"""Pairs of submissions whose code is suspiciously alike, with the fragments they share.

The comparison is copydetect's (the ``classroom`` extra), which implements MOSS's
winnowing: each source is tokenised with pygments and normalised (every name becomes
``V``, a function's name ``F``, a class's ``O``, a string ``S``; comments and whitespace
vanish), then cut into fingerprints, the hashes of its runs of ``k`` normalised
characters. Renaming variables, rewording comments, reformatting or reordering functions
leaves most fingerprints unchanged. A file's similarity to another is copydetect's
fraction of its fingerprinted code that the other file shares, so a pair has two numbers,
one each way; a pair is reported when either reaches ``threshold``.

The given template is not similarity: the lines of a submission whose code (spaces and
comments aside) is a template's line are blanked before fingerprinting (line numbers are
kept; a multi-line string counts as one line), the template's own fingerprints are ignored
(copydetect's ``boilerplate``), and so are the fingerprints that straddle a template line,
so that two fills of one skeleton do not match where the skeleton joins them. By default a
file's templates are those of the built-in exercises it implements.

The defaults suit files of a few dozen lines: ``k`` = 20 normalised characters (two or
three lines of code) leaves no pair among independent solutions of one exercise, where a
``k`` of 10 pairs them on the idioms they all share (``self.loss = loss``); ``window`` = 1
fingerprints every k-gram, which costs nothing at this size and makes the result exact and
independent of Python's string-hash seed; the threshold of 0.5 is met by copies
(near 1) and missed by independent solutions (near 0).

>>> ann = "def total(values):\\n    s = 0\\n    for v in values:\\n        s += v * v\\n    return s\\n"
>>> bob = ("def total(xs):  # sum of squares\\n    acc = 0\\n\\n"
...        "    for x in xs:\\n        acc += x * x\\n    return acc\\n")
>>> eve = "def total(values):\\n    return sum(v ** 2 for v in values)\\n"
>>> [(p.a, p.b, p.similarity_a, p.similarity_b) for p in similar_pairs({"ann.py": ann, "bob.py": bob, "eve.py": eve})]
[('ann.py', 'bob.py', 1.0, 1.0)]

Similar code is a reason to look, not a verdict: short exercises have few ways to be
written, and two students may share a textbook or a hint.
"""

from __future__ import annotations

import bisect
import io
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import catalog as catalog_module
from .notebook import SUFFIX as NOTEBOOK
from .notebook import from_notebook

__all__ = [
    "Fragment",
    "Pair",
    "similar_pairs",
    "read_source",
    "format_text",
    "to_json",
    "THRESHOLD",
    "K",
    "WINDOW",
    "MAX_CHARS",
]

THRESHOLD = 0.5  # report a pair when either file shares at least half of its fingerprinted code
K = 20  # the shortest match noticed, in normalised characters (a name counts as one): 2-3 lines
WINDOW = 1  # every k-gram is a fingerprint: exact on files this small, and independent of hash seeds
MAX_CHARS = 100_000  # a longer source (2,000 lines and more) is not compared: tokenising it would take seconds

_INSTALL = "the similarity report needs copydetect: pip install 'losslab[classroom]'"


@dataclass(frozen=True)
class Fragment:
    """A stretch of code found in both files: its first and last line (from 1) and its text in each file.
    ``where_a`` / ``where_b`` say where it is in words ("lines 3-9", or cells and lines for a notebook)."""

    lines_a: tuple[int, int]
    lines_b: tuple[int, int]
    text_a: str
    text_b: str
    where_a: str
    where_b: str

    def to_dict(self) -> dict:
        return {
            "a": {"lines": list(self.lines_a), "where": self.where_a, "text": self.text_a},
            "b": {"lines": list(self.lines_b), "where": self.where_b, "text": self.text_b},
        }


@dataclass(frozen=True)
class Pair:
    """Two submissions and how alike they are: ``similarity_a`` is the fraction of ``a``'s fingerprinted code
    that ``b`` shares, ``similarity_b`` the other way round (both in [0, 1])."""

    a: str
    b: str
    similarity_a: float
    similarity_b: float
    fragments: tuple[Fragment, ...]

    @property
    def similarity(self) -> float:
        """The larger of the two fractions: the pair's rank in the report."""
        return max(self.similarity_a, self.similarity_b)

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "similarity_a": round(self.similarity_a, 4),
            "similarity_b": round(self.similarity_b, 4),
            "fragments": [f.to_dict() for f in self.fragments],
        }


@dataclass(frozen=True)
class _Code:
    """One source ready to compare: its text, its fingerprint (of the text with its template lines blanked),
    the first and last line of what each normalised character stands for (None if unknown), where the
    template's lines cut the normalised code into segments, and for a notebook the (cell, line) of each
    line."""

    name: str
    text: str
    fingerprint: Any  # a copydetect.CodeFingerprint (copydetect is an optional extra, without type information)
    first_line: list | None
    last_line: list | None
    breaks: list
    origin: list | None

    def segment(self, at: int) -> tuple[int, int]:
        """The bounds of the segment (code between two template lines) holding normalised character ``at``."""
        i = bisect.bisect_right(self.breaks, at)
        end = self.breaks[i] if i < len(self.breaks) else len(self.first_line or ())
        return (self.breaks[i - 1] if i else 0), end


def _copydetect():
    try:
        import copydetect
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return copydetect


# --------------------------------------------------------------------------- reading and templates


def read_source(name: str, data: str | bytes) -> str:
    """The Python source of submission ``name``: a notebook's code cells (``.ipynb``), else the text
    (bytes are read as UTF-8, undecodable bytes replaced). Raises ``ValueError`` for a notebook
    nbformat cannot read or a source longer than :data:`MAX_CHARS`, ``ImportError`` without nbformat."""
    return _read(name, data)[0]


def _read(name: str, data: str | bytes) -> tuple[str, list | None]:
    if name.endswith(NOTEBOOK):
        code = from_notebook(data.encode("utf-8") if isinstance(data, str) else data)
        text, origin = code.source, code.origin
    else:
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        text, origin = text.replace("\r\n", "\n").replace("\r", "\n"), None  # lines as Python counts them
    if len(text) > MAX_CHARS:
        raise ValueError(f"{len(text)} characters of code, more than the {MAX_CHARS} compared")
    return text, origin


def _exercises(text: str, catalog) -> list[str]:
    """The exercises of ``catalog`` that ``text`` implements; none when it does not parse."""
    try:
        return catalog.detect(text)
    except (SyntaxError, ValueError):
        return []


_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def _units(text: str) -> list[tuple[int, int, str]]:
    """(first line, last line, code) of each line of ``text`` that holds code, the code being its tokens without
    spaces or comments; a token over several lines (a docstring) makes its lines one unit. Each line's text
    without spaces when ``text`` does not tokenize."""
    units: list[list] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in _NOT_CODE:
                continue
            piece = "".join(tok.string.split())
            if units and tok.start[0] <= units[-1][1]:
                units[-1][1] = max(units[-1][1], tok.end[0])
                units[-1][2] += piece
            else:
                units.append([tok.start[0], tok.end[0], piece])
    except (tokenize.TokenError, SyntaxError):
        return [(i, i, "".join(line.split())) for i, line in enumerate(text.split("\n"), start=1) if line.strip()]
    return [(first, last, code) for first, last, code in units]


def _blank(text: str, template_units: frozenset[str]) -> tuple[str, frozenset[int]]:
    """``text`` with the lines whose code (spaces and comments aside) is a template's made empty, and their
    numbers."""
    lines = text.split("\n")
    blanked: set[int] = set()
    for first, last, unit in _units(text):
        if unit and unit in template_units:
            blanked.update(range(first, last + 1))
    kept = ["" if i in blanked else line for i, line in enumerate(lines, start=1)]
    return "\n".join(kept), frozenset(blanked)


# --------------------------------------------------------------------------- fingerprints


def _normalised_spans(code: str):
    """copydetect's normalisation of ``code`` (as in ``copydetect.utils.filter_code``) with, for each
    normalised character, the start and end in ``code`` of what it stands for."""
    from pygments import lexers, token

    out, starts, ends = [], [], []
    names = {token.Name, token.Name.Variable, token.Name.Attribute}
    for at, kind, value in lexers.get_lexer_by_name("python").get_tokens_unprocessed(code):
        if (
            kind in names
            or kind in token.Name.Function
            or kind in token.Name.Class
            or kind in (token.Comment.Preproc, token.Comment.Hashbang)
        ):
            pieces = [
                (
                    (
                        "V"
                        if kind in names
                        else "F"
                        if kind in token.Name.Function
                        else "O"
                        if kind in token.Name.Class
                        else "P"
                    ),
                    at,
                    at + len(value),
                )
            ]
        elif kind in token.Text or kind in token.Comment:
            pieces = []
        elif kind in token.Literal.String:
            pieces = [('"' if value in ("'", '"') else "S", at, at + len(value))]
        else:
            pieces = [(ch, at + i, at + i + 1) for i, ch in enumerate(value)]
        for ch, start, end in pieces:
            out.append(ch)
            starts.append(start)
            ends.append(end)
    return "".join(out), starts, ends


def _prepare(name: str, text: str, origin, template_units: frozenset[str], boilerplate, k: int, window: int) -> _Code:
    """Blank ``text``'s template lines, then fingerprint it, ignoring the template's fingerprints and those
    that straddle a blanked template line (code before and after the template's lines is not one stretch)."""
    copydetect = _copydetect()
    from copydetect.utils import hashed_kgrams

    blanked, template_lines = _blank(text, template_units)
    normalised, starts, ends = _normalised_spans(blanked)
    newlines = [i for i, ch in enumerate(blanked) if ch == "\n"]
    first = [bisect.bisect_right(newlines, at - 1) + 1 for at in starts]
    last = [bisect.bisect_right(newlines, at - 2) + 1 for at in ends]
    skipped = sorted(template_lines)
    breaks = [
        i
        for i in range(1, len(first))
        if first[i] - last[i - 1] > 1
        and bisect.bisect_left(skipped, first[i]) > bisect.bisect_right(skipped, last[i - 1])
    ]
    hashes = hashed_kgrams(normalised, k)
    straddling = {int(hashes[i]) for b in breaks for i in range(max(b - k + 1, 0), min(b, len(hashes)))}
    fingerprint = copydetect.CodeFingerprint(
        name, k, window, boilerplate=sorted(set(boilerplate) | straddling), fp=io.StringIO(blanked), language="python"
    )
    if normalised != fingerprint.filtered_code:  # another copydetect normalisation: no line numbers
        return _Code(name, text, fingerprint, None, None, [], origin)
    return _Code(name, text, fingerprint, first, last, breaks, origin)


def _check(threshold: float, k: int, window: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(
            f"threshold must be a number in (0, 1], the fraction of fingerprints shared; got {threshold!r}"
        )
    for label, value in (("k", k), ("window", window)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be an integer of at least 1, got {value!r}")


def similar_pairs(
    sources: Mapping[str, str | bytes],
    *,
    template: str | Sequence[str] | None = None,
    exercises: Sequence[str] | None = None,
    threshold: float = THRESHOLD,
    k: int = K,
    window: int = WINDOW,
    catalog=None,
) -> list[Pair]:
    """The pairs of ``sources`` (name -> source text, or a file's bytes; ``.ipynb`` names are notebooks)
    whose similarity one way or the other is at least ``threshold``, most similar first.

    Ignored in each file: ``template`` (code every student was given: a source, or several) and
    the templates of the ``exercises`` (of ``catalog``, default the built-in ones): by default those
    the file implements (for a file that implements none, those of every exercise found among the
    sources); ``()`` for none.
    ``k``: the shortest match noticed, in normalised characters; ``window``: copydetect's
    winnowing window (1 keeps every fingerprint). A notebook nbformat cannot read and a source
    longer than :data:`MAX_CHARS` are left out (:func:`read_source` says why). Raises ``ValueError``
    for a bad option or exercise name, and ``ImportError`` without copydetect.
    """
    _check(threshold, k, window)
    catalog = catalog or catalog_module.BUILTIN
    if not isinstance(sources, Mapping):
        raise TypeError(f"sources must be a mapping of names to source texts, got {type(sources).__name__}")
    given = [template] if isinstance(template, str) else list(template or ())
    for i, text in enumerate(given):
        if not isinstance(text, str):
            raise TypeError(f"template must be a source text or a sequence of them; item {i} is {type(text).__name__}")
    if exercises is not None:
        try:
            builtin = [catalog.get(name).template() for name in exercises]
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    copydetect = _copydetect()
    texts = {}
    for name, data in sources.items():
        if not isinstance(data, (str, bytes)):
            raise TypeError(f"sources[{name!r}] must be str or bytes, got {type(data).__name__}")
        try:
            texts[name] = _read(name, data)
        except ValueError:
            continue
    found = {name: _exercises(text, catalog) for name, (text, _) in texts.items()} if exercises is None else {}
    everywhere = [e for e in catalog.names() if any(e in names for names in found.values())]
    ignored: dict[tuple, tuple[frozenset[str], set[int]]] = {}

    # the template lines and fingerprints to ignore, once per set of exercises
    def ignore(names: tuple) -> tuple[frozenset[str], set[int]]:
        if names not in ignored:
            templates = given + (builtin if exercises is not None else [catalog.get(e).template() for e in names])
            units = frozenset(u for t in templates for _, _, u in _units(t) if u)
            hashes = {
                int(h)
                for t in templates
                for h in copydetect.CodeFingerprint(
                    "template.py", k, window, fp=io.StringIO(t), language="python"
                ).hashes
            }
            ignored[names] = units, hashes
        return ignored[names]

    codes = [
        _prepare(name, text, origin, *ignore(tuple(found.get(name) or everywhere)), k, window)
        for name, (text, origin) in sorted(texts.items())
    ]
    pairs = []
    for i, one in enumerate(codes):
        for other in codes[i + 1 :]:
            _, (sim_a, sim_b), _ = copydetect.compare_files(one.fingerprint, other.fingerprint)
            if max(sim_a, sim_b) >= threshold:
                pairs.append(Pair(one.name, other.name, float(sim_a), float(sim_b), _fragments(one, other, k)))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


# --------------------------------------------------------------------------- shared fragments


def _fragments(one: _Code, other: _Code, k: int) -> tuple[Fragment, ...]:
    """The stretches of code both files share, cut where the template's lines come between, each with the
    stretch of the other file that most of its fingerprints point to."""
    if one.first_line is None or one.last_line is None or other.first_line is None or other.last_line is None:
        return ()  # a file's first_line and last_line are None together: no line numbers
    from copydetect.utils import find_fingerprint_overlap, get_copied_slices

    fa, fb = one.fingerprint, other.fingerprint
    idx_a, idx_b = find_fingerprint_overlap(fa.hashes, fb.hashes, fa.hash_idx, fb.hash_idx)
    slices_a, slices_b = (get_copied_slices(idx, k).astype(int).tolist() for idx in (idx_a, idx_b))

    def stretch(code, slices, at):  # the copied slice holding ``at``, within its segment
        i = bisect.bisect_right(slices[0], at) - 1
        low, high = code.segment(at)
        return max(slices[0][i], low), min(slices[1][i], high)

    votes: dict[tuple, dict[tuple, int]] = {}
    for h in fa.hashes & fb.hashes:
        partners = [stretch(other, slices_b, ib) for ib in fb.hash_idx[h][:8]]  # enough to vote on
        for ia in fa.hash_idx[h]:
            tally = votes.setdefault(stretch(one, slices_a, ia), {})
            for partner in partners:
                tally[partner] = tally.get(partner, 0) + 1
    found = []
    for mine in sorted(votes):
        theirs = max(votes[mine], key=lambda s: (votes[mine][s], -s[0]))
        lines_a = (one.first_line[mine[0]], one.last_line[mine[1] - 1])
        lines_b = (other.first_line[theirs[0]], other.last_line[theirs[1] - 1])
        found.append(
            Fragment(
                lines_a,
                lines_b,
                _text(one, lines_a),
                _text(other, lines_b),
                _where(one, lines_a),
                _where(other, lines_b),
            )
        )
    return tuple(found)


def _text(code: _Code, lines: tuple[int, int]) -> str:
    """The submission's own lines (as written, template lines included) from ``lines[0]`` to ``lines[1]``."""
    return "\n".join(code.text.split("\n")[lines[0] - 1 : lines[1]])


def _where(code: _Code, lines: tuple[int, int]) -> str:
    first, last = lines
    if code.origin is None or len(code.origin) < last:
        return f"line {first}" if first == last else f"lines {first}-{last}"
    (c1, l1), (c2, l2) = code.origin[first - 1], code.origin[last - 1]
    if c1 == c2:
        return f"cell {c1}, line {l1}" if l1 == l2 else f"cell {c1}, lines {l1}-{l2}"
    return f"cell {c1} line {l1} to cell {c2} line {l2}"


# --------------------------------------------------------------------------- formatting

_WORDS = {
    "en": {
        "none": "No similar submissions among {n} files (threshold {t:.0%}).",
        "head": "Similar submissions: {count} pair(s) at or above {t:.0%} of fingerprints shared. Similar "
        "code is a reason to look, not a verdict.",
        "pair": "{a} <-> {b}: {sa:.0%} of {a} is in {b}, {sb:.0%} of {b} is in {a}",
        "more_lines": "... ({n} more lines)",
        "more_fragments": "... and {n} more shared fragment(s)",
        "left_out": "not compared:",
    },
    "zh": {
        "none": "{n} 个文件中没有相似的提交(阈值 {t:.0%})。",
        "head": "相似的提交:共 {count} 对,共享指纹不低于 {t:.0%}。代码相似只是值得查看的理由,不是结论。",
        "pair": "{a} <-> {b}:{a} 的 {sa:.0%} 出现在 {b} 中,{b} 的 {sb:.0%} 出现在 {a} 中",
        "more_lines": "……(还有 {n} 行)",
        "more_fragments": "……还有 {n} 处共享片段",
        "left_out": "未参与比较:",
    },
}


def _excerpt(text: str, first: int, max_lines: int, words: dict) -> list[str]:
    lines = text.splitlines()
    shown = [f"      {first + i:>4} | {line}" for i, line in enumerate(lines[:max_lines])]
    if len(lines) > max_lines:
        shown.append("             " + words["more_lines"].format(n=len(lines) - max_lines))
    return shown


def format_text(
    pairs: Sequence[Pair],
    *,
    files: int | None = None,
    threshold: float = THRESHOLD,
    lang: str = "en",
    max_fragments: int = 4,
    max_lines: int = 6,
    left_out: Mapping[str, str] | None = None,
) -> str:
    """The report as text: one block per pair (the two files, the similarity both ways, then up to
    ``max_fragments`` shared fragments, each with its lines in both files and up to ``max_lines`` lines of
    each). ``files``: how many files were compared, said when no pair is reported; ``left_out``: the files
    not compared, with the reason."""
    words = _WORDS["zh" if lang == "zh" else "en"]
    out = [f"{words['left_out']} {name} ({why})" for name, why in (left_out or {}).items()]
    if not pairs:
        return "\n".join(out + [words["none"].format(n="?" if files is None else files, t=threshold)])
    out.append(words["head"].format(count=len(pairs), t=threshold))
    for pair in pairs:
        out += ["", words["pair"].format(a=pair.a, b=pair.b, sa=pair.similarity_a, sb=pair.similarity_b)]
        for fragment in pair.fragments[:max_fragments]:
            out.append(f"  {pair.a} {fragment.where_a}  ~  {pair.b} {fragment.where_b}")
            out += _excerpt(fragment.text_a, fragment.lines_a[0], max_lines, words)
            out.append("      " + "-" * 8)
            out += _excerpt(fragment.text_b, fragment.lines_b[0], max_lines, words)
        if len(pair.fragments) > max_fragments:
            out.append("  " + words["more_fragments"].format(n=len(pair.fragments) - max_fragments))
    return "\n".join(out)


def to_json(pairs: Sequence[Pair]) -> list[dict]:
    """The pairs as JSON-ready data: names, both similarities, and each fragment's lines and text."""
    return [p.to_dict() for p in pairs]
