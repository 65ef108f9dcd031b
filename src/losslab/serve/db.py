"""The database: classes, people (students and teachers), submissions, settings; Alembic migrations.

Any SQLAlchemy URL works (``sqlite:///class.db``, ``postgresql+psycopg://...``); a bare path is a SQLite file.
Sign-in codes are stored as Argon2 hashes, never in clear.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

__all__ = [
    "Base",
    "Klass",
    "Person",
    "Submission",
    "Setting",
    "engine_for",
    "migrate",
    "new_code",
    "hash_code",
    "verify_code",
    "now",
    "setting",
    "STUDENT",
    "TEACHER",
]

STUDENT, TEACHER = "student", "teacher"
MIGRATIONS = Path(__file__).with_name("migrations")


def now() -> dt.datetime:
    """The current UTC time, without tzinfo (SQLite stores naive datetimes)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Klass(Base):
    """A class: its name and its people."""

    __tablename__ = "classes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Person(Base):
    """A student or a teacher of one class, who signs in with ``login`` and a code (stored hashed)."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(10), default=STUDENT)
    code_hash: Mapped[str] = mapped_column(String(200))


class Submission(Base):
    """One submitted source and, once graded, its report (:mod:`losslab.serve.codec`).

    ``status`` is ``queued``, ``running`` (claimed by the grader ``claimed_by``) or ``done``."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    exercise: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # how many times a grader claimed it
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    started: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    passed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    report: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Setting(Base):
    """A key and its value (the key that signs sessions)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def url_for(db: str) -> str:
    """A SQLAlchemy URL for ``db``: a URL as is, a bare path as a SQLite file."""
    return db if "://" in db else f"sqlite:///{Path(db).expanduser().absolute()}"


def engine_for(db: str) -> Engine:
    """An engine for ``db``; SQLite gets WAL (readers never wait for the writer) and waits for locks."""
    url = url_for(db)
    engine = create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # pragma: no cover - runs on every new connection
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def migrate(engine: Engine) -> None:
    """Bring the database's tables up to the newest migration (creating them in a new database)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def setting(session: Session, key: str, make) -> str:
    """The setting ``key``, created with ``make()`` the first time."""
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=make()))
        session.commit()
        row = session.get(Setting, key)
    assert row is not None
    return row.value


_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are read aloud and typed


def new_code() -> str:
    """A fresh sign-in code: 16 random characters in four groups (about 79 bits)."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_code(code: str) -> str:
    """The Argon2id hash of a sign-in code."""
    return _hasher().hash(code)


def verify_code(code_hash: str, code: str) -> bool:
    """Whether ``code`` matches ``code_hash``."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(code_hash, code.strip().lower())
    except (VerificationError, InvalidHashError):
        return False


def person(session: Session, login: str) -> Person | None:
    return session.scalars(select(Person).where(Person.login == login)).first()
