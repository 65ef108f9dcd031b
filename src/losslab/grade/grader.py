"""Grade a file or a directory: detect the exercises, run the sandbox, judge, and collect the reports.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "mine.py").write_text("def numerical_gradient(f, x):\\n    return None\\n")
>>> report = grade_file(folder / "mine.py", seed=0, config=SandboxConfig(timeout=20))
>>> [e.exercise for e in report.exercises], report.passed
(['numerical-gradient'], False)
>>> report.exercises[0].checks[0].reason.text("en")
'returned None (a missing `return`?)'

A submission's file is read once, before anything runs, and never written: what is
graded is those bytes, whatever happens to the file afterwards. Any failure while
grading one file (a vanished or special file, a timeout, undecodable output, a
cleanup error, a judge bug) becomes that file's failed check with its reason, so a
directory run always reports every file.
"""

from __future__ import annotations

import importlib.util
import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import catalog as catalog_module
from ._i18n import Msg
from .checks import Check
from .notebook import SUFFIX as NOTEBOOK
from .notebook import NotebookCode, NotebookError, from_notebook
from .sandbox import IsolationUnavailable, SandboxConfig, isolation_for, printable, run_probes

__all__ = [
    "ExerciseReport",
    "FileReport",
    "grade_file",
    "grade_source",
    "grade_dir",
    "read_submission",
    "MAX_SOURCE_BYTES",
]

MAX_SOURCE_BYTES = 1 << 20  # a larger file is not a solution to grade


@dataclass(frozen=True)
class ExerciseReport:
    """The checks of one exercise on one file."""

    exercise: str
    checks: tuple[Check, ...]
    titles: tuple[str, str] = ("", "")  # English, Chinese

    def title(self, lang: str = "en") -> str:
        """The exercise's title in ``lang``."""
        return self.titles[1] if lang == "zh" else self.titles[0]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def counts(self) -> tuple[int, int]:
        """(checks passed, checks run)."""
        return sum(c.passed for c in self.checks), len(self.checks)

    @property
    def score(self) -> tuple[float, float]:
        """(points earned, points possible)."""
        return sum(c.earned for c in self.checks), sum(c.points for c in self.checks)


@dataclass(frozen=True)
class FileReport:
    """Everything graded in one file.

    ``problem`` is a file-level failed check: the file does not compile, no exercise
    was recognised, or importing it failed (an exception, ``sys.exit``, a timeout ...);
    then ``exercises`` is empty. ``skipped`` says why a directory entry was not graded
    (not a ``.py`` or ``.ipynb`` file, a folder). ``isolation`` is the mode the file ran in;
    ``notes`` are remarks on the grading (the magics removed from a notebook).
    """

    path: str
    seed: int
    exercises: tuple[ExerciseReport, ...] = ()
    problem: Check | None = None
    seconds: float = 0.0
    isolation: str = ""
    skipped: Msg | None = None
    notes: tuple[Msg, ...] = ()
    possible: float = 0.0  # what the exercises of a file with a ``problem`` would have been worth

    @property
    def passed(self) -> bool:
        return self.problem is None and bool(self.exercises) and all(e.passed for e in self.exercises)

    @property
    def counts(self) -> tuple[int, int]:
        if self.problem is not None:
            return 0, 1
        return sum(e.counts[0] for e in self.exercises), sum(e.counts[1] for e in self.exercises)

    @property
    def score(self) -> tuple[float, float]:
        """(points earned, points possible); a file with a ``problem`` earns nothing of what its exercises
        are worth."""
        if self.skipped is not None:
            return 0.0, 0.0
        if self.problem is not None:
            return 0.0, self.possible
        return sum(e.score[0] for e in self.exercises), sum(e.score[1] for e in self.exercises)


def _problem(path: Path, reason: Msg | None, exercises: Sequence[str] = ()) -> Check:
    return Check(", ".join(exercises) or "-", printable(path.name, 200), Msg("case.import"), False, reason)


