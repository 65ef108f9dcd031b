"""Reduction of per-element losses, and its derivative, written once.

Every loss computes its unreduced values ``loss`` (the ``'none'`` output),
then calls :func:`reduce`. Its backward calls :func:`upstream` to turn the
caller's ``dout`` into the gradient of the reduced loss with respect to each
unreduced element, and multiplies by the local derivative.

    'none'       out = loss                     d out / d loss_i = 1 (elementwise with dout)
    'sum'        out = sum_i loss_i             d out / d loss_i = 1
    'mean'       out = sum_i loss_i / D         d out / d loss_i = 1 / D
    'batchmean'  out = sum_i loss_i / N         d out / d loss_i = 1 / N   (N = loss.shape[0])

``D`` is the number of elements unless the loss passes its own denominator
(a weighted mean, as in ``nll_loss``).

Both take arrays of any library (:mod:`losslab._array_api`). For NumPy the
reduced loss is a NumPy scalar of the loss's dtype; for other libraries a 0-d
array of that library (a lazy one for Dask).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _array_api as xpa
from .._validation import check_dout


def _denominator(loss_shape: tuple[int, ...], reduction: str, denominator) -> float:
    if denominator is not None:
        return denominator
    if reduction == "batchmean":
        return loss_shape[0] if loss_shape else 1
    return int(math.prod(loss_shape))


def reduce(loss: np.ndarray, reduction: str, *, denominator=None, xp=None):
    """Reduce unreduced ``loss``: the array itself, or a NumPy scalar of its dtype (a 0-d array of
    its library for other arrays). ``xp``: the namespace of ``loss``, where the caller knows it.

    A mean over zero elements (or with a zero denominator) is NaN, as in PyTorch.
    """
    if reduction == "none":
        return loss
    if xp is None:
        xp = xpa.namespace(loss)
    if xp is not np:
        total = xp.sum(loss, dtype=loss.dtype)
        if reduction == "sum":
            return total
        d = _denominator(tuple(loss.shape), reduction, denominator)
        return xpa.quietly(operator.truediv, total, xpa.const(d, loss, xp))  # d = 0: NaN (or inf), as PyTorch
    # a sum beyond the float range is +-inf, its true value; terms of +inf and -inf: NaN, undefined
    with np.errstate(over="ignore", invalid="ignore"):
        total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return loss.dtype.type(total)
    d = _denominator(loss.shape, reduction, denominator)
    if np.isinf(total) and d > 1 and np.isfinite(loss).all():  # the sum overflows, the mean need not
        return loss.dtype.type((loss / loss.dtype.type(d)).sum(dtype=loss.dtype))
    with np.errstate(invalid="ignore", divide="ignore"):
        return loss.dtype.type(total / loss.dtype.type(d))


def upstream(dout, loss_shape: tuple[int, ...], dtype, reduction: str, *, denominator=None, like=None) -> np.ndarray:
    """Gradient of ``sum(dout * reduce(loss))`` with respect to each element of ``loss``.

    Returns an array that broadcasts against ``loss_shape`` (a 0-d array for the
    reducing modes), of ``dtype``. ``dout`` is validated against the output's shape.
    ``like`` (the loss's input) names the array library to return.
    """
    xp = xpa.namespace(dout, like, names=("dout", "input"))
    if xp is not np:
        out_shape = tuple(loss_shape) if reduction == "none" else ()
        g = check_dout(dout, out_shape, dtype, like=like, xp=xp)
        if reduction in ("none", "sum"):
            return g
        d = _denominator(tuple(loss_shape), reduction, denominator)
        return xpa.quietly(operator.truediv, g, xpa.const(d, g, xp))
    dtype = np.dtype(dtype)
    out_shape = loss_shape if reduction == "none" else ()
    g = check_dout(dout, out_shape, dtype, xp=np)
    if reduction in ("none", "sum"):
        return g
    d = _denominator(loss_shape, reduction, denominator)
    with np.errstate(invalid="ignore", divide="ignore"):
        return g / dtype.type(d)
