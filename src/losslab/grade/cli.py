"""The ``exercise`` and ``grade`` commands: parse, call :mod:`losslab.grade`, print.

    losslab exercise list [--lang zh|en]
    losslab exercise show NAME [--lang zh|en]
    losslab exercise start NAME [DIR] [--force] [--lang zh|en]
    losslab exercise new NAME [DIR] [--lang zh|en]
    losslab exercise test DIR [--lang zh|en]
    (list, show, start and grade take --exercises DIR: a teacher's exercise folders)
    losslab grade FILE|DIR [--exercise NAME] [--seed N] [--json] [--timeout S] [--memory MIB]
                           [--isolation auto|required|none] [--jobs N] [--scheduler ADDRESS|local]
                           [--report CSV] [--format gradescope|junit] [--out FILE] [--id-pattern REGEX]
                           [--lang zh|en] [--similarity [--similarity-threshold F] [--template FILE]]

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
from .grader import grade_dir, grade_file, grade_source
from .sandbox import IsolationUnavailable, SandboxConfig, isolation_for

__all__ = ["add_commands"]


def _user_error(message: str):
    from .._errors import UserError

    return UserError(message)


def _catalog(args):
    """The built-in exercises and those of ``--exercises DIR`` (a usage error names a malformed folder)."""
    folders = getattr(args, "exercises", None) or []
    if not folders:
        return catalog.BUILTIN
    try:
        return catalog.BUILTIN.with_folders(folders)
    except catalog.ExerciseFolderError as exc:
        raise _user_error(f"--exercises: {exc}") from None


def _cmd_list(args) -> int:
    found = _catalog(args)
    width = max(len(n) for n in found.names())
    chapters = [
        say("cli.chapter", args.lang, chapter=e.chapter.replace(", ", "、") if args.lang == "zh" else e.chapter)
        for e in found.exercises
    ]
    column = max(13, *(report._width(c) + 1 for c in chapters))  # at least "ch. " and 9 columns, as ever
    for e, chapter in zip(found.exercises, chapters, strict=True):
        print(f"{e.name:<{width}}  {chapter}{' ' * (column - report._width(chapter))} {e.title(args.lang)}")
    return 0


def _exercise(args):
    try:
        return _catalog(args).get(args.name)
    except KeyError as exc:
        raise _user_error(exc.args[0]) from None


def _cmd_show(args) -> int:
    print(_exercise(args).statement(args.lang))
    return 0


def _cmd_new(args) -> int:
    """``exercise new NAME DIR``: a working example exercise folder to edit into one's own."""
    from importlib import resources

    if not catalog.NAME.match(args.name):
        raise _user_error(f"NAME must be lowercase letters, digits and '-' (like my-loss), got {args.name!r}")
    folder = Path(args.dir) / args.name
    if folder.exists():
        raise _user_error(f"{folder} already exists (nothing was written)")
    folder.mkdir(parents=True)
    source = resources.files(__package__).joinpath("templates").joinpath("new")
    files = catalog.FILES + (("template.zh.py",) if args.lang == "zh" else ())  # the skeleton in Chinese too
    for name in files:
        text = source.joinpath(name).read_text(encoding="utf-8")
        (folder / name).write_text(
            text.replace("{name}", args.name) if name == "exercise.json" else text, encoding="utf-8"
        )
    zh = " --lang zh" if args.lang == "zh" else ""
    print(say("cli.new_wrote", args.lang, folder=folder, files=", ".join(files)))
    for key in ("cli.new_json", "cli.new_files", "cli.new_checks"):
        print(say(key, args.lang))
    print(say("cli.new_next", args.lang, command=f"losslab exercise test {folder}{zh}"))
    print(say("cli.new_grade", args.lang, command=f"losslab grade FILE --exercises {args.dir}{zh}"))
    return 0


