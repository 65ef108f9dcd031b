"""A grading report as JSON and back, losslessly: the database keeps the messages' keys and parameters, so a
stored report is put into words in English or Chinese when it is shown, and exported with the judge's exporters.

>>> from losslab.grade.checks import Check
>>> from losslab.grade.grader import ExerciseReport, FileReport
>>> from losslab.grade._i18n import Msg
>>> check = Check("loss-forward", "MeanSquaredError.forward", Msg("case.batch1", {"shape": (1, 4)}), False,
...               Msg("reason.mismatch", {"expected": "1.5", "got": "3"}), "mse_no_half")
>>> report = FileReport("a.py", 3, (ExerciseReport("loss-forward", (check,), ("Loss", "损失")),))
>>> decode(encode(report)) == report
True
"""

from __future__ import annotations

from typing import Any

from ..grade._i18n import Msg
from ..grade.checks import Check
from ..grade.grader import ExerciseReport, FileReport

__all__ = ["encode", "decode"]


def _value(v: Any) -> Any:
    if isinstance(v, Msg):
        return {"$msg": v.key, "params": {k: _value(x) for k, x in v.params.items()}}
    if isinstance(v, tuple):
        return {"$tuple": [_value(x) for x in v]}
    if isinstance(v, list):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {"$dict": {str(k): _value(x) for k, x in v.items()}}
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if hasattr(v, "item"):  # a NumPy scalar
        return v.item()
    return str(v)


def _back(v: Any) -> Any:
    if isinstance(v, dict):
        if "$msg" in v:
            return Msg(v["$msg"], {k: _back(x) for k, x in v["params"].items()})
        if "$tuple" in v:
            return tuple(_back(x) for x in v["$tuple"])
        return {k: _back(x) for k, x in v["$dict"].items()}
    if isinstance(v, list):
        return [_back(x) for x in v]
    return v


def _check(c: Check) -> dict:
    return {
        "exercise": c.exercise,
        "target": c.target,
        "case": _value(c.case),
        "passed": c.passed,
        "reason": _value(c.reason),
        "mistake": c.mistake,
        "advisory": c.advisory,
        "points": c.points,
        "visibility": c.visibility,
    }


def _uncheck(d: dict) -> Check:
    return Check(
        d["exercise"],
        d["target"],
        _back(d["case"]),
        d["passed"],
        _back(d["reason"]),
        d["mistake"],
        d["advisory"],
        d["points"],
        d["visibility"],
    )


def encode(report: FileReport) -> dict:
    """``report`` as JSON-ready data."""
    return {
        "path": report.path,
        "seed": report.seed,
        "seconds": report.seconds,
        "isolation": report.isolation,
        "possible": report.possible,
        "notes": [_value(n) for n in report.notes],
        "skipped": _value(report.skipped),
        "problem": None if report.problem is None else _check(report.problem),
        "exercises": [
            {"exercise": e.exercise, "titles": list(e.titles), "checks": [_check(c) for c in e.checks]}
            for e in report.exercises
        ],
    }


def decode(data: dict) -> FileReport:
    """The report :func:`encode` made ``data`` of."""
    return FileReport(
        data["path"],
        data["seed"],
        tuple(
            ExerciseReport(e["exercise"], tuple(_uncheck(c) for c in e["checks"]), tuple(e["titles"]))
            for e in data["exercises"]
        ),
        problem=None if data["problem"] is None else _uncheck(data["problem"]),
        seconds=data["seconds"],
        isolation=data["isolation"],
        skipped=_back(data["skipped"]),
        notes=tuple(_back(n) for n in data["notes"]),
        possible=data["possible"],
    )
