"""The commands: ``losslab serve``, ``losslab class create`` and ``losslab class add-students``."""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from pathlib import Path

from .._errors import UserError

__all__ = ["add_commands", "create_class", "add_students", "serve"]

DEFAULT_DB = "sqlite:///losslab-class.db"
LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


def _need_extra():
    try:
        import alembic  # noqa: F401
        import argon2  # noqa: F401
        import sqlalchemy  # noqa: F401
        import starlette  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f'losslab serve needs the serve extra ({exc.name} is missing): pip install "losslab[serve]"'
        ) from None


def _engine(db: str):
    _need_extra()
    from sqlalchemy.exc import SQLAlchemyError

    from .db import engine_for, migrate

    try:
        engine = engine_for(db)
        migrate(engine)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise UserError(f"--db {db!r}: cannot open the database: {str(exc).splitlines()[0]}") from None
    return engine


def create_class(db: str, name: str) -> tuple[str, str]:
    """Create the class ``name`` and its teacher; returns (the teacher's sign-in id, code)."""
    _need_extra()
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from .db import TEACHER, Klass, Person, hash_code, new_code

    if not LOGIN.match(name):
        raise UserError(f"class name {name!r}: use letters, digits, '.', '_', '-' and '@' (at most 100)")
    engine = _engine(db)
    with Session(engine) as s:
        if s.scalars(select(Klass).where(Klass.name == name)).first() is not None:
            raise UserError(f"class {name!r} already exists in {db}")
        login = f"teacher@{name}"
        klass = Klass(name=name)
        s.add(klass)
        s.flush()
        code = new_code()
        s.add(Person(class_id=klass.id, login=login, name="teacher", role=TEACHER, code_hash=hash_code(code)))
        s.commit()
    engine.dispose()
    return login, code


def read_roster(path: str) -> list[tuple[str, str]]:
    """(student id, name) of each row of the CSV roster at ``path``: a header naming ``student_id`` (and,
    optionally, ``name``)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except FileNotFoundError:
        raise UserError(f"roster {path!r} does not exist") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"roster {path!r} is not a UTF-8 CSV file: {exc}") from None
    if "student_id" not in header:
        raise UserError(
            f"roster {path!r}: the first line must name the columns, with 'student_id' (and "
            f"optionally 'name'); got {', '.join(header) or 'nothing'}"
        )
    out, seen = [], set()
    for line, row in enumerate(rows, start=2):
        sid = (row.get("student_id") or "").strip()
        if not LOGIN.match(sid):
            raise UserError(
                f"roster {path!r}, line {line}: student_id {sid!r} must be letters, digits, '.', '_', "
                f"'-' or '@' (at most 100)"
            )
        if sid in seen:
            raise UserError(f"roster {path!r}, line {line}: student_id {sid!r} appears twice")
        seen.add(sid)
        out.append((sid, (row.get("name") or "").strip()))
    if not out:
        raise UserError(f"roster {path!r} lists no student")
    return out


def add_students(db: str, name: str, roster: str) -> list[tuple[str, str]]:
    """Add the roster's students to class ``name``; returns each (student id, sign-in code)."""
    _need_extra()
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from .db import STUDENT, Klass, Person, hash_code, new_code

    students = read_roster(roster)
    engine = _engine(db)
    out = []
    with Session(engine) as s:
        klass = s.scalars(select(Klass).where(Klass.name == name)).first()
        if klass is None:
            raise UserError(f"no class {name!r} in {db}: create it with `losslab class create {name} --db {db}`")
        taken = set(s.scalars(select(Person.login).where(Person.login.in_([sid for sid, _ in students]))))
        if taken:
            raise UserError(f"student id(s) already in use: {', '.join(sorted(taken))}")
        for sid, full in students:
            code = new_code()
            s.add(Person(class_id=klass.id, login=sid, name=full, role=STUDENT, code_hash=hash_code(code)))
            out.append((sid, code))
        s.commit()
    engine.dispose()
    return out


