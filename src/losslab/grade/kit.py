"""Checks for a teacher's own exercise: call the learner's function or method, compare with the reference.

A teacher's ``checks.py`` (see :mod:`losslab.grade.catalog` for the folder) usually
needs nothing more than a list of :class:`Case` objects and :func:`compare`::

    from losslab.grade.kit import Case, compare, solution

    def make_cases(seed):
        rng = np.random.default_rng(seed)
        return {"y": rng.normal(size=(4, 3)), "t": rng.normal(size=(4, 3))}

    PROBES, judge = compare(solution(__file__), [
        Case("random", "mean_absolute_error", ("y", "t"), "random inputs of shape (4, 3)", "形状为 (4, 3) 的随机输入"),
    ])

Each case calls the learner's ``call`` (a function, or ``Class.method`` on a fresh
instance, after the ``before`` calls) with copies of the named inputs, in the
sandbox; the judge calls the reference solution (``solution.py``, trusted, in the
judge's process) the same way and compares the two values with the judge's
tolerances (:mod:`losslab.grade.checks`). One more check per target, advisory, says
whether the learner's code changed its inputs. The check ids are ``call:id``
(``"mean_absolute_error:random"``) and ``call:unchanged``: the keys of
``exercise.json``'s ``"checks"``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._i18n import Msg
from .checks import Judge
from .exercises._probe import changed, snapshot

__all__ = ["Case", "compare", "solution"]


@dataclass(frozen=True)
class Case:
    """One value check: ``call`` (``"name"`` or ``"Class.method"``) with the inputs named by ``args``.

    ``en`` / ``zh`` say what is tested; ``init`` names the constructor's inputs and
    ``before`` the earlier calls on the same instance, as ``(method, (input names))``
    pairs (``before=(("forward", ("x", "t")),)`` before a ``backward`` call);
    ``float32`` loosens the tolerance to float32's.
    """

    id: str
    call: str
    args: tuple[str, ...]
    en: str
    zh: str = ""
    init: tuple[str, ...] = ()
    before: tuple = ()
    float32: bool = False


def solution(checks_file: str):
    """The module ``solution.py`` beside ``checks_file`` (pass ``__file__``), imported in the judge's process."""
    path = Path(checks_file).with_name("solution.py")
    spec = importlib.util.spec_from_file_location(f"losslab_solution_{abs(hash(str(path))) % 10**8}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Python cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _run(case: Case, need, cases: dict, call=lambda label, fn, *a: fn(*a)):
    """Call what ``case`` says on the objects ``need(name)`` gives; return the value and the inputs passed."""
    owner, _, method = case.call.partition(".")
    fn = need(owner)
    if method:
        obj = call(f"{owner}()", fn, *(_copy(cases[k]) for k in case.init))
        for name, keys in case.before:
            call(f"{owner}.{name}", getattr(obj, name), *(_copy(cases[k]) for k in keys))
        fn = getattr(obj, method)
    passed = [_copy(cases[k]) for k in case.args]
    return snapshot(call(case.call, fn, *passed)), passed


def compare(reference, cases: Sequence[Case]):
    """``(PROBES, judge)`` for ``checks.py``: each case compared with the ``reference`` module's answer."""
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError(f"the cases' ids must differ, got {ids}")

    def make_probe(case: Case):
        def probe(module, inputs, rec):
            out, passed = _run(case, lambda name: rec.need(module, name), inputs, rec.call)
            return {
                "out": out,
                "changed": changed(
                    *((k, inputs[k], p) for k, p in zip(case.args, passed, strict=True) if isinstance(p, np.ndarray))
                ),
            }

        return probe

    def judge(inputs: dict, probes) -> list:
        j = Judge("", probes)
        targets: dict[str, list[str]] = {}
        for case in cases:
            expected, _ = _run(case, lambda name: getattr(reference, name), inputs)
            j.value(
                case.call,
                Msg("case.custom", {"id": case.id, "en": case.en, "zh": case.zh or case.en}),
                case.id,
                "out",
                expected,
                float32=case.float32,
            )
            targets.setdefault(case.call, []).append(case.id)
        for target, probe_ids in targets.items():
            j.unchanged(target, probe_ids)
        return j.checks

    return {c.id: make_probe(c) for c in cases}, judge
