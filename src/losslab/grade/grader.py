"""Grade a file or a directory: detect the exercises, run the sandbox, judge, and collect the reports.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "mine.py").write_text("def numerical_gradient(f, x):\\n    return None\\n")
>>> report = grade_file(folder / "mine.py", seed=0, config=SandboxConfig(timeout=20))
>>> [e.exercise for e in report.exercises], report.passed
(['numerical-gradient'], False)
>>> report.exercises[0].checks[0].reason.text("en")
'returned None (a missing `return`?)'
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import catalog
from ._i18n import Msg
from .checks import Check
from .sandbox import SandboxConfig, run_probes

__all__ = ["ExerciseReport", "FileReport", "grade_file", "grade_dir"]


@dataclass(frozen=True)
class ExerciseReport:
    """The checks of one exercise on one file."""

    exercise: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def counts(self) -> tuple[int, int]:
        """(checks passed, checks run)."""
        return sum(c.passed for c in self.checks), len(self.checks)


@dataclass(frozen=True)
class FileReport:
    """Everything graded in one file.

    ``problem`` is a file-level failed check: the file does not compile, no exercise
    was recognised, or importing it failed (an exception, ``sys.exit``, a timeout ...);
    then ``exercises`` is empty.
    """

    path: str
    seed: int
    exercises: tuple[ExerciseReport, ...] = ()
    problem: Check | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.problem is None and bool(self.exercises) and all(e.passed for e in self.exercises)

    @property
    def counts(self) -> tuple[int, int]:
        if self.problem is not None:
            return 0, 1
        return sum(e.counts[0] for e in self.exercises), sum(e.counts[1] for e in self.exercises)


def _problem(path: Path, reason: Msg, exercises: Sequence[str] = ()) -> Check:
    return Check(", ".join(exercises) or "-", path.name, Msg("case.import"), False, reason)


def grade_file(path: str | os.PathLike, *, exercises: Sequence[str] | None = None, seed: int = 0,
               config: SandboxConfig = SandboxConfig()) -> FileReport:
    """Grade the file at ``path`` for ``exercises`` (names), or for those it is detected to implement.

    Raises ``FileNotFoundError`` for a missing file and ``KeyError`` for an unknown
    exercise name. A file that does not compile, or in which no exercise is
    recognised, gives a report whose ``problem`` says so. The file is only read here;
    it runs in the sandbox.
    """
    path = Path(path)
    chosen = [catalog.get(name) for name in exercises] if exercises else None
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        source = path.read_bytes()
    except OSError as exc:  # unreadable: a failed check, so that a directory run goes on
        return FileReport(str(path), seed, problem=_problem(path, Msg("reason.sandbox", {"msg": str(exc)})))
    try:
        detected = catalog.detect(source)
    except SyntaxError as exc:
        return FileReport(str(path), seed, problem=_problem(path, Msg("reason.syntax", {
            "msg": exc.msg, "line": exc.lineno or "?"})))
    except ValueError as exc:  # e.g. null bytes in the source
        return FileReport(str(path), seed, problem=_problem(path, Msg("reason.syntax", {"msg": str(exc),
                                                                                      "line": "?"})))
    if chosen is None:
        chosen = [catalog.get(name) for name in detected]
    if not chosen:
        names = sorted({n for e in catalog.EXERCISES for n in e.defines})
        return FileReport(str(path), seed, problem=_problem(path, Msg("reason.undetected",
                                                                      {"names": ", ".join(names)})))
    run = run_probes(path, chosen, seed, config)
    imported = run.probes["import"]
    if imported.failure is not None:  # nothing ran: one failed check says why
        return FileReport(str(path), seed, problem=_problem(path, imported.failure, [e.name for e in chosen]),
                          seconds=run.seconds)
    reports = []
    for exercise in chosen:
        probes = {p: run.probes[f"{exercise.name}:{p}"] for p in exercise.probes}
        try:
            checks = exercise.judge(exercise.make_cases(seed), probes)
        except Exception as exc:  # a judge bug on an unforeseen answer must not stop a directory run
            checks = [Check(exercise.name, path.name, Msg("case.judging"), False, Msg("reason.sandbox", {
                "msg": f"internal error while judging ({type(exc).__name__}: {exc}); please report it"}))]
        reports.append(ExerciseReport(exercise.name, tuple(checks)))
    return FileReport(str(path), seed, tuple(reports), seconds=run.seconds)


def submission_files(path, exercises=None) -> list[Path]:
    """The ``.py`` files of folder ``path``, sorted, after checking the folder and the exercise names.

    Raises ``NotADirectoryError`` for a bad ``path``, ``ValueError`` when it holds no ``.py``
    file, and ``catalog.get``'s error for an unknown exercise name.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a directory")
    files = sorted(p for p in folder.glob("*.py") if p.is_file())
    if not files:
        raise ValueError(f"{folder} holds no .py file to grade")
    for name in exercises or ():
        catalog.get(name)
    return files


def grade_dir(path: str | os.PathLike, *, exercises: Sequence[str] | None = None, seed: int = 0,
              config: SandboxConfig = SandboxConfig(), jobs: int | None = None) -> list[FileReport]:
    """Grade every ``*.py`` file directly in the folder ``path`` (sorted by name), ``jobs`` at a time.

    Each file gets its own sandboxed process; the threads here only wait for them, so
    ``jobs`` (default: the number of CPUs, at most 8) is the number of submissions
    running at once. Raises ``NotADirectoryError`` or ``FileNotFoundError`` for a bad
    ``path`` and ``ValueError`` when it holds no ``.py`` file.
    """
    files = submission_files(path, exercises)
    jobs = jobs or min(os.cpu_count() or 1, 8)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda f: grade_file(f, exercises=exercises, seed=seed, config=config), files))