def read_submission(path: str | os.PathLike) -> tuple[bytes | None, Msg | None]:
    """The bytes of the file at ``path``, or why it cannot be graded (gone, unreadable, not a regular file,
    larger than :data:`MAX_SOURCE_BYTES`). Never blocks: a FIFO or a device is refused, not read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, Msg("reason.unreadable", {"msg": "it no longer exists"})
    except OSError as exc:
        return None, Msg("reason.unreadable", {"msg": printable(exc.strerror or exc)})
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a folder"
                if stat.S_ISDIR(mode)
                else "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
            )
            return None, Msg("reason.not_regular", {"kind": kind})
        chunks, size = [], 0
        while size <= MAX_SOURCE_BYTES:
            chunk = os.read(fd, MAX_SOURCE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return None, Msg("reason.unreadable", {"msg": printable(exc.strerror or exc)})
    finally:
        os.close(fd)
    if size > MAX_SOURCE_BYTES:
        return None, Msg("reason.too_large", {"kib": MAX_SOURCE_BYTES >> 10})
    return b"".join(chunks), None


def _relocate(msg, code: NotebookCode):
    """``msg`` with every "(line N)" of the joined notebook source turned into "(cell C, line M)"."""
    if not isinstance(msg, Msg):
        return msg
    at = msg.params.get("line")
    found = code.where(at) if msg.key == "reason.where" and isinstance(at, int) else None
    if found:
        cell, line = found
        return Msg("reason.where_cell", {"cell": cell, "line": line})
    params = {k: _relocate(v, code) for k, v in msg.params.items()}
    at = params.get("line")
    found = code.where(at) if msg.key == "reason.syntax" and isinstance(at, int) else None
    if found:
        cell, line = found
        params["line"] = f"{line}, cell {cell}"
    return Msg(msg.key, params)


def _in_notebook(report: FileReport, code: NotebookCode | None) -> FileReport:
    """A notebook's report: line numbers as cells and lines, and a note of the lines removed."""
    if code is None:
        return report
    import dataclasses

    def fix(check: Check) -> Check:
        return dataclasses.replace(check, reason=_relocate(check.reason, code))

    notes = report.notes
    if code.removed:
        notes += (
            Msg(
                "note.magics",
                {
                    "lines": "; ".join(
                        Msg("note.cell_line", {"cell": c, "line": n, "text": printable(t, 80)}).text("en")
                        for c, n, t in code.removed[:10]
                    )
                    + ("; ..." if len(code.removed) > 10 else "")
                },
            ),
        )
    return dataclasses.replace(
        report,
        problem=None if report.problem is None else fix(report.problem),
        notes=notes,
        exercises=tuple(ExerciseReport(e.exercise, tuple(fix(c) for c in e.checks)) for e in report.exercises),
    )


def grade_source(
    path: str | os.PathLike,
    source: bytes,
    *,
    exercises: Sequence[str] | None = None,
    seed: int = 0,
    config: SandboxConfig = SandboxConfig(),
    isolation=None,
    catalog: catalog_module.Catalog = catalog_module.BUILTIN,
) -> FileReport:
    """Grade the submission ``source`` (a file's bytes; ``path`` names it in the report).

    A ``.ipynb`` path is read as a notebook (its code cells, see :mod:`losslab.grade.notebook`).
    ``exercises``: names to grade it as, or None to detect them from the names the
    source defines, among the exercises of ``catalog``. Raises ``KeyError`` for an unknown exercise name and
    :class:`~losslab.grade.sandbox.IsolationUnavailable` when ``config`` requires
    isolation this machine lacks; every other failure is the report's.
    """
    path = Path(path)
    isolation = isolation or isolation_for(config)
    code = None
    if path.suffix == NOTEBOOK:
        try:
            code = from_notebook(source)
        except (NotebookError, ImportError) as exc:
            return FileReport(
                str(path),
                seed,
                problem=_problem(path, Msg("reason.notebook", {"msg": printable(exc)})),
                isolation=isolation.describe(),
            )
        source = code.source.encode("utf-8")
    return _in_notebook(_grade_python(path, source, exercises, seed, config, isolation, catalog), code)