def serve(
    db: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    graders: int = 2,
    scheduler: str | None = None,
    exercises: tuple[str, ...] = (),
    timeout: float = 5.0,
    max_code: int = 64 * 1024,
    rate: int = 10,
    secure_cookies: bool = False,
    sign_ins: int = 10,
) -> None:
    """Serve the class database ``db`` on ``host:port`` with a pool of ``graders`` grader processes."""
    engine = _engine(db)
    import uvicorn

    from ..grade.sandbox import SandboxConfig
    from . import queue
    from .app import Limits, create_app
    from .graders import GraderSettings, Pool

    back = queue.requeue(engine)  # a grader that died with the last server left these claimed
    engine.dispose()
    if back:
        print(f"losslab serve: {back} submission(s) left running by the last run are queued again", file=sys.stderr)
    settings = GraderSettings(db=db, config=SandboxConfig(timeout=timeout), exercises=exercises, scheduler=scheduler)
    app = create_app(
        db,
        exercises=exercises,
        limits=Limits(max_code=max_code, rate=rate, sign_ins=sign_ins),
        secure_cookies=secure_cookies,
        migrate_db=False,
    )
    pool = Pool(settings, graders)
    pool.start()
    where = f"the Dask scheduler {scheduler}" if scheduler else "this machine's sandbox"
    print(
        f"losslab serve: http://{host}:{port}/ with {graders} grader(s) on {where}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)
    finally:
        pool.stop()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _cmd_serve(args) -> int:
    for folder in args.exercises or ():
        if not Path(folder).is_dir():
            raise UserError(f"--exercises {folder!r} is not a folder")
    if args.exercises:
        from ..grade.catalog import BUILTIN, ExerciseFolderError

        try:
            found = BUILTIN.with_folders(args.exercises)
            if args.scheduler:  # the tasks carry the folders to the cluster's workers: within the limit
                from ..grade.distributed import pack_exercises

                pack_exercises(found)
        except (ExerciseFolderError, ValueError) as exc:
            raise UserError(f"--exercises: {exc}") from None
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be in 1..65535, got {args.port}")
    serve(
        args.db,
        args.host,
        args.port,
        args.graders,
        args.scheduler,
        tuple(args.exercises or ()),
        args.timeout,
        args.max_code,
        args.rate,
        args.secure_cookies,
        args.sign_ins,
    )
    return 0


def _cmd_class_create(args) -> int:
    login, code = create_class(args.db, args.name)
    print(f"class {args.name} created in {args.db}")
    print(f"teacher sign-in: id {login}  code {code}")
    print("keep the code: it is stored hashed and cannot be shown again")
    return 0


def _cmd_class_add(args) -> int:
    added = add_students(args.db, args.name, args.roster)
    print(f"{len(added)} student(s) added to {args.name}; their sign-in codes (stored hashed, shown once):")
    print("student_id,code")
    for sid, code in added:
        print(f"{sid},{code}")
    return 0


def add_commands(sub) -> None:
    """Add ``serve`` and ``class`` to the ``losslab`` command's subparsers ``sub``."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    db_help = "the database: a SQLAlchemy URL (sqlite:///class.db, postgresql+psycopg://...) or a SQLite file path"
    sv = sub.add_parser(
        "serve",
        formatter_class=fmt,
        help="the judge in the browser for a class",
        description="Serve the exercises to a class in the browser; submissions are queued in the "
        "database and graded by separate grader processes in the judge's sandbox.",
    )
    sv.add_argument("--db", default=os.environ.get("LOSSLAB_DB", DEFAULT_DB), metavar="URL", help=db_help)
    sv.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (put HTTPS in front with a reverse proxy)"
    )
    sv.add_argument("--port", type=int, default=8000, help="the port to listen on")
    sv.add_argument("--graders", type=_positive, default=2, metavar="N", help="grader processes")
    sv.add_argument("--scheduler", metavar="ADDRESS", help="grade on the Dask cluster at ADDRESS instead")
    sv.add_argument("--exercises", action="append", metavar="DIR", help="a folder of teachers' exercises (repeatable)")
    sv.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds a submission may run")
    sv.add_argument("--max-code", type=_positive, default=64 * 1024, metavar="BYTES", help="largest source")
    sv.add_argument("--rate", type=_positive, default=10, metavar="N", help="submissions per learner per minute")
    sv.add_argument(
        "--sign-ins", type=_positive, default=10, metavar="N", help="failed sign-ins per client address per minute"
    )
    sv.add_argument(
        "--secure-cookies",
        action="store_true",
        help="send the session cookie over HTTPS only (behind an HTTPS reverse proxy)",
    )
    sv.set_defaults(run=_cmd_serve)

    cl = sub.add_parser("class", help="create a class and its roster for `losslab serve`")
    what = cl.add_subparsers(dest="class_command", metavar="{create,add-students}", required=True)
    cr = what.add_parser("create", formatter_class=fmt, help="create a class; prints the teacher's sign-in code")
    cr.add_argument("name", metavar="NAME")
    cr.add_argument("--db", default=os.environ.get("LOSSLAB_DB", DEFAULT_DB), metavar="URL", help=db_help)
    cr.set_defaults(run=_cmd_class_create)
    ad = what.add_parser(
        "add-students",
        formatter_class=fmt,
        help="add a roster (CSV with student_id[,name]); prints each student's sign-in code",
    )
    ad.add_argument("name", metavar="NAME")
    ad.add_argument("roster", metavar="ROSTER.csv")
    ad.add_argument("--db", default=os.environ.get("LOSSLAB_DB", DEFAULT_DB), metavar="URL", help=db_help)
    ad.set_defaults(run=_cmd_class_add)
