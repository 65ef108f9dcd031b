"""The two losses of "Deep Learning from Scratch" (深度学习入门), chapter 4, as the book defines them.

``mean_squared_error`` is half the *sum* of squared errors (not a mean), and
``cross_entropy_error`` takes probabilities (a softmax output, not logits) and adds
``delta = 1e-7`` inside the logarithm so that a zero probability gives a large
finite loss instead of ``inf``. Both reproduce the book's printed numbers. The
library's own losses (:func:`~losslab.functional.mse_loss`,
:func:`~losslab.functional.cross_entropy`) are the stable, PyTorch-compatible
versions; these exist so that the book's exercises can be checked against them.

Each function has its gradient beside it, ``name_backward(dout, y, t)``: the
gradient of ``dout * name(y, t)`` with respect to ``y`` (``dout`` a scalar).

Both compute in the array library of their inputs (:mod:`losslab._array_api`), as the
library's losses do: a NumPy scalar for NumPy, a 0-d array of the library elsewhere.
"""

from __future__ import annotations

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v
from ._book import DELTA, as_rows, book_scalar, cross_entropy_rows, targets

__all__ = [
    "mean_squared_error",
    "mean_squared_error_backward",
    "cross_entropy_error",
    "cross_entropy_error_backward",
]


# --------------------------------------------------------------------------- mean squared error


def _mse_args(y, t):
    xp = xpa.namespace(y, t, names=("y", "t"))
    y = v.as_float_array(y, "y")
    t = v.as_real_like(t, "t", y, "y")
    return y, t, xp


def mean_squared_error(y, t):
    r"""Half the sum of squared errors over all elements, the book's ``mean_squared_error``.

    .. math:: E = \tfrac12 \sum_k (y_k - t_k)^2, \qquad \frac{\partial E}{\partial y_k} = y_k - t_k

    Shapes: ``y`` any shape (float32 or float64; a list of Python floats becomes
    float64), ``t`` the same shape (any real dtype, e.g. an int one-hot row; cast to
    ``y``'s dtype). Output: a NumPy scalar of ``y``'s dtype (a 0-d array of ``y``'s library
    for other arrays). There is no ``reduction``:
    the sum runs over every element, batch included. Raises ``TypeError`` when ``y``
    is not float, ``ValueError`` when the shapes differ.

    The book's example, the probabilities of the digits 0-9 against the label 2:

    >>> import numpy as np
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> mean_squared_error(np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]), np.array(t))
    np.float64(0.09750000000000003)
    >>> mean_squared_error(np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]), np.array(t))
    np.float64(0.5975)
    """
    y, t, xp = _mse_args(y, t)
    with np.errstate(over="ignore"):  # a squared error beyond the float range is inf, its true value
        return book_scalar(0.5 * xp.sum((y - t) ** 2), y, xp)


def mean_squared_error_backward(dout, y, t) -> np.ndarray:
    """Gradient of ``dout * mean_squared_error(y, t)`` with respect to ``y``: ``dout * (y - t)``.

    ``dout`` is a scalar (the loss is one). Raises as :func:`mean_squared_error`,
    and ``ValueError`` for a non-scalar ``dout``.

    >>> import numpy as np
    >>> mean_squared_error_backward(1.0, np.array([0.1, 0.6, 0.3]), np.array([0, 1, 0]))
    array([ 0.1, -0.4,  0.3])
    """
    y, t, xp = _mse_args(y, t)
    g = v.check_dout(dout, (), y.dtype, like=y)
    with np.errstate(over="ignore"):  # y - t beyond the float range is +-inf, its true value
        return xpa.astype(g * (y - t), y.dtype, xp)


# --------------------------------------------------------------------------- cross-entropy error


def _probabilities(y):
    y = v.as_float_array(y, "y")
    v.check_ndim(y, "y", (1, 2), "a 1-D (C,) vector or a 2-D (B, C) batch of probabilities")
    if 0 in tuple(y.shape):
        raise ValueError(f"y must hold at least one sample and one class, got shape {tuple(y.shape)}")
    return v.check_unit_interval(y, "y", "probabilities (e.g. a softmax output, not logits)")


def cross_entropy_error(y, t):
    r"""Cross-entropy of probabilities, the book's ``cross_entropy_error``, averaged over the batch.

    .. math:: E = -\frac1B \sum_{n,k} t_{nk} \log(y_{nk} + \delta), \qquad
              \frac{\partial E}{\partial y_{nk}} = -\frac{t_{nk}}{B\,(y_{nk} + \delta)}, \qquad
              \delta = 10^{-7}

    ``y``: probabilities, (B, C) or one sample (C,) (then B = 1), float32 or float64,
    every value in [0, 1]. ``t``: one-hot rows or class probabilities of ``y``'s shape
    (any real dtype, cast to ``y``'s), or integer class indices of shape (B,) (a scalar
    for 1-D ``y``), which stand for one-hot rows. Output: a NumPy scalar of ``y``'s
    dtype.

    Raises ``TypeError`` for a non-float ``y`` or float class indices; ``ValueError``
    for ``y`` not 1-D or 2-D, an empty batch, values outside [0, 1], or a ``t`` of
    another shape; :class:`~losslab._validation.ClassIndexError` for an index outside
    [0, C).

    The book's example (one-hot target), then the same with the class index:

    >>> import numpy as np
    >>> y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    >>> y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
    >>> t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    >>> cross_entropy_error(y1, t), cross_entropy_error(y2, t)
    (np.float64(0.510825457099338), np.float64(2.302584092994546))
    >>> cross_entropy_error(np.stack([y1, y2]), np.array([2, 2]))
    np.float64(1.406704775046942)
    """
    p = _probabilities(y)
    rows, idx, batch = targets(t, p, "y")
    return cross_entropy_rows(as_rows(p, rows), rows, idx, batch)


def cross_entropy_error_backward(dout, y, t) -> np.ndarray:
    """Gradient of ``dout * cross_entropy_error(y, t)`` with respect to ``y``: ``-dout t / (y + delta) / B``.

    Index labels stand for their one-hot rows; the gradient has ``y``'s shape and
    dtype. ``dout`` is a scalar. Raises as :func:`cross_entropy_error`.

    >>> import numpy as np
    >>> cross_entropy_error_backward(1.0, np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([1, 0]))
    array([[ 0.        , -0.62499992],
           [-0.9999998 ,  0.        ]])
    """
    p = _probabilities(y)
    xp = xpa.namespace(p)
    rows, _, batch = targets(t, p, "y")
    g = v.check_dout(dout, (), p.dtype, like=p)
    delta = xpa.typed(DELTA, p, xp)
    # 0 - (...) rather than -(...): entries off the target stay +0.0, not -0.0
    grad = 0 - g * rows / (as_rows(p, rows) + delta) / xpa.typed(batch, p, xp)
    return xpa.astype(xp.reshape(grad, tuple(p.shape)), p.dtype, xp)