def _grade_python(
    path: Path, source: bytes, exercises, seed: int, config: SandboxConfig, isolation, catalog
) -> FileReport:
    chosen = [catalog.get(name) for name in exercises] if exercises else None

    def possible() -> float:  # what the chosen exercises are worth: all a file loses when nothing of it runs
        return sum(e.max_points(seed) for e in chosen or ())

    try:
        found = catalog_module.definitions(source)
        text = importlib.util.decode_source(source)
    except SyntaxError as exc:
        return FileReport(
            str(path),
            seed,
            problem=_problem(
                path, Msg("reason.syntax", {"msg": printable(exc.msg), "line": exc.lineno or "?"}), exercises or ()
            ),
            isolation=isolation.describe(),
            possible=possible(),
        )
    except (ValueError, LookupError) as exc:  # null bytes, an unknown or wrong encoding
        return FileReport(
            str(path),
            seed,
            problem=_problem(path, Msg("reason.syntax", {"msg": printable(exc), "line": "?"}), exercises or ()),
            isolation=isolation.describe(),
            possible=possible(),
        )
    notes = tuple(
        Msg("note.defined_twice", {"name": name, "lines": ", ".join(map(str, at))}) for name, at in found.twice.items()
    )
    if chosen is None:
        chosen = [e for e in catalog.exercises if e.detect(found)]
    if not chosen:
        names = sorted({n for e in catalog.exercises for n in e.defines})
        return FileReport(
            str(path),
            seed,
            problem=_problem(path, Msg("reason.undetected", {"names": ", ".join(names)})),
            isolation=isolation.describe(),
        )
    for exercise in chosen:  # asked for by name: say once what is missing, rather than in every check
        absent = [name for name in exercise.defines if not found.has(name)]
        if absent:
            return FileReport(
                str(path),
                seed,
                problem=_problem(
                    path, Msg("reason.needs", {"exercise": exercise.name, "names": ", ".join(absent)}), [exercise.name]
                ),
                isolation=isolation.describe(),
                notes=notes,
                possible=possible(),
            )
    cases = {e.name: e.make_cases(seed) for e in chosen}
    run = run_probes(text, chosen, cases, config, isolation, hide=(path.resolve().parent,))
    imported = run.probes["import"]
    if imported.failure is not None:  # nothing ran: one failed check says why
        return FileReport(
            str(path),
            seed,
            problem=_problem(path, imported.failure, [e.name for e in chosen]),
            seconds=run.seconds,
            isolation=run.isolation,
            notes=notes,
            possible=possible(),
        )
    reports = []
    for exercise in chosen:
        probes = {p: run.probes[f"{exercise.name}:{p}"] for p in exercise.probes}
        try:
            checks = exercise.checks(cases[exercise.name], probes)
        except Exception as exc:  # a judge bug on an unforeseen answer must not stop a directory run
            checks = [
                Check(
                    exercise.name,
                    path.name,
                    Msg("case.judging"),
                    False,
                    Msg("reason.internal", {"msg": printable(f"{type(exc).__name__}: {exc}")}),
                )
            ]
        reports.append(ExerciseReport(exercise.name, tuple(checks), (exercise.title_en, exercise.title_zh)))
    return FileReport(str(path), seed, tuple(reports), seconds=run.seconds, isolation=run.isolation, notes=notes)


def _safely(
    path: Path, source: bytes | None, why: Msg | None, exercises, seed: int, config: SandboxConfig, isolation, catalog
) -> FileReport:
    """:func:`grade_source`, with any failure turned into the file's failed check."""
    if source is None:
        return FileReport(str(path), seed, problem=_problem(path, why), isolation=isolation.describe())
    try:
        return grade_source(
            path, source, exercises=exercises, seed=seed, config=config, isolation=isolation, catalog=catalog
        )
    except (IsolationUnavailable, KeyError):
        raise
    except Exception as exc:  # one submission never costs the others
        return FileReport(
            str(path),
            seed,
            problem=_problem(path, Msg("reason.internal", {"msg": printable(f"{type(exc).__name__}: {exc}")})),
            isolation=isolation.describe(),
        )


