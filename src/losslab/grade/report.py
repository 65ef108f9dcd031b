"""Put grading reports into words: one line per check, a table per directory, CSV and JSON.

>>> from losslab.grade.checks import Check
>>> from losslab.grade._i18n import Msg
>>> check = Check("loss-forward", "MeanSquaredError.forward", Msg("case.batch1", {"shape": (1, 4)}), False,
...               Msg("reason.mismatch", {"expected": "1.5", "got": "3"}), "mse_no_half")
>>> print(check_line(check, "en", 7))
  FAIL  MeanSquaredError.forward: batch size 1, shape (1, 4) -- expected 1.5, got 3;
  likely mistake: dropped the 0.5: E = 0.5 * sum((y - t)**2)  [seed 7]
"""

from __future__ import annotations

import csv
import os
import unicodedata
from collections.abc import Sequence

from ._i18n import say
from .checks import Check
from .grader import FileReport
from .sandbox import printable

__all__ = [
    "check_line",
    "file_lines",
    "table_rows",
    "format_table",
    "write_csv",
    "to_json",
    "reproduce_command",
    "student_id",
    "failure_text",
]

COLUMNS = (
    "student",
    "file",
    "exercise",
    "passed",
    "checks",
    "score",
    "max_score",
    "result",
    "first_failure",
    "isolation",
)
TABLE = ("file", "exercise", "passed", "checks", "score", "result", "first_failure")


def failure_text(check: Check, lang: str) -> str:
    """Why ``check`` failed, and the likely mistake when one is named."""
    text = check.reason.text(lang) if check.reason is not None else ""
    mistake = check.mistake_text(lang)
    if mistake is not None:
        text += say("word.likely", lang) + mistake
    return text


def check_line(check: Check, lang: str = "en", seed: int | None = None) -> str:
    """``PASS``/``FAIL``, the function tested, what was tested; on failure why, the likely mistake, the seed."""
    word = say("word.pass" if check.passed else "word.fail", lang)
    line = f"  {word}  {check.target}: {check.case.text(lang)}"
    if check.advisory:
        line += say("word.advisory", lang)
    if check.points != 1:
        line += say("word.points", lang, points=_num(check.points))
    if check.visibility == "hidden":
        return line + say("word.hidden", lang)
    if check.passed:
        return line
    line += f" -- {failure_text(check, lang)}"
    if seed is not None:
        line += f"  [{say('word.seed', lang)} {seed}]"
    return line


def _num(x: float) -> str:
    return f"{x:g}"


def student_id(path: str, pattern: str | None = None) -> str:
    """The student a file belongs to: the first group (or the whole match) of ``pattern`` searched in the
    file's name, else the name without its suffix.

    >>> student_id("hw3_2024001234_zhang.py", r"\\d{10}"), student_id("alice.ipynb")
    ('2024001234', 'alice')
    """
    import re

    name = os.path.basename(path)
    if pattern:
        match = re.search(pattern, name)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return os.path.splitext(name)[0]


def reproduce_command(report: FileReport, exercise_folders: Sequence[str] = ()) -> str:
    """The command that grades the file again with the same inputs; ``exercise_folders`` are the run's
    ``--exercises`` folders, which a teacher's own exercise needs to be found again."""
    import shlex

    names = " ".join(f"--exercise {e.exercise}" for e in report.exercises)
    folders = "".join(f" --exercises {shlex.quote(printable(str(d), 1000))}" for d in exercise_folders)
    return (
        f"losslab grade {shlex.quote(printable(report.path, 1000))}"
        + (f" {names}" if names else "")
        + folders
        + f" --seed {report.seed}"
    )


def file_lines(report: FileReport, lang: str = "en", exercise_folders: Sequence[str] = ()) -> list[str]:
    """The report of one file, as printed by ``losslab grade FILE`` (``exercise_folders``: the run's
    ``--exercises``, repeated in the command that reproduces a failure)."""
    path = printable(report.path, 1000)
    if report.skipped is not None:
        return [f"{path}: {say('reason.skipped', lang, why=report.skipped.text(lang))}"]
    notes = [f"  {note.text(lang)}" for note in report.notes]
    if report.problem is not None:
        return [f"{path}:", *notes, check_line(report.problem, lang)]
    lines = notes[:]
    for ex in report.exercises:
        title = ex.title(lang)
        lines.append(say("word.file_header", lang, file=path, exercise=ex.exercise, title=title, seed=report.seed))
        lines += [check_line(c, lang, report.seed) for c in ex.checks]
        passed, total = ex.counts
        lines.append("  " + say("word.summary", lang, passed=passed, total=total))
        earned, possible = ex.score
        if possible != total:  # points other than one per check
            lines.append("  " + say("word.score", lang, earned=_num(earned), possible=_num(possible)))
    if not report.passed:
        lines.append(say("word.reproduce", lang, command=reproduce_command(report, exercise_folders)))
    return lines