def _cmd_test(args) -> int:
    """``exercise test DIR``: the folder loads, its solution passes every check and its template does not."""
    try:
        exercise = catalog.load(args.dir)
        found = catalog.BUILTIN.with_folders([args.dir]) if exercise.name not in catalog.names() else catalog.BUILTIN
    except catalog.ExerciseFolderError as exc:
        raise _user_error(str(exc)) from None
    config = SandboxConfig(timeout=args.timeout)
    ok = True
    runs = [("solution.py", exercise.solution(), True), ("template.py", exercise.template(), False)]
    if exercise.template_file("zh") != "template.py":
        runs.append((exercise.template_file("zh"), exercise.template("zh"), False))
    for label, source, want in runs:
        result = grade_source(
            Path(args.dir) / label,
            source.encode("utf-8"),
            exercises=[exercise.name],
            seed=args.seed,
            config=config,
            catalog=found,
        )
        earned, possible = result.score
        good = result.passed == want
        ok &= good
        verdict = say("cli.test_as_it_should" if good else "cli.test_should_not", args.lang)
        outcome = say("cli.test_passes" if result.passed else "cli.test_fails", args.lang)
        print(
            say(
                "cli.test_line",
                args.lang,
                label=label,
                outcome=outcome,
                earned=earned,
                possible=possible,
                verdict=verdict,
            )
        )
        if not good:
            print("\n".join(report.file_lines(result, args.lang)))
    print(
        say(
            "cli.test_total",
            args.lang,
            exercise=exercise.name,
            checks=len(exercise.check_ids()),
            points=exercise.max_points(),
        )
    )
    return 0 if ok else 1


