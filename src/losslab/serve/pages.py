"""What the pages and the API show: statements as HTML (formulas as MathML), submissions and the gradebook as
data, and the gradebook's exports (CSV, Gradescope, JUnit)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..grade import export
from ..grade.report import to_json
from . import codec
from .db import STUDENT, Person, Submission

__all__ = ["markdown", "summary", "submission_data", "gradebook", "export_csv", "export_gradescope", "export_junit"]


def _math(content: str, options: dict) -> str:
    from latex2mathml.converter import convert

    try:
        return convert(content, display="block" if options.get("display_mode") else "inline")
    except Exception:  # a formula MathML cannot express is shown as its source
        from html import escape

        return f"<code>{escape(content)}</code>"


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    dollarmath_plugin(md, renderer=_math, allow_digits=False)
    return md


def markdown(text: str) -> str:
    """``text`` (Markdown with ``$...$`` and ``$$...$$`` formulas) as HTML; raw HTML in it is escaped."""
    return _markdown().render(text)


def summary(row: Submission) -> dict:
    """A submission's line in a history: id, exercise, status, score, when."""
    return {
        "id": row.id,
        "exercise": row.exercise,
        "status": row.status,
        "score": row.score,
        "max_score": row.max_score,
        "created": row.created.isoformat() + "Z",
    }


def submission_data(row: Submission, login: str, lang: str = "en", teacher: bool = False) -> dict:
    """A submission as the API gives it; a learner sees the name and verdict of a hidden check, not its reason."""
    data = {
        "id": row.id,
        "exercise": row.exercise,
        "student": login,
        "status": row.status,
        "created": row.created.isoformat() + "Z",
        "finished": None if row.finished is None else row.finished.isoformat() + "Z",
        "passed": row.passed,
        "total": row.total,
        "score": row.score,
        "max_score": row.max_score,
        "checks": [],
        "problem": None,
        "notes": [],
        "isolation": None,
    }
    if row.status == "done" and row.report is not None:
        report = to_json(codec.decode(row.report), lang)
        checks = [c for e in report["exercises"] for c in e["checks"]]
        if not teacher:
            for c in checks:
                if c["visibility"] == "hidden" and not c["passed"]:
                    c.update(reason=None, mistake=None, mistake_text=None)
        data.update(
            checks=checks,
            problem=report["problem"],
            notes=report["notes"],
            isolation=report["isolation"],
            passed_all=report["passed"],
        )
    return data


def gradebook(session: Session, class_id: int, exercises: list[str]) -> dict:
    """The class's students x ``exercises``: best score, points possible, attempts, last submission."""
    people = session.scalars(
        select(Person).where(Person.class_id == class_id, Person.role == STUDENT).order_by(Person.login)
    ).all()
    rows = session.execute(
        select(
            Submission.id,
            Submission.person_id,
            Submission.exercise,
            Submission.status,
            Submission.score,
            Submission.max_score,
        )
        .join(Person, Person.id == Submission.person_id)
        .where(Person.class_id == class_id)
        .order_by(Submission.id)
    ).all()
    cells: dict[tuple[int, str], dict] = {}
    for sid, pid, exercise, status, score, max_score in rows:
        cell = cells.setdefault(
            (pid, exercise),
            {"best": None, "max_score": None, "attempts": 0, "last": None, "last_status": None, "best_id": None},
        )
        cell["attempts"] += 1
        cell["last"], cell["last_status"] = sid, status
        if status == "done" and (cell["best"] is None or (score or 0.0) > cell["best"]):
            cell["best"], cell["max_score"], cell["best_id"] = score or 0.0, max_score, sid
    students = []
    for p in people:
        students.append(
            {
                "student": p.login,
                "name": p.name,
                "exercises": {
                    e: cells.get(
                        (p.id, e),
                        {
                            "best": None,
                            "max_score": None,
                            "attempts": 0,
                            "last": None,
                            "last_status": None,
                            "best_id": None,
                        },
                    )
                    for e in exercises
                },
            }
        )
    return {"exercises": exercises, "students": students}


def export_csv(book: dict) -> str:
    """The gradebook as CSV: one row per student and exercise."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["student", "name", "exercise", "best_score", "max_score", "attempts", "last_submission", "last_status"]
    )
    for s in book["students"]:
        for e, c in s["exercises"].items():
            writer.writerow(
                [
                    s["student"],
                    s["name"],
                    e,
                    "" if c["best"] is None else f"{c['best']:g}",
                    "" if c["max_score"] is None else f"{c['max_score']:g}",
                    c["attempts"],
                    c["last"] or "",
                    c["last_status"] or "",
                ]
            )
    return out.getvalue()


def _best_reports(session: Session, book: dict) -> dict[str, list]:
    """Each student's best graded submission of each exercise, as the judge's reports."""
    out: dict[str, list] = {}
    for s in book["students"]:
        reports = []
        for e, c in s["exercises"].items():
            if c["best_id"] is not None:
                row = session.get(Submission, c["best_id"])
                if row is not None and row.report is not None:
                    reports.append(replace(codec.decode(row.report), path=f"{s['student']}-{e}.py"))
        out[s["student"]] = reports
    return out


def export_gradescope(session: Session, book: dict, lang: str = "en") -> str:
    """Per student, Gradescope's ``results.json`` of their best submissions: ``{student: results}``."""
    return json.dumps(
        {s: export.gradescope(r, lang) for s, r in _best_reports(session, book).items()}, indent=1, ensure_ascii=False
    )


def export_junit(session: Session, book: dict, lang: str = "en") -> str:
    """JUnit XML of every student's best submissions, one test suite per student and exercise."""
    reports = [r for rs in _best_reports(session, book).values() for r in rs]
    return export.junit(reports, lang)
