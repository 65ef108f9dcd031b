"""The submission queue, kept in the database: a submission is claimed by one grader at a time, atomically.

A claim is a conditional update (``status`` from ``queued`` to ``running`` for one id): of two graders that
pick the same id, the database lets exactly one change the row. A submission is graded exactly once: the
report is stored only by the grader holding the claim. Submissions left ``running`` by a grader that died (or
a server that stopped) go back to ``queued`` with :func:`requeue`.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import Session

from .db import Submission, now

__all__ = ["enqueue", "claim", "finish", "requeue", "counts"]


def enqueue(session: Session, person_id: int, exercise: str, source: str) -> int:
    """Queue ``source`` as ``person_id``'s submission for ``exercise``; returns its id."""
    row = Submission(person_id=person_id, exercise=exercise, source=source, status="queued", attempts=0, created=now())
    session.add(row)
    session.commit()
    return row.id


def claim(engine: Engine, grader: str) -> Submission | None:
    """The oldest queued submission, now ``running`` and claimed by ``grader``; None when none is queued."""
    with Session(engine) as session:
        for _ in range(20):  # another grader may win a race for the oldest: try the next
            sid = session.scalars(
                select(Submission.id).where(Submission.status == "queued").order_by(Submission.id).limit(1)
            ).first()
            if sid is None:
                return None
            done = session.execute(
                update(Submission)
                .where(Submission.id == sid, Submission.status == "queued")
                .values(status="running", claimed_by=grader, started=now(), attempts=Submission.attempts + 1)
            )
            session.commit()
            if _changed(done) == 1:
                row = session.get(Submission, sid)
                session.expunge(row)
                return row
    return None


def _changed(result) -> int:
    """The rows an UPDATE changed (``Session.execute`` is typed as returning a plain ``Result``)."""
    return cast(CursorResult, result).rowcount


def finish(
    engine: Engine, sid: int, grader: str, report: dict, passed: int, total: int, score: float, max_score: float
) -> bool:
    """Store the report of submission ``sid``, if ``grader`` still holds its claim; returns whether it did."""
    with Session(engine) as session:
        done = session.execute(
            update(Submission)
            .where(Submission.id == sid, Submission.status == "running", Submission.claimed_by == grader)
            .values(
                status="done",
                finished=now(),
                report=report,
                passed=passed,
                total=total,
                score=score,
                max_score=max_score,
            )
        )
        session.commit()
        return _changed(done) == 1


def requeue(engine: Engine, grader: str | None = None) -> int:
    """Put back in the queue the submissions left running (by ``grader``, or by any); returns how many."""
    with Session(engine) as session:
        where = [Submission.status == "running"]
        if grader is not None:
            where.append(Submission.claimed_by == grader)
        done = session.execute(update(Submission).where(*where).values(status="queued", claimed_by=None))
        session.commit()
        return _changed(done)


def counts(engine: Engine) -> dict[str, int]:
    """How many submissions are queued, running and done."""
    with Session(engine) as session:
        rows = session.execute(select(Submission.status, func.count()).group_by(Submission.status)).all()
    return {"queued": 0, "running": 0, "done": 0, **{s: n for s, n in rows}}