def _cmd_start(args) -> int:
    exercise = _exercise(args)
    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise _user_error(f"{folder} exists and is not a directory")
    code = folder / exercise.filename
    statement = code.with_suffix(".md")
    existing = [p for p in (code, statement) if p.exists()]
    if existing and not args.force:
        raise _user_error(f"{existing[0]} already exists; pass --force to overwrite it (nothing was written)")
    folder.mkdir(parents=True, exist_ok=True)
    code.write_text(exercise.template(args.lang), encoding="utf-8")
    statement.write_text(exercise.statement(args.lang), encoding="utf-8")
    print(say("cli.wrote_template", args.lang, path=code))
    print(say("cli.wrote_statement", args.lang, path=statement))
    print(
        say(
            "cli.next_grade",
            args.lang,
            code=code,
            command=f"losslab grade {code}" + (" --lang zh" if args.lang == "zh" else ""),
        )
    )
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
    found = _catalog(args)
    for name in args.exercise or ():
        if name not in found.names():
            raise _user_error(f"--exercise: no exercise {name!r}; the exercises are: {', '.join(found.names())}")
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
                reports = grade_dir(
                    path, exercises=args.exercise, seed=seed, config=config, jobs=args.jobs, catalog=found
                )
            except (ValueError, OSError) as exc:
                raise _user_error(str(exc)) from None
        else:
            reports = [grade_file(path, exercises=args.exercise, seed=seed, config=config, catalog=found)]
            problem = reports[0].problem
            if problem is not None and problem.reason.key == "reason.undetected":
                raise _user_error(f"{problem.reason.text('en')}; pass --exercise NAME (see `losslab exercise list`)")
    except IsolationUnavailable as exc:
        raise _user_error(f"{exc}; refusing to grade (--isolation auto grades without it, for trusted files)") from None
    rows = report.table_rows(reports, args.lang, args.id_pattern)
    if args.report:
        report.write_csv(args.report, rows)
    if args.json:
        data = [report.to_json(r, args.lang) for r in reports]
        out: object = data if is_dir else data[0]
        if similar is not None:
            out = {"reports": data, "similarity": similar[1]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    elif is_dir:
        print(report.format_table(rows, lang=args.lang))
        graded = [r for r in reports if r.skipped is None]
        passed = sum(r.passed for r in graded)
        print("\n" + say("table.summary", args.lang, passed=passed, total=len(graded), seed=seed))
        if similar is not None:
            print("\n" + similar[0])
    else:
        print("\n".join(report.file_lines(reports[0], args.lang, args.exercises or ())))
    if args.report and not args.json:
        print(say("cli.wrote", args.lang, path=args.report))
    if args.format is not None:
        _export(reports, args)
    return 0 if all(r.passed for r in reports if r.skipped is None) else 1


def _export(reports, args) -> None:
    """``--format gradescope|junit``: write the grades to ``--out`` in that format."""
    from . import export

    out = Path(args.out or ("results.json" if args.format == "gradescope" else "junit.xml"))
    if args.format == "gradescope":
        text = json.dumps(export.gradescope(reports, args.lang), ensure_ascii=False, indent=2) + "\n"
    else:
        text = export.junit(reports, args.lang, args.id_pattern)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _user_error(f"cannot write --out {out}: {exc.strerror or exc}") from None
    if not args.json:
        print(say("cli.wrote", args.lang, path=out))


def _id_pattern(text: str) -> str:
    import argparse
    import re

    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression ({exc})") from None
    return text


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
            if data is None:  # then why says why
                raise ValueError(f"--template {args.template}: {why.text('en') if why else 'unreadable'}")
            template = similarity.read_source(str(args.template), data)
        sources: dict[str, bytes] = {}
        left_out: dict[str, str] = {}
        for file in submissions(path)[0]:
            data, why = read_submission(file)
            try:
                if data is None:  # then why says why
                    raise ValueError(why.text(args.lang) if why else "unreadable")
                similarity.read_source(file.name, data)  # a notebook nbformat cannot read is said here
                sources[file.name] = data
            except ValueError as exc:
                left_out[file.name] = str(exc)
        pairs = similarity.similar_pairs(
            sources, template=template, exercises=args.exercise, threshold=threshold, catalog=_catalog(args)
        )
    except (ValueError, OSError, ImportError) as exc:
        raise _user_error(str(exc)) from None
    text = similarity.format_text(pairs, files=len(sources), threshold=threshold, lang=args.lang, left_out=left_out)
    return text, similarity.to_json(pairs)


def _grade_on_cluster(path: Path, args, seed: int, config: SandboxConfig):
    """``grade DIR --scheduler``: the same reports, one Dask task per file (see :mod:`.distributed`)."""
    from .distributed import grade_dir_distributed

    try:
        return grade_dir_distributed(
            path,
            scheduler=args.scheduler,
            exercises=args.exercise,
            seed=seed,
            config=config,
            workers=args.jobs,
            exercise_folders=args.exercises or (),
        )
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

    def exercises_option(parser) -> None:
        parser.add_argument(
            "--exercises",
            action="append",
            metavar="DIR",
            help="also the exercises of DIR: an exercise folder, or a folder of them (repeatable)",
        )

    listing = actions.add_parser("list", help="the exercises, with their book chapters")
    listing.add_argument("--lang", choices=LANGS, default="en")
    exercises_option(listing)
    listing.set_defaults(run=_cmd_list)

    show = actions.add_parser("show", help="print an exercise's statement")
    show.add_argument("name", metavar="NAME", help="an exercise (see `losslab exercise list`)")
    show.add_argument("--lang", choices=LANGS, default="en")
    exercises_option(show)
    show.set_defaults(run=_cmd_show)

    start = actions.add_parser("start", help="write an exercise's template (NAME.py) and statement (NAME.md)")
    start.add_argument("name", metavar="NAME", help="an exercise (see `losslab exercise list`)")
    start.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where to write them (default: here)")
    start.add_argument("--force", action="store_true", help="overwrite files that exist")
    start.add_argument("--lang", choices=LANGS, default="en", help="the language of the statement and the template")
    exercises_option(start)
    start.set_defaults(run=_cmd_start)

    new = actions.add_parser("new", help="write a new exercise folder (a working example to edit into your own)")
    new.add_argument("name", metavar="NAME", help="the exercise's name: lowercase letters, digits and '-'")
    new.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where to make the folder NAME (default: here)")
    new.add_argument(
        "--lang",
        choices=LANGS,
        default="en",
        help="language of what it prints; zh also writes template.zh.py, the skeleton in Chinese",
    )
    new.set_defaults(run=_cmd_new)

    test = actions.add_parser(
        "test", help="check an exercise folder: it loads, its solution passes every check, its template does not"
    )
    test.add_argument("dir", metavar="DIR", help="the exercise folder")
    test.add_argument("--seed", type=int, default=1, help="the inputs' random seed (default 1)")
    test.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds per run (default 10)")
    test.add_argument("--lang", choices=LANGS, default="en")
    test.set_defaults(run=_cmd_test)

    grade = sub.add_parser("grade", help="grade a solution file, or every .py file of a directory")
    grade.add_argument("path", metavar="FILE|DIR")
    grade.add_argument(
        "--exercise",
        action="append",
        metavar="NAME",
        help="grade as this exercise (repeatable) instead of detecting it; built in: " + ", ".join(catalog.names()),
    )
    grade.add_argument(
        "--exercises",
        action="append",
        metavar="DIR",
        help="also the exercises of DIR: an exercise folder, or a folder of them (repeatable)",
    )
    grade.add_argument("--seed", type=int, help="the inputs' random seed (default: a new one, printed)")
    grade.add_argument("--json", action="store_true", help="print the results as JSON")
    grade.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a submission may run, all checks together (default 5)",
    )
    grade.add_argument(
        "--memory",
        type=int,
        default=1024,
        metavar="MIB",
        help="memory limit of a submission in MiB (default 1024; with isolation, for all its "
        "processes together where cgroups allow)",
    )
    grade.add_argument(
        "--isolation",
        choices=MODES,
        default="auto",
        help="auto: isolate each submission with bubblewrap where it works, else run it without "
        "isolation and say so (default); required: refuse to grade without isolation; "
        "none: no isolation, for trusted files only",
    )
    grade.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="submissions graded at once for a DIR (default: the number of CPUs)",
    )
    grade.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade a DIR on the Dask cluster at ADDRESS (tcp://host:8786), one task per file, "
        "each sandboxed on its worker; 'local' starts a LocalCluster of --jobs processes",
    )
    grade.add_argument(
        "--report",
        metavar="CSV",
        help="also write the table as CSV (a row per file and exercise, "
        "with the student, the score and the points possible)",
    )
    grade.add_argument(
        "--format",
        choices=("gradescope", "junit"),
        help="also write the grades for another tool: gradescope (the autograder's results.json) "
        "or junit (JUnit XML), to --out",
    )
    grade.add_argument("--out", metavar="FILE", help="where --format writes (default results.json or junit.xml)")
    grade.add_argument(
        "--id-pattern",
        type=_id_pattern,
        metavar="REGEX",
        help="the student id in a file name: the first group (or the whole match) of REGEX, "
        "e.g. '(\\d{10})' (default: the name without its suffix)",
    )
    grade.add_argument("--lang", choices=LANGS, default="en", help="language of the feedback (en or zh)")
    grade.add_argument(
        "--similarity",
        action="store_true",
        help="for a DIR: also report the pairs of submissions whose code is suspiciously alike "
        "(names, comments, whitespace and the exercise's template ignored; needs the "
        "classroom extra)",
    )
    grade.add_argument(
        "--similarity-threshold",
        type=float,
        metavar="F",
        help="report a pair when either file shares at least this fraction of its code with the other (default 0.5)",
    )
    grade.add_argument(
        "--template", metavar="FILE", help="with --similarity: also ignore the code of FILE, given to every student"
    )
    grade.set_defaults(run=_cmd_grade)
