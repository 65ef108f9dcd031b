"""Input checks shared by every loss: one place for every error message.

Each check names the argument, says what it received and what was expected.
``ValueError`` is raised for bad values and shapes, ``TypeError`` for bad
dtypes. Nothing here modifies its argument: conversions return new arrays
(or the caller's array untouched when no conversion is needed).

Every array check takes arrays of any library (see :mod:`losslab._array_api`):
NumPy inputs take the NumPy branch, unchanged; other arrays are checked with
their own namespace and returned in it. Checks that take a ``like`` array
(the loss's input) convert scalars and lists to ``like``'s library and refuse
arrays of another library. Value checks on lazy (Dask) arrays run when the
array is computed: use the array a check returns.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from . import _array_api as xpa

Reduction = Literal["none", "mean", "sum"]
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class ClassIndexError(IndexError, ValueError):
    """A class label outside ``[0, C)``; an ``IndexError`` (as in PyTorch) and a ``ValueError``."""


class BackwardBeforeForwardError(RuntimeError, ValueError):
    """``backward()`` was called on a loss object that has not run ``forward()`` yet."""


def _describe(x: np.ndarray) -> str:
    return f"an array of shape {x.shape} and dtype {x.dtype}" if isinstance(x, np.ndarray) else xpa.describe(x)


def as_float_array(x, name: str) -> np.ndarray:
    """Return ``x`` as a float32 or float64 array (lists of Python floats become float64).

    Integer, boolean, complex and float16 data raise ``TypeError``: a loss's
    input is a real floating-point array, and its dtype decides the output's.
    """
    xp = xpa.namespace(x)
    if xp is not np:
        arr = xpa.asarray(x, xp, name=name)
        if xpa.is_float(arr, xp):
            return arr
        raise TypeError(
            f"{name} must be a float32 or float64 array, got {_describe(arr)}; convert it to float32 or float64 first"
        )
    arr = xpa.asarray(x, np, name=name)
    if arr.dtype in FLOAT_DTYPES:
        return arr
    if arr.dtype == object:
        raise TypeError(f"{name} must be a float32 or float64 array, got an object array")
    raise TypeError(
        f"{name} must be a float32 or float64 array, got {_describe(arr)}; "
        f"convert it with np.asarray({name}, dtype=np.float32) or np.float64"
    )


def as_real_like(
    x, name: str, like: np.ndarray, like_name: str = "input", shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Return real-valued ``x`` cast to ``like``'s dtype, with ``like``'s shape (or ``shape``)."""
    xp = xpa.namespace(x, like, names=(name, like_name))
    arr = xpa.asarray(x, xp, like, name=name)
    if not xpa.has_kind(arr, "biuf", xp):
        raise TypeError(f"{name} must hold real numbers, got {_describe(arr)}")
    expected = tuple(like.shape) if shape is None else shape
    if tuple(arr.shape) != expected:
        raise ValueError(f"{name} must have the shape of {like_name}, {expected}, got {tuple(arr.shape)}")
    return xpa.astype(arr, like.dtype, xp)


def check_same_shape(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_ndim(x: np.ndarray, name: str, allowed: Sequence[int], what: str) -> None:
    """Raise unless ``x.ndim`` is one of ``allowed``; ``what`` spells out the expected shapes."""
    if x.ndim not in allowed:
        raise ValueError(f"{name} must be {what}, got an array of shape {tuple(x.shape)}")


def as_class_indices(
    t, name: str, num_classes: int, *, ignore_index: int | None = None, shape: tuple[int, ...] | None = None, like=None
) -> np.ndarray:
    """Return ``t`` as an int64 array of class labels in ``[0, num_classes)``.

    Values equal to ``ignore_index`` are allowed anywhere. Float labels raise
    ``TypeError``; labels out of range raise :class:`ClassIndexError`. ``like``
    (the scores) names the array library to return.
    """
    xp = xpa.namespace(t, like, names=(name, "input"))
    arr = xpa.asarray(t, xp, like, name=name)
    if not xpa.has_kind(arr, "iu", xp):
        raise TypeError(
            f"{name} must hold integer class indices, got {_describe(arr)}; convert with {name}.astype(np.int64)"
        )
    if shape is not None and tuple(arr.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(arr.shape)}")

    def in_range(a, start):
        bad = (a < 0) | (a >= num_classes)
        if ignore_index is not None:
            bad &= a != ignore_index
        if xpa.any_true(bad):
            value = int(xpa.first_value(a, bad))
            raise ClassIndexError(
                f"{name} holds the class index {value}, out of range: expected values in "
                f"[0, {num_classes - 1}] for {num_classes} classes"
                + (f" (or ignore_index={ignore_index})" if ignore_index is not None else "")
            )

    # checked in the labels' own dtype, so a uint64 label of 2**63 or more is named as it is, not wrapped
    return xpa.astype(xpa.check_values(arr, in_range), xp.int64, xp)


def check_labels_pm1(y: np.ndarray, name: str, *, like=None) -> np.ndarray:
    """Labels of the margin losses: every value must be 1 or -1."""
    xp = xpa.namespace(y, like, names=(name, "input"))
    arr = xpa.asarray(y, xp, like, name=name)
    if not xpa.has_kind(arr, "biuf", xp):
        raise TypeError(f"{name} must hold the labels 1 and -1, got {_describe(arr)}")

    def pm1(a, start):
        bad = (a != 1) & (a != -1)
        if xpa.any_true(bad):
            raise ValueError(f"{name} must hold only the labels 1 and -1, got the value {xpa.first_value(a, bad)!r}")

    return xpa.check_values(arr, pm1)


def check_unit_interval(a, name: str, what: str = "values", hint: str = ""):
    """Every value of ``a`` in [0, 1] (NaN fails): "{name} must hold {what} in [0, 1]{hint}".

    Returns the array to use (on a Dask array the check runs as each chunk is computed).
    """

    def in_unit_interval(values, start):
        bad = ~((values >= 0) & (values <= 1))
        if xpa.any_true(bad):
            raise ValueError(
                f"{name} must hold {what} in [0, 1]{hint}, got the value {float(xpa.first_value(values, bad))!r}"
            )

    return xpa.check_values(a, in_unit_interval)


def as_class_distribution(target, x, xp):
    """The target of an (N, C) score array ``x`` as a per-row distribution in ``x``'s dtype.

    Class indices of shape (N,) become one-hot rows; float class probabilities of
    shape (N, C) are returned as they are (values must be >= 0).
    """
    n, c = x.shape
    t = xpa.asarray(target, xp, x, name="target")
    if tuple(t.shape) == tuple(x.shape):
        q = as_real_like(as_float_array(t, "target"), "target", x)

        def nonnegative(a, start):
            bad = ~(a >= 0)
            if xpa.any_true(bad):
                raise ValueError(
                    f"target must hold class probabilities >= 0, got the value {float(xpa.first_value(a, bad))!r}"
                )

        return xpa.check_values(q, nonnegative)
    if tuple(t.shape) != (n,):
        raise ValueError(
            f"target must have shape ({n},) (class indices) or the input's shape {tuple(x.shape)} "
            f"(class probabilities), got {tuple(t.shape)}"
        )
    labels = as_class_indices(t, "target", c, shape=(n,), like=x)
    return xpa.astype(xpa.one_hot(labels, c, xp), x.dtype, xp)


def check_reduction(reduction, allowed: Sequence[str] = REDUCTIONS) -> str:
    if not isinstance(reduction, str) or reduction not in allowed:
        choices = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"reduction must be one of {choices}, got {reduction!r}")
    return reduction


