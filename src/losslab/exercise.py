"""Check an exercise from the notebook you are working in: ``check("loss-forward")``.

``check`` grades the functions and classes defined in your own namespace (the
notebook's, or the module that calls it) with the exercise's public checks and prints
the feedback ``losslab grade`` would print for them. It runs your code here, in your
own Python process, on your own machine: it is not isolated and has no time limit
(an infinite loop hangs your notebook until you interrupt it), and it leaves out the
hidden checks a teacher's ``losslab grade`` runs. It is for checking yourself; the
grade that counts is the one ``losslab grade`` gives the file you hand in.

>>> import numpy as np
>>> def numerical_gradient(f, x):
...     grad = np.zeros_like(x)
...     for i in np.ndindex(x.shape):
...         old = x[i]
...         x[i] = old + 1e-4
...         f1 = f(x)
...         x[i] = old - 1e-4
...         f2 = f(x)
...         x[i] = old
...         grad[i] = (f1 - f2) / 2e-4
...     return grad
>>> report = check("numerical-gradient", seed=3)  # doctest: +ELLIPSIS
self-check of numerical-gradient (seed 3): your code runs here, in your own Python process ...
  PASS  numerical_gradient: f(x) = sum(x**3)/3 + sum(sin x) at a 1-D x of size 7
  PASS  numerical_gradient: f(W) = sum(A * W**3)/3 + sum(C * W) at a 2-D W of shape (2, 3)
  PASS  numerical_gradient: the result has x's shape (2, 3) and dtype float64
  PASS  numerical_gradient: x holds its original values after the call (advisory)
  4 of 4 checks passed
>>> report.passed
True
"""

from __future__ import annotations

import random
import sys

from .grade import catalog
from .grade._i18n import LANGS, say
from .grade.grader import ExerciseReport, FileReport
from .grade.report import check_line
from .grade.sandbox import LocalSession, probe_all

__all__ = ["check"]


def check(
    name: str,
    namespace: dict | None = None,
    *,
    seed: int | None = None,
    lang: str = "en",
    exercises=(),
    quiet: bool = False,
) -> FileReport:
    """Grade exercise ``name`` on what ``namespace`` defines (default: the caller's global namespace, e.g.
    the notebook's), print the feedback (unless ``quiet``) and return the report.

    ``seed`` fixes the random inputs (default: new ones each call, printed); ``lang`` is
    ``"en"`` or ``"zh"``; ``exercises``: folders of a teacher's exercises (as ``--exercises``).
    Raises ``ValueError`` for an unknown exercise or language, or a malformed exercise folder.
    """
    found = catalog.BUILTIN.with_folders([exercises] if isinstance(exercises, str) else exercises)
    try:
        exercise = found.get(name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    if seed is None:
        seed = random.SystemRandom().randrange(1, 1_000_000)
    cases = {exercise.name: exercise.make_cases(seed)}
    probes: dict = {}
    probe_all(LocalSession(namespace), [exercise], cases, probes)
    everything = exercise.checks(cases[exercise.name], {p: probes[f"{exercise.name}:{p}"] for p in exercise.probes})
    public = tuple(c for c in everything if c.visibility == "public")
    report = FileReport(
        say("word.self_name", lang),
        seed,
        (ExerciseReport(exercise.name, public),),
        isolation=say("word.self_isolation", lang),
    )
    if not quiet:
        hidden = len(everything) - len(public)
        print(say("word.self_header", lang, exercise=exercise.name, seed=seed))
        for c in public:
            print(check_line(c, lang, seed))
        passed, total = report.exercises[0].counts
        print(
            "  "
            + say("word.summary", lang, passed=passed, total=total)
            + (say("word.self_hidden", lang, hidden=hidden) if hidden else "")
        )
    return report