def grade_file(
    path: str | os.PathLike,
    *,
    exercises: Sequence[str] | None = None,
    seed: int = 0,
    config: SandboxConfig = SandboxConfig(),
    catalog: catalog_module.Catalog = catalog_module.BUILTIN,
) -> FileReport:
    """Grade the file at ``path`` for ``exercises`` (names), or for those it is detected to implement.

    Raises ``FileNotFoundError`` for a missing file, ``KeyError`` for an unknown
    exercise name and :class:`~losslab.grade.sandbox.IsolationUnavailable` when
    ``config`` requires isolation this machine lacks. A file that cannot be read, does
    not compile, or in which no exercise is recognised gives a report whose
    ``problem`` says so. The file is read once, here; its code runs in the sandbox.
    """
    path = Path(path)
    for name in exercises or ():
        catalog.get(name)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"{path} does not exist")
    isolation = isolation_for(config)
    source, why = read_submission(path)
    return _safely(path, source, why, exercises, seed, config, isolation, catalog)


def submissions(path, exercises=None, catalog=catalog_module.BUILTIN) -> tuple[list[Path], list[tuple[Path, Msg]]]:
    """The ``.py`` and ``.ipynb`` files of folder ``path`` (sorted) and the entries skipped, each with the reason.

    Raises ``NotADirectoryError`` for a bad ``path``, ``ValueError`` when it holds no such
    file, and ``catalog.get``'s error for an unknown exercise name.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a directory")
    for name in exercises or ():
        catalog.get(name)
    files, skipped = [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        entry_path = folder / entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            skipped.append((entry_path, Msg("word.a_folder")))
        elif entry.name.endswith((".py", NOTEBOOK)):
            files.append(entry_path)
        else:
            skipped.append((entry_path, Msg("word.not_py")))
    if not files:
        raise ValueError(f"{folder} holds no .py or .ipynb file to grade")
    return files, skipped


def submission_files(path, exercises=None) -> list[Path]:
    """The ``.py`` files of folder ``path``, sorted (see :func:`submissions`)."""
    return submissions(path, exercises)[0]


def skipped_reports(skipped: Sequence[tuple[Path, Msg]], seed: int) -> list[FileReport]:
    return [FileReport(str(p), seed, skipped=why) for p, why in skipped]


def grade_dir(
    path: str | os.PathLike,
    *,
    exercises: Sequence[str] | None = None,
    seed: int = 0,
    config: SandboxConfig = SandboxConfig(),
    jobs: int | None = None,
    catalog: catalog_module.Catalog = catalog_module.BUILTIN,
) -> list[FileReport]:
    """Grade every ``*.py`` and ``*.ipynb`` file directly in the folder ``path`` (sorted by name), ``jobs`` at a
    time.

    Every file is read first; each then gets its own sandboxed process (the threads
    here only wait for them), so ``jobs`` (default: the number of CPUs, at most 8) is
    the number of submissions running at once. The reports come in name order, one
    per submission and one (``skipped``) per other entry of the folder. Raises
    ``NotADirectoryError`` or ``FileNotFoundError`` for a bad ``path``, ``ValueError``
    when it holds no ``.py`` file, and :class:`~losslab.grade.sandbox.IsolationUnavailable`.
    """
    files, skipped = submissions(path, exercises, catalog)
    jobs = jobs or min(os.cpu_count() or 1, 8)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    isolation = isolation_for(config)
    read = [(f, *read_submission(f)) for f in files]

    def one(item: tuple[Path, bytes | None, Msg | None]) -> FileReport:
        file, source, why = item
        return _safely(file, source, why, exercises, seed, config, isolation, catalog)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        graded = list(pool.map(one, read))
    return sorted(graded + skipped_reports(skipped, seed), key=lambda r: os.path.basename(r.path))
