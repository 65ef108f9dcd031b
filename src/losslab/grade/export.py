"""Grades in other tools' formats: Gradescope's autograder ``results.json`` and JUnit XML.

Gradescope runs an autograder's ``run_autograder`` script with the student's files in
``/autograder/submission/`` and reads ``/autograder/results/results.json``; the script
can be one line:

    losslab grade /autograder/submission --format gradescope --out /autograder/results/results.json

Each check becomes one Gradescope test: ``name`` (the function and what was tested),
``score`` and ``max_score`` (its points), ``status``, ``output`` (why it failed, the
likely mistake) and ``visibility`` (``"visible"``; a hidden check keeps its name and
score visible and its output empty). A file that could not run (it does not compile,
its import failed, it timed out) is one test worth its exercises' points.

>>> from losslab.grade.grader import ExerciseReport, FileReport
>>> from losslab.grade.checks import Check
>>> from losslab.grade._i18n import Msg
>>> ok = Check("relu-backward", "Relu.backward", Msg("case.float32"), True, points=2)
>>> data = gradescope([FileReport("relu.py", 1, (ExerciseReport("relu-backward", (ok,)),))])
>>> data["score"], data["tests"][0]["name"], data["tests"][0]["max_score"], data["tests"][0]["status"]
(2.0, 'relu.py: Relu.backward: float32 inputs', 2.0, 'passed')
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ._i18n import say
from .checks import Check
from .grader import FileReport
from .report import failure_text, student_id

__all__ = ["gradescope", "junit", "FORMATS"]

FORMATS = ("gradescope", "junit")


def _tests(report: FileReport, lang: str) -> list[tuple[str, Check, float]]:
    """(name, check, max score) of every check of a file; a file that did not run is one check."""
    name = report.path.rsplit("/", 1)[-1]
    if report.problem is not None:
        return [(f"{name}: {report.problem.target}: {report.problem.case.text(lang)}", report.problem, report.score[1])]
    return [(f"{name}: {c.target}: {c.case.text(lang)}", c, c.points) for e in report.exercises for c in e.checks]


def gradescope(reports: Sequence[FileReport], lang: str = "en") -> dict:
    """The ``results.json`` of Gradescope's autograder specification for the graded ``reports``."""
    tests: list[dict] = []
    total = 0.0
    for report in reports:
        if report.skipped is not None:
            continue
        for name, check, max_score in _tests(report, lang):
            score = max_score if check.passed else 0.0
            total += score
            output = "" if check.passed or check.visibility == "hidden" else failure_text(check, lang)
            tests.append(
                {
                    "name": name,
                    "number": f"{len(tests) + 1}",
                    "score": float(score),
                    "max_score": float(max_score),
                    "status": "passed" if check.passed else "failed",
                    "output": output,
                    "visibility": "visible",
                }
            )
    notes = [n.text(lang) for r in reports for n in r.notes]
    isolation = sorted({r.isolation for r in reports if r.isolation})
    output = "\n".join([*(say("word.isolation", lang, mode=i) for i in isolation), *notes])
    return {
        "score": float(total),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def junit(reports: Sequence[FileReport], lang: str = "en", id_pattern: str | None = None) -> str:
    """JUnit XML: one ``testsuite`` per file (named by its student), one ``testcase`` per check."""
    suites = ET.Element("testsuites", name="losslab grade")
    all_tests = all_failures = 0
    for report in reports:
        if report.skipped is not None:
            continue
        tests = _tests(report, lang)
        failures = sum(not c.passed for _, c, _ in tests)
        all_tests += len(tests)
        all_failures += failures
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=student_id(report.path, id_pattern),
            tests=str(len(tests)),
            failures=str(failures),
            errors="0",
            time=f"{report.seconds:.3f}",
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="isolation", value=report.isolation)
        for name, check, max_score in tests:
            case = ET.SubElement(suite, "testcase", classname=check.exercise, name=name, time="0")
            if not check.passed:
                message = say("word.hidden_failed", lang) if check.visibility == "hidden" else failure_text(check, lang)
                failure = ET.SubElement(case, "failure", message=message, type=check.mistake or "failed")
                failure.text = f"{message}\n(worth {max_score:g} points)"
    suites.set("tests", str(all_tests))
    suites.set("failures", str(all_failures))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
