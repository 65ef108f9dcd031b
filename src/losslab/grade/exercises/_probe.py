"""What the probes share: they run in the sandbox, call the learner's code and record what came back.

A probe is a function ``probe(module, cases, rec) -> dict`` run in the judge's own
process, where ``module`` is the running submission (a
:class:`~losslab.grade._session.Session`: ``rec.need(module, name)`` is a handle on what
the file defines, and calling a handle calls the learner's code in its sandbox),
``cases`` the exercise's inputs and ``rec`` a :class:`Recorder`. Every call into
learner code goes through ``rec.call(label, fn, *args)`` so that an exception, a
``sys.exit`` or a timeout can be blamed on the right call ("SoftmaxWithLoss.backward
raised ..."). A probe passes the learner *copies* of the inputs; after each call the
copies hold what the learner's call left in them, so "modified x in place" is an
observation like any other (an advisory one: it is made in the learner's process).
Probes judge nothing: the verdicts are computed from what they return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...gradcheck import numerical_gradient


class MissingName(Exception):
    """The learner's file does not define a name the exercise needs."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Recorder:
    """Remembers which learner call is running, for ``session`` (the submission the probes call)."""

    def __init__(self, session=None) -> None:
        self.current = ""
        self.session = session

    def label(self, text: str) -> None:
        self.current = text

    def call(self, label: str, fn: Callable, *args, **kwargs):
        """``fn(*args, **kwargs)``, remembered as the call in progress under ``label``."""
        self.label(label)
        return fn(*args, **kwargs)

    def need(self, module, name: str):
        """``module.name``, or :class:`MissingName` when the learner's file lacks it."""
        self.label(name)
        return module.need(name)

    def attr(self, obj, name: str):
        """``obj.name`` (an attribute of a learner's object), or None when it has none."""
        return self.session.get(obj, name)


def snapshot(value):
    """A private copy of an array the learner returned (they may change it in a later call)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def changed(*pairs: tuple[str, np.ndarray, Any]) -> list[str]:
    """The names of the ``(name, original, passed_copy)`` arrays whose contents, shape or dtype changed."""
    names = []
    for name, original, passed in pairs:
        same = (
            isinstance(passed, np.ndarray)
            and passed.shape == original.shape
            and passed.dtype == original.dtype
            and np.array_equal(passed, original, equal_nan=True)
        )
        if not same:
            names.append(name)
    return names


def scalar(value, what: str) -> float:
    """One number from what the learner's ``what`` returned (for numerical differentiation)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(f"{what} returned an array of shape {arr.shape}, expected one number")
    return float(arr.reshape(()))


def numeric_grad(rec: Recorder, label: str, f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central differences (h = 1e-4, float64) of the scalar ``f`` built on learner code, at ``x``."""
    rec.label(label)
    return numerical_gradient(f, np.array(x, dtype=np.float64))
