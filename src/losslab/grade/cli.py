"""The ``exercise`` and ``grade`` commands: parse, call :mod:`losslab.grade`, print.

    losslab exercise list [--lang zh|en]
    losslab exercise show NAME [--lang zh|en]
    losslab exercise start NAME [DIR] [--force] [--lang zh|en]
    losslab grade FILE|DIR [--exercise NAME] [--seed N] [--json] [--timeout S] [--memory MIB]
                           [--isolation auto|required|none] [--jobs N] [--scheduler ADDRESS|local]
                           [--report CSV] [--lang zh|en]
                           [--similarity [--similarity-threshold F] [--template FILE]]

``grade`` exits 0 when every check passes, 1 when one fails, 2 for a usage mistake.
``grade DIR --similarity`` also reports the pairs of submissions whose code is suspiciously
alike (see :mod:`.similarity`), after the table; with ``--json`` it prints an object
``{"reports": [...], "similarity": [...]}`` instead of the list of reports.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from . import catalog, report
from ._i18n import LANGS, say
from ._isolation import MODES
from .grader import grade_dir, grade_file
from .sandbox import IsolationUnavailable, SandboxConfig, isolation_for

__all__ = ["add_commands"]


def _user_error(message: str):
    from ..cli import UserError  # imported here: losslab.cli imports this module

    return UserError(message)


def _cmd_list(args) -> int:
    width = max(len(n) for n in catalog.names())
    for e in catalog.EXERCISES:
        print(f"{e.name:<{width}}  ch. {e.chapter:<9} {e.title(args.lang)}")
    return 0


def _exercise(name: str):
    try:
        return catalog.get(name)
    except KeyError as exc:
        raise _user_error(exc.args[0]) from None


def _cmd_show(args) -> int:
    print(_exercise(args.name).statement(args.lang))
    return 0


def _cmd_start(args) -> int:
    exercise = _exercise(args.name)
    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise _user_error(f"{folder} exists and is not a directory")
    code = folder / exercise.filename
    statement = code.with_suffix(".md")
    existing = [p for p in (code, statement) if p.exists()]
    if existing and not args.force:
        raise _user_error(f"{existing[0]} already exists; pass --force to overwrite it (nothing was written)")
    folder.mkdir(parents=True, exist_ok=True)
    code.write_text(exercise.template(), encoding="utf-8")
    statement.write_text(exercise.statement(args.lang), encoding="utf-8")
    print(f"wrote {code}  (the template: fill in the code between Begin and End)")
    print(f"wrote {statement}  (the statement)")
    print(f"next: edit {code}, then run: losslab grade {code}" + (" --lang zh" if args.lang == "zh" else ""))
    return 0


def _cmd_grade(args) -> int:
    try:
        config = SandboxConfig(timeout=args.timeout, memory_mb=args.memory, isolation=args.isolation)
    except ValueError as exc:
        raise _user_error(str(exc)) from None
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    path = Path(args.path)
    try:
        if not path.exists():
            raise _user_error(f"{path} does not exist")
        is_dir = path.is_dir()
    except OSError as exc:
        raise _user_error(f"cannot read {path}: {exc.strerror or exc}") from None
    if args.scheduler is not None and not is_dir:
        raise _user_error("--scheduler grades a directory of submissions; grade a single FILE without it")
    similar = _similarity(path, is_dir, args)  # before grading: a missing extra or a bad --template stops early
    try:
        if args.scheduler is None:  # a cluster's workers say for themselves, in each report
            mode = isolation_for(config)
            print(say("word.isolation", args.lang, mode=mode.describe()), file=sys.stderr, flush=True)
        if args.scheduler is not None:
            reports = _grade_on_cluster(path, args, seed, config)
        elif is_dir:
            try:
                reports = grade_dir(path, exercises=args.exercise, seed=seed, config=config, jobs=args.jobs)
            except (ValueError, OSError) as exc:
                raise _user_error(str(exc)) from None
        else:
            reports = [grade_file(path, exercises=args.exercise, seed=seed, config=config)]
            problem = reports[0].problem
            if problem is not None and problem.reason.key == "reason.undetected":
                raise _user_error(f"{problem.reason.text('en')}; pass --exercise NAME (see `losslab exercise list`)")
    except IsolationUnavailable as exc:
        raise _user_error(f"{exc}; refusing to grade (--isolation auto grades without it, for trusted files)") \
            from None
    rows = report.table_rows(reports, args.lang)
    if args.report:
        report.write_csv(args.report, rows)
    if args.json:
        data = [report.to_json(r, args.lang) for r in reports]
        if similar is not None:
            data = {"reports": data, "similarity": similar[1]}
        print(json.dumps(data if is_dir else data[0], ensure_ascii=False, indent=2))
    elif is_dir:
        print(report.format_table(rows))
        graded = [r for r in reports if r.skipped is None]
        passed = sum(r.passed for r in graded)
        print(f"\n{passed} of {len(graded)} files pass every check (seed {seed})")
        if similar is not None:
            print("\n" + similar[0])
    else:
        print("\n".join(report.file_lines(reports[0], args.lang)))
    if args.report and not args.json:
        print(f"wrote {args.report}")
    return 0 if all(r.passed for r in reports if r.skipped is None) else 1


def _similarity(path: Path, is_dir: bool, args) -> tuple[str, list] | None:
    """``grade DIR --similarity``: the similar pairs of DIR's submissions (read again here), as text and as
    JSON-ready data; None without ``--similarity``."""
    if not args.similarity:
        if args.similarity_threshold is not None or args.template is not None:
            raise _user_error("--similarity-threshold and --template go with --similarity")
        return None
    if not is_dir:
        raise _user_error("--similarity compares the submissions of a directory; pass a DIR, not a FILE")
    from . import similarity
    from .grader import read_submission, submissions

    threshold = similarity.THRESHOLD if args.similarity_threshold is None else args.similarity_threshold
    try:
        template = None
        if args.template is not None:
            if not Path(args.template).exists():
                raise ValueError(f"--template {args.template}: no such file")
            data, why = read_submission(args.template)
            if why is not None:
                raise ValueError(f"--template {args.template}: {why.text('en')}")
            template = similarity.read_source(str(args.template), data)
        sources, left_out = {}, {}
        for file in submissions(path)[0]:
            data, why = read_submission(file)
            try:
                if why is not None:
                    raise ValueError(why.text(args.lang))
                similarity.read_source(file.name, data)  # a notebook nbformat cannot read is said here
                sources[file.name] = data
            except ValueError as exc:
                left_out[file.name] = str(exc)
        pairs = similarity.similar_pairs(sources, template=template, exercises=args.exercise, threshold=threshold)
    except (ValueError, OSError, ImportError) as exc:
        raise _user_error(str(exc)) from None
    text = similarity.format_text(pairs, files=len(sources), threshold=threshold, lang=args.lang,
                                  left_out=left_out)
    return text, similarity.to_json(pairs)


def _grade_on_cluster(path: Path, args, seed: int, config: SandboxConfig):
    """``grade DIR --scheduler``: the same reports, one Dask task per file (see :mod:`.distributed`)."""
    from .distributed import grade_dir_distributed

    try:
        return grade_dir_distributed(path, scheduler=args.scheduler, exercises=args.exercise, seed=seed,
                                     config=config, workers=args.jobs)
    except ValueError as exc:
        raise _user_error(str(exc)) from None
    except ImportError as exc:
        raise _user_error(str(exc)) from None
    except OSError as exc:
        raise _user_error(f"could not reach the Dask scheduler at {args.scheduler}: {exc}") from None


def _positive_int(text: str) -> int:
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_commands(sub) -> None:
    """Add the ``exercise`` and ``grade`` subcommands to the ``losslab`` subparsers ``sub``."""
    exercise = sub.add_parser("exercise", help="the book's exercises: list them, show one, start one")
    actions = exercise.add_subparsers(dest="exercise_action", metavar="ACTION")
    exercise.set_defaults(run=lambda args: exercise.print_help() or 0)

    listing = actions.add_parser("list", help="the exercises, with their book chapters")
    listing.add_argument("--lang", choices=LANGS, default="en")
    listing.set_defaults(run=_cmd_list)

    show = actions.add_parser("show", help="print an exercise's statement")
    show.add_argument("name", metavar="NAME", help="an exercise (see `losslab exercise list`)")
    show.add_argument("--lang", choices=LANGS, default="en")
    show.set_defaults(run=_cmd_show)

    start = actions.add_parser("start", help="write an exercise's template (NAME.py) and statement (NAME.md)")
    start.add_argument("name", metavar="NAME", help="an exercise (see `losslab exercise list`)")
    start.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where to write them (default: here)")
    start.add_argument("--force", action="store_true", help="overwrite files that exist")
    start.add_argument("--lang", choices=LANGS, default="en", help="the statement's language")
    start.set_defaults(run=_cmd_start)

    grade = sub.add_parser("grade", help="grade a solution file, or every .py file of a directory")
    grade.add_argument("path", metavar="FILE|DIR")
    grade.add_argument("--exercise", action="append", choices=catalog.names(), metavar="NAME",
                       help="grade as this exercise (repeatable) instead of detecting it; one of: "
                            + ", ".join(catalog.names()))
    grade.add_argument("--seed", type=int, help="the inputs' random seed (default: a new one, printed)")
    grade.add_argument("--json", action="store_true", help="print the results as JSON")
    grade.add_argument("--timeout", type=float, default=5.0, metavar="S",
                       help="seconds a submission may run, all checks together (default 5)")
    grade.add_argument("--memory", type=int, default=1024, metavar="MIB",
                       help="memory limit of a submission in MiB (default 1024; with isolation, for all its "
                            "processes together where cgroups allow)")
    grade.add_argument("--isolation", choices=MODES, default="auto",
                       help="auto: isolate each submission with bubblewrap where it works, else run it without "
                            "isolation and say so (default); required: refuse to grade without isolation; "
                            "none: no isolation, for trusted files only")
    grade.add_argument("--jobs", type=_positive_int, metavar="N",
                       help="submissions graded at once for a DIR (default: the number of CPUs)")
    grade.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade a DIR on the Dask cluster at ADDRESS (tcp://host:8786), one task per file, "
                            "each sandboxed on its worker; 'local' starts a LocalCluster of --jobs processes")
    grade.add_argument("--report", metavar="CSV", help="also write the table as CSV")
    grade.add_argument("--lang", choices=LANGS, default="en", help="language of the feedback (en or zh)")
    grade.add_argument("--similarity", action="store_true",
                       help="for a DIR: also report the pairs of submissions whose code is suspiciously alike "
                            "(names, comments, whitespace and the exercise's template ignored; needs the "
                            "classroom extra)")
    grade.add_argument("--similarity-threshold", type=float, metavar="F",
                       help="report a pair when either file shares at least this fraction of its code with "
                            "the other (default 0.5)")
    grade.add_argument("--template", metavar="FILE",
                       help="with --similarity: also ignore the code of FILE, given to every student")
    grade.set_defaults(run=_cmd_grade)
