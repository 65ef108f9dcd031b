"""The judge's side of a check: compare what a submission returned with the reference, name the mistake.

Tolerances. A value passes when, element by element,
``|got - expected| <= ATOL + rtol * |expected|`` (NumPy's ``allclose`` rule, the same
test as the platform's "error at most 1e-5"), with ``ATOL = 1e-5`` and ``rtol = 1e-5``
for float64 inputs, ``1e-4`` for float32 inputs (their own rounding is about 1e-7
relative, summed over a batch). Expected values are computed in float64 from the
exact input values. A gradient check passes when the relative error
``|a - n| / max(|a|, |n|, 1e-4 * max|n|)`` of the analytic gradient ``a`` against central
differences ``n`` is at most ``GRAD_RTOL = 1e-4`` everywhere.

When a value is wrong, it is compared with *transformed* references, one per likely
mistake (the loss times B for a forgotten batch mean, the gradient times -1 for a
swapped sign, ...); the first that matches names the mistake.

>>> import numpy as np
>>> j = Judge("demo", {"p": Probe(values={"loss": np.float64(8.0)})})
>>> check = j.value("f", Msg("case.float32"), "p", "loss", 2.0, mistakes=[("no_batch_mean", 8.0)])
>>> check.passed, check.mistake, check.reason.text("en")
(False, 'no_batch_mean', 'expected 2, got 8')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._i18n import Msg, say

ATOL = 1e-5
"""The absolute tolerance of a value check: ``|got - expected| <= ATOL + rtol * |expected|``."""
RTOL = 1e-5
"""The relative tolerance of a value check on float64 inputs."""
RTOL_FLOAT32 = 1e-4
"""The relative tolerance of a value check on float32 inputs (their own rounding, summed over a batch)."""
GRAD_RTOL = 1e-4
"""The largest relative error of an analytic gradient against central differences that passes."""
SAME_TOL = 1e-12  # "the same gradient twice"

__all__ = ["Check", "Probe", "Judge", "Foreign", "as_numbers", "ATOL", "RTOL", "RTOL_FLOAT32", "GRAD_RTOL"]


class Foreign:
    """A value of the submission's that is not a number or an array (a generator, an instance ...):
    the judge knows only its type name."""

    __slots__ = ("type",)
    type: str

    def __init__(self, type: str) -> None:
        object.__setattr__(self, "type", type)

    def __repr__(self) -> str:
        return f"Foreign(type={self.type!r})"


@dataclass(frozen=True)
class Probe:
    """What one probe observed (``values``), or why it observed nothing (``failure``)."""

    values: Mapping[str, Any] | None = None
    failure: Msg | None = None


@dataclass(frozen=True)
class Check:
    """One graded check: what was tested on which function, the verdict, and why it failed."""

    exercise: str
    target: str  # the learner's function or method, e.g. "SoftmaxWithLoss.forward"
    case: Msg  # what was tested
    passed: bool
    reason: Msg | None = None  # why it failed (expected vs got, an exception, a timeout ...)
    mistake: str | None = None  # the likely mistake, a key of _i18n.MESSAGES without "mistake."
    advisory: bool = False  # observed inside the submission's process (which could fake a pass)
    points: float = 1.0  # what passing it is worth
    visibility: str = "public"  # "public": full feedback; "hidden": the learner sees its name and pass/fail

    @property
    def id(self) -> str:
        """A stable name within its exercise: the target and what was tested (``"Relu.backward:float32"``)."""
        if self.case.key == "case.custom":  # a teacher's check: its own id
            return f"{self.target}:{self.case.params.get('id')}"
        return f"{self.target}:{self.case.key.removeprefix('case.')}"

    @property
    def earned(self) -> float:
        return self.points if self.passed else 0.0

    def mistake_text(self, lang: str = "en") -> str | None:
        """The likely mistake in words, in ``lang``; None when none was named."""
        return None if self.mistake is None else say(f"mistake.{self.mistake}", lang)

    def to_dict(self, lang: str = "en") -> dict:
        """The check as plain JSON data, its texts in ``lang``: id, verdict, reason, mistake, points and score."""
        return {
            "id": self.id,
            "exercise": self.exercise,
            "target": self.target,
            "case": self.case.text(lang),
            "passed": self.passed,
            "reason": None if self.reason is None else self.reason.text(lang),
            "mistake": self.mistake,
            "mistake_text": self.mistake_text(lang),
            "advisory": self.advisory,
            "points": self.points,
            "score": self.earned,
            "visibility": self.visibility,
        }


def fmt(value) -> str:
    """A number as it appears in feedback: 7 significant digits."""
    value = float(value) + 0.0  # no "-0"
    return f"{value:.7g}"


def _close(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float = ATOL) -> bool:
    if got.shape != expected.shape:
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all(np.abs(got - expected) <= atol + rtol * np.abs(expected)))


def as_numbers(got, none_reason: Msg | None = None) -> tuple[np.ndarray | None, Msg | None]:
    """``got`` as a float64 array, or the reason it is not a number or an array of numbers: exactly one is None."""
    if got is None:
        return None, none_reason or Msg("reason.none")
    if isinstance(got, Foreign):
        return None, Msg("reason.not_numeric", {"type": got.type})
    if isinstance(got, (str, dict)):
        return None, Msg("reason.not_numeric", {"type": type(got).__name__})
    try:
        arr = np.asarray(got)
    except (ValueError, TypeError):  # a ragged list, or one holding objects of the submission's
        return None, Msg("reason.not_numeric", {"type": type(got).__name__})
    if arr.dtype.kind not in "biuf":
        return None, Msg("reason.not_numeric", {"type": f"ndarray of dtype {arr.dtype}"})
    return arr.astype(np.float64), None


def _mismatch(got: np.ndarray, expected: np.ndarray) -> Msg:
    if expected.ndim == 0:
        return Msg("reason.mismatch", {"expected": fmt(expected), "got": fmt(got)})
    with np.errstate(invalid="ignore"):
        err = np.abs(got - expected)
    err = np.where(np.isnan(err), np.inf, err)
    i = np.unravel_index(int(np.argmax(err)), err.shape)
    index = tuple(int(k) for k in i)
    return Msg(
        "reason.mismatch_at", {"expected": fmt(expected[i]), "got": fmt(got[i]), "index": index, "err": float(err[i])}
    )


class Judge:
    """Builds the checks of one exercise from the probes' observations; ``checks`` holds them in order."""

    def __init__(self, exercise: str, probes: Mapping[str, Probe]) -> None:
        self.exercise = exercise
        self.probes = probes
        self.checks: list[Check] = []
        self._timed_out = False

    # ------------------------------------------------------------------ plumbing
    def record(
        self,
        target: str,
        case: Msg,
        passed: bool,
        reason: Msg | None = None,
        mistake: str | None = None,
        advisory: bool = False,
    ) -> Check:
        check = Check(self.exercise, target, case, passed, reason, mistake, advisory)
        self.checks.append(check)
        return check

    def observed(self, probe_id: str) -> tuple[Mapping[str, Any] | None, Msg | None]:
        """The values probe ``probe_id`` observed, or the reason there are none: exactly one is None."""
        probe = self.probes.get(probe_id)
        if probe is None:
            return None, Msg("reason.sandbox", {"msg": f"no result for {probe_id}"})
        if probe.failure is not None:
            if probe.failure.key == "reason.timeout":  # said once; the checks after it did not run
                if self._timed_out:
                    return None, Msg("reason.not_run", {"call": probe.failure.params.get("call", "?")})
                self._timed_out = True
            return None, probe.failure
        if probe.values is None:
            return None, Msg("reason.sandbox", {"msg": f"no values from {probe_id}"})
        return probe.values, None

    def amend(self, check: Check, mistake: str) -> Check:
        """Name ``mistake`` on a failed ``check`` that has none yet (when other checks reveal it).

        Returns the check as it now stands in :attr:`checks`.
        """
        if check.passed or check.mistake is not None:
            return check
        for i, c in enumerate(self.checks):
            if c is check:
                self.checks[i] = replace(check, mistake=mistake)
                return self.checks[i]
        return check

    # ------------------------------------------------------------------ values
    def compare(
        self,
        target: str,
        case: Msg,
        got,
        expected,
        *,
        also: Sequence = (),
        mistakes: Sequence[tuple[str, Any]] = (),
        shape_mistakes: Sequence[tuple[str, tuple]] = (),
        float32: bool = False,
        nonfinite: str | None = None,
        none_reason: Msg | None = None,
    ) -> Check:
        """Compare ``got`` with ``expected`` (or any of ``also``, other acceptable answers).

        ``mistakes`` are ``(key, transformed expected)`` pairs tried in order when the
        value is wrong; ``shape_mistakes`` are ``(key, shape)`` pairs naming a mistake
        by the shape alone; ``nonfinite`` names the mistake behind a NaN/inf.
        """
        exp = np.asarray(expected, dtype=np.float64)
        rtol = RTOL_FLOAT32 if float32 else RTOL
        arr, why = as_numbers(got, none_reason)
        if arr is None:
            return self.record(target, case, False, why)
        if exp.ndim == 0:
            if arr.size != 1:
                return self.record(target, case, False, Msg("reason.not_scalar", {"shape": arr.shape}))
            arr = arr.reshape(())
        elif arr.shape != exp.shape:
            shape_msg = Msg("reason.shape", {"got": arr.shape, "expected": exp.shape})
            for key, candidate in mistakes:
                if _close(arr, np.asarray(candidate, dtype=np.float64), rtol):
                    return self.record(target, case, False, shape_msg, key)
            by_shape = next((k for k, shape in shape_mistakes if tuple(shape) == arr.shape), None)
            return self.record(target, case, False, shape_msg, by_shape)
        if not np.all(np.isfinite(arr)) and np.all(np.isfinite(exp)):
            bad = _mismatch(arr, exp)
            return self.record(
                target,
                case,
                False,
                Msg("reason.nonfinite", {"expected": bad.params["expected"], "got": bad.params["got"]}),
                nonfinite,
            )
        if any(_close(arr, np.asarray(e, dtype=np.float64), rtol) for e in (exp, *also)):
            return self.record(target, case, True)
        for key, candidate in mistakes:
            if _close(arr, np.asarray(candidate, dtype=np.float64), rtol):
                return self.record(target, case, False, _mismatch(arr, exp), key)
        return self.record(target, case, False, _mismatch(arr, exp))

    def value(self, target: str, case: Msg, probe_id: str, key: str, expected, **options) -> Check:
        """:meth:`compare` on the value ``key`` that probe ``probe_id`` observed."""
        values, failure = self.observed(probe_id)
        if values is None:
            return self.record(target, case, False, failure)
        return self.compare(target, case, values.get(key), expected, **options)

    def values(self, target: str, case: Msg, probe_id: str, items: Sequence[tuple[str, Any, dict]]) -> Check:
        """One check over several observed values ``(key, expected, options)``: the first failure decides."""
        values, failure = self.observed(probe_id)
        if values is None:
            return self.record(target, case, False, failure)
        for key, expected, options in items:
            check = self.compare(target, case, values.get(key), expected, **options)
            if not check.passed:
                return check
            self.checks.pop()
        return self.record(target, case, True)

    def shape_dtype(
        self, target: str, case: Msg, probe_id: str, keys: Sequence[str], shapes: Sequence[tuple], dtype
    ) -> Check:
        """Each observed ``keys[i]`` is an ndarray of ``shapes[i]`` and ``dtype``."""
        values, failure = self.observed(probe_id)
        if values is None:
            return self.record(target, case, False, failure)
        want = np.dtype(dtype)
        for key, shape in zip(keys, shapes, strict=False):
            got = values.get(key)
            arr, why = as_numbers(got)
            if arr is None:
                return self.record(target, case, False, why)
            if arr.shape != tuple(shape):
                return self.record(
                    target, case, False, Msg("reason.shape", {"got": arr.shape, "expected": tuple(shape)})
                )
            got_dtype = np.asarray(got).dtype
            if got_dtype != want:
                return self.record(
                    target, case, False, Msg("reason.dtype", {"got": str(got_dtype), "expected": str(want)})
                )
        return self.record(target, case, True)

    def condition(
        self,
        target: str,
        case: Msg,
        probe_id: str,
        verdict: Callable[[Mapping[str, Any]], tuple[Msg, str | None] | None],
        *,
        advisory: bool = False,
    ) -> Check:
        """``verdict(values)`` is None when the check passes, else ``(reason, mistake or None)``;
        ``advisory`` when the values it reads were observed inside the submission's process."""
        values, failure = self.observed(probe_id)
        if values is None:
            return self.record(target, case, False, failure)
        result = verdict(values)
        if result is None:
            return self.record(target, case, True, advisory=advisory)
        return self.record(target, case, False, *result, advisory=advisory)

    def unchanged(
        self, target: str, probe_ids: Sequence[str], mistakes: Mapping[str, str] | None = None, case: Msg | None = None
    ) -> Check:
        """No probe in ``probe_ids`` saw the learner modify an input (``values['changed']`` is empty).

        ``mistakes`` maps an input's name to the mistake its modification reveals. Advisory: which
        arguments a call changed is seen inside the submission's process.
        """
        case = case or Msg("case.unchanged")
        names: list[str] = []
        for probe_id in probe_ids:
            values, failure = self.observed(probe_id)
            if values is None:
                return self.record(target, case, False, failure)
            names += [n for n in values.get("changed") or () if n not in names]
        if not names:
            return self.record(target, case, True, advisory=True)
        mistake = next((m for n, m in (mistakes or {}).items() if n in names), None)
        return self.record(
            target, case, False, Msg("reason.changed", {"names": ", ".join(names)}), mistake, advisory=True
        )

    def twice(
        self,
        target: str,
        probe_id: str,
        first: str = "dx",
        second: str = "dx2",
        mistakes: Sequence[tuple[str, Any]] = (),
    ) -> Check:
        """Two calls of backward returned the same gradient; ``mistakes`` are ``(key, second answer)`` pairs
        naming what a second answer reveals."""
        case = Msg("case.twice")
        values, failure = self.observed(probe_id)
        if values is None:
            return self.record(target, case, False, failure)
        a, why_a = as_numbers(values.get(first))
        b, why_b = as_numbers(values.get(second))
        if a is None or b is None:
            return self.record(target, case, False, why_a or why_b)
        if a.shape != b.shape:
            return self.record(target, case, False, Msg("reason.shape", {"got": b.shape, "expected": a.shape}))
        with np.errstate(invalid="ignore"):
            err = float(np.max(np.abs(a - b), initial=0.0))
        if np.array_equal(a, b, equal_nan=True) or err <= SAME_TOL:
            return self.record(target, case, True)
        mistake = next(
            (k for k, candidate in mistakes if _close(b, np.asarray(candidate, dtype=np.float64), RTOL)), None
        )
        return self.record(target, case, False, Msg("reason.twice", {"err": err}), mistake)

    def gradcheck(
        self,
        target: str,
        probe_id: str,
        pairs: Sequence[tuple[str, str]],
        *,
        factors: Sequence[tuple[str, float]] = (),
        case: Msg | None = None,
    ) -> Check:
        """Analytic gradients ``values[a]`` against central differences ``values[n]`` for each ``(a, n)``.

        ``factors`` are ``(mistake, k)``: an analytic gradient equal to ``k`` times the
        numerical one names that mistake (k = -1 for a swapped sign, ...).
        """
        case = case or Msg("case.gradcheck")
        values, failure = self.observed(probe_id)
        if values is None:
            return self.record(target, case, False, failure)
        for a_key, n_key in pairs:
            numeric = np.asarray(values.get(n_key), dtype=np.float64)
            analytic, why = as_numbers(values.get(a_key))
            if analytic is None:
                return self.record(target, case, False, why)
            if analytic.shape != numeric.shape:
                return self.record(
                    target, case, False, Msg("reason.shape", {"got": analytic.shape, "expected": numeric.shape})
                )
            if analytic.size == 0:
                continue
            floor = max(1e-4 * float(np.max(np.abs(numeric))), 1e-12)
            with np.errstate(invalid="ignore", over="ignore"):
                err = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
            err = np.where(np.isnan(err), np.inf, err)
            i = np.unravel_index(int(np.argmax(err)), err.shape)
            if err[i] <= GRAD_RTOL:
                continue
            reason = Msg(
                "reason.gradcheck",
                {
                    "err": float(err[i]),
                    "index": tuple(int(k) for k in i),
                    "analytic": float(analytic[i]),
                    "numeric": float(numeric[i]),
                },
            )
            mistake = next((m for m, k in factors if _close(analytic, k * numeric, GRAD_RTOL, 1e-8)), None)
            return self.record(target, case, False, reason, mistake)
        return self.record(target, case, True)