def check_weight(weight, name: str, length: int, dtype: np.dtype, *, like=None, xp=None) -> np.ndarray | None:
    """A per-class weight: ``None`` or a 1-D real array of ``length`` entries, cast to ``dtype``.

    ``like`` (the input) names the array library to return; ``xp``, where the caller has
    resolved it for the call (the weight's library checked against the input's), saves doing it again.
    """
    if weight is None:
        return None
    if xp is None:
        xp = xpa.namespace(weight, like, names=(name, "input"))
    arr = xpa.asarray(weight, xp, like, name=name)
    if not xpa.has_kind(arr, "biuf", xp):
        raise TypeError(f"{name} must be a 1-D array of real numbers, got {_describe(arr)}")
    if tuple(arr.shape) != (length,):
        raise ValueError(
            f"{name} must be a 1-D array with one entry per class ({length},), got shape {tuple(arr.shape)}"
        )
    return xpa.astype(arr, dtype, xp)


def check_broadcastable(arr, name: str, to_shape: tuple[int, ...], dtype: np.dtype, *, like=None) -> np.ndarray:
    """A real array that broadcasts to ``to_shape`` (e.g. BCE's weight, pos_weight), cast to ``dtype``.

    ``like`` (the input) names the array library to return.
    """
    xp = xpa.namespace(arr, like, names=(name, "input"))
    a = xpa.asarray(arr, xp, like, name=name)
    if not xpa.has_kind(a, "biuf", xp):
        raise TypeError(f"{name} must hold real numbers, got {_describe(a)}")
    try:
        out_shape = np.broadcast_shapes(tuple(a.shape), tuple(to_shape))
    except ValueError:
        out_shape = None
    if out_shape != tuple(to_shape):
        raise ValueError(f"{name} of shape {tuple(a.shape)} does not broadcast to the input's shape {to_shape}")
    return xpa.astype(a, dtype, xp)


def check_scalar(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> float:
    """A real scalar option inside ``[low, high]`` (open ends where asked)."""
    kinds = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kinds):
        what = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}")
    number: Any = value  # a numbers.Real: int, float or a NumPy scalar, compared as it is
    if not isinstance(value, numbers.Integral) and not np.isfinite(number):  # an int of any size is finite
        raise ValueError(f"{name} must be finite, got {value!r}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        lo_s = "-inf" if low is None else repr(low)
        hi_s = "inf" if high is None else repr(high)
        raise ValueError(f"{name} must lie in {lo}{lo_s}, {hi_s}{hi}, got {value!r}")
    return number


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_dout(dout, out_shape: tuple[int, ...], dtype: np.dtype, *, like=None, xp=None) -> np.ndarray:
    """The upstream gradient: a scalar, or an array of the loss's output shape.

    ``like`` (the loss's input) names the array library to return; ``xp``, the namespace of
    ``dout`` and ``like`` where the caller has already resolved it.
    """
    if xp is None:
        xp = xpa.namespace(dout, like, names=("dout", "input"))
    arr = xpa.asarray(dout, xp, like, name="dout")
    if not xpa.has_kind(arr, "biuf", xp):
        raise TypeError(f"dout must hold real numbers, got {_describe(arr)}")
    if tuple(arr.shape) != tuple(out_shape) and tuple(arr.shape) != ():
        raise ValueError(
            f"dout must be a scalar or have the loss's output shape {out_shape}, got shape {tuple(arr.shape)}"
        )
    return xpa.astype(arr, dtype, xp)