def table_rows(reports: Sequence[FileReport], lang: str = "en", id_pattern: str | None = None) -> list[dict]:
    """One row per (file, exercise): the columns of the table and of the CSV report (``student`` taken from
    the file's name by ``id_pattern``, see :func:`student_id`)."""
    rows = []
    for r in reports:
        name = printable(os.path.basename(r.path), 200)
        common = {"student": printable(student_id(r.path, id_pattern), 200), "file": name}
        if r.skipped is not None:
            rows.append(
                {
                    **common,
                    "exercise": "-",
                    "passed": 0,
                    "checks": 0,
                    "score": 0,
                    "max_score": 0,
                    "result": say("word.skip", lang),
                    "first_failure": r.skipped.text(lang),
                    "isolation": "",
                }
            )
            continue
        if r.problem is not None:
            earned, possible = r.score
            rows.append(
                {
                    **common,
                    "exercise": r.problem.exercise,
                    "passed": 0,
                    "checks": 1,
                    "score": _num(earned),
                    "max_score": _num(possible),
                    "result": say("word.fail", lang),
                    "first_failure": failure_text(r.problem, lang),
                    "isolation": r.isolation,
                }
            )
            continue
        for ex in r.exercises:
            passed, total = ex.counts
            earned, possible = ex.score
            first = next((c for c in ex.checks if not c.passed), None)
            failure = (
                ""
                if first is None
                else (say("word.hidden_failed", lang) if first.visibility == "hidden" else failure_text(first, lang))
            )
            if first is not None and not failure.startswith(first.target):
                failure = f"{first.target}: {failure}"
            rows.append(
                {
                    **common,
                    "exercise": ex.exercise,
                    "passed": passed,
                    "checks": total,
                    "score": _num(earned),
                    "max_score": _num(possible),
                    "result": say("word.pass" if ex.passed else "word.fail", lang),
                    "first_failure": failure,
                    "isolation": r.isolation,
                }
            )
    return rows


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(text: str, width: int) -> str:
    if _width(text) <= width:
        return text
    while _width(text) > width - 3:
        text = text[:-1]
    return text + "..."


def format_table(rows: Sequence[dict], width: int = 70, lang: str = "en") -> str:
    """The rows as an aligned text table, its header in ``lang`` (the first failure cut to ``width``
    columns; the isolation of the run is printed once, above the table)."""
    cells = [
        [
            _cut(str(r[c]), width)
            if c == "first_failure"
            else f"{r['score']}/{r['max_score']}"
            if c == "score"
            else str(r[c])
            for c in TABLE
        ]
        for r in rows
    ]
    head = [say(f"table.{c}", lang) for c in TABLE]
    widths = [max(_width(h), *(_width(row[i]) for row in cells)) for i, h in enumerate(head)]

    def line(values):
        return "  ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, cells)])


def write_csv(path: str | os.PathLike, rows: Sequence[dict]) -> None:
    """The table as CSV (UTF-8, a header line, the first failure in full)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def to_json(report: FileReport, lang: str = "en") -> dict:
    """A file's report as JSON-ready data (``passed``, counts, every check, the isolation it ran in)."""
    passed, total = report.counts
    if report.skipped is not None:
        return {"file": report.path, "skipped": report.skipped.text(lang)}
    earned, possible = report.score
    return {
        "file": report.path,
        "seed": report.seed,
        "passed": report.passed,
        "checks_passed": passed,
        "checks_total": total,
        "score": earned,
        "max_score": possible,
        "seconds": round(report.seconds, 3),
        "isolation": report.isolation,
        "notes": [n.text(lang) for n in report.notes],
        "problem": None if report.problem is None else report.problem.to_dict(lang),
        "exercises": [
            {"exercise": e.exercise, "passed": e.passed, "checks": [c.to_dict(lang) for c in e.checks]}
            for e in report.exercises
        ],
    }
