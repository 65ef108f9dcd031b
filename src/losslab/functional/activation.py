"""Stable activations that the losses are built from: softmax, log-softmax, sigmoid, softplus.

Each takes a float array of any library (:mod:`losslab._array_api`) and returns one of that library.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v

__all__ = ["softmax", "log_softmax", "sigmoid", "log_sigmoid", "softplus"]


def log_softmax(x, axis: int = -1) -> np.ndarray:
    r"""``log(softmax(x))`` along ``axis``, computed as ``x - max - log(sum(exp(x - max)))``.

    Subtracting the maximum keeps every ``exp`` in (0, 1]: no overflow at logits of 1e4.

    >>> import numpy as np
    >>> log_softmax(np.array([1000.0, 1000.0]))
    array([-0.69314718, -0.69314718])
    """
    x = v.as_float_array(x, "x")
    return log_softmax_of(x, axis, xpa.namespace(x))


def log_softmax_of(x, axis: int, xp) -> np.ndarray:
    """:func:`log_softmax` of a float array ``x`` of namespace ``xp`` (checked and resolved by the caller)."""
    shifted = shift_by_max(x, axis, xp)
    with np.errstate(divide="ignore", invalid="ignore"):  # a row of -inf only: log 0, then NaN (undefined)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def shift_by_max(x, axis: int, xp):
    """``x - max(x)`` along ``axis``, with the limits IEEE leaves out.

    Where the maximum is ``+inf`` the softmax puts all its mass on the ``+inf`` entries (equal
    shares): they become 0, the rest ``-inf``. A difference beyond the float range (``-1e308 - 1e308``)
    is ``-inf``, whose ``exp`` is the exact 0. A NaN stays NaN.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    zero, ninf = xpa.typed(0.0, x, xp), xpa.typed(-math.inf, x, xp)
    x = xp.where(m == math.inf, xp.where(x == math.inf, zero, ninf), x)
    m = xp.where(xp.isfinite(m), m, zero)
    with np.errstate(over="ignore"):
        return x - m


def softmax(x, axis: int = -1) -> np.ndarray:
    r"""Softmax along ``axis`` (the last by default), shifted by the maximum for stability.

    .. math:: \operatorname{softmax}(x)_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j

    >>> import numpy as np
    >>> softmax(np.array([0.3, 2.9, 4.0])).round(4)
    array([0.0182, 0.2451, 0.7367])
    """
    x = v.as_float_array(x, "x")
    xp = xpa.namespace(x)
    e = xp.exp(shift_by_max(x, axis, xp))
    with np.errstate(invalid="ignore"):  # a row of -inf only: 0 / 0, undefined
        return e / xp.sum(e, axis=axis, keepdims=True)


def sigmoid(x) -> np.ndarray:
    r"""Logistic sigmoid :math:`1 / (1 + e^{-x})`, without overflow at any finite ``x``.

    Uses ``exp(-|x|)`` (always <= 1): ``1 / (1 + e)`` for ``x >= 0``, ``e / (1 + e)`` below.

    >>> import numpy as np
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    x = v.as_float_array(x, "x")
    xp = xpa.namespace(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x) -> np.ndarray:
    r"""``log(1 + exp(x))`` computed as ``max(x, 0) + log1p(exp(-|x|))``: exact and finite everywhere.

    >>> import numpy as np
    >>> softplus(np.array([-1000.0, 0.0, 1000.0])).tolist()
    [0.0, 0.6931471805599453, 1000.0]
    """
    x = v.as_float_array(x, "x")
    xp = xpa.namespace(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def log_sigmoid(x) -> np.ndarray:
    r"""``log(sigmoid(x)) = -softplus(-x)``, finite for every finite ``x``.

    >>> import numpy as np
    >>> log_sigmoid(np.array([-1000.0, 0.0])).tolist()
    [-1000.0, -0.6931471805599453]
    """
    x = v.as_float_array(x, "x")
    return -softplus(-x)
