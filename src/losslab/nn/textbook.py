"""The output layers of "Deep Learning from Scratch" (深度学习入门) as loss objects.

``SoftmaxWithLoss`` (softmax followed by the book's cross-entropy error) and
``MeanSquaredError`` follow the book's layer protocol: ``forward(x, t)`` returns the
loss and keeps ``self.loss``, ``self.y`` and ``self.t``; ``backward(dout=1)`` returns
the gradient with respect to the first input. They take no ``reduction``: the book's
losses are a batch mean (cross-entropy) and a plain sum (squared error).
"""

from __future__ import annotations

from typing import Any

from .. import _array_api as xpa
from .. import _validation as v
from ..functional import textbook as F
from ..functional._book import as_rows, cross_entropy_rows, targets
from ..functional.activation import softmax
from ._base import Loss

__all__ = ["SoftmaxWithLoss", "MeanSquaredError"]


def _rows_sum_to_one(rows, start, tol: float = 1e-3) -> None:
    """Raise unless every row of ``rows`` (whole rows: B, C) sums to 1 within ``tol``."""
    xp = xpa.namespace(rows)
    sums = xp.sum(rows, axis=1)
    off = xp.abs(sums - 1) > tol
    if xpa.any_true(off):
        raise ValueError(
            f"t's rows must sum to 1 (one-hot rows or class probabilities), got a row summing to "
            f"{float(xpa.first_value(sums, off))!r}; pass class indices or normalise the rows"
        )


class SoftmaxWithLoss(Loss):
    r"""Softmax of logits then the book's cross-entropy error; see :func:`losslab.functional.cross_entropy_error`.

    ``forward(x, t)``: ``x`` logits (B, C) (or one sample (C,), B = 1), float32 or
    float64; ``t`` integer class indices (B,) (a scalar for 1-D ``x``) or one-hot rows /
    class probabilities of ``x``'s shape. With :math:`y = \operatorname{softmax}(x)`
    along the classes (shifted by the row maximum, so logits of any size are safe), it
    returns :math:`-\frac1B \sum_{n,k} t_{nk} \log(y_{nk} + 10^{-7})` as a NumPy scalar
    of ``x``'s dtype (a 0-d array of ``x``'s library for other arrays) and keeps ``loss``,
    ``y`` (the softmax) and ``t``. Raises
    ``TypeError`` for non-float ``x`` or float class indices, ``ValueError`` for a bad
    shape, an empty batch or target values outside [0, 1], and
    :class:`~losslab._validation.ClassIndexError` for an index outside [0, C).

    ``backward(dout=1)`` returns :math:`\text{dout}\,(y - t) / B` (``t`` one-hot for
    index labels), the gradient the book and its exercise use; it needs rows of ``t``
    that sum to 1, so ``forward`` refuses others (to within 1e-3). It is the exact
    gradient of the loss without the :math:`10^{-7}` guard; for a one-hot row the
    guarded loss's gradient is this one times :math:`y_{n t_n} / (y_{n t_n} + 10^{-7})`,
    a relative difference of about :math:`10^{-7} / y_{n t_n}`, negligible unless the
    labelled class has a tiny probability.

    >>> import numpy as np
    >>> layer = SoftmaxWithLoss()
    >>> layer(np.array([[2.0, 1.0, 0.1]]), np.array([0]))
    np.float64(0.41702986453303903)
    >>> layer.backward().round(6)
    array([[-0.340999,  0.242433,  0.098566]])
    """

    _inputs = ("x", "t")
    _grad_inputs = ("x",)

    def __init__(self) -> None:
        super().__init__()
        self.loss = None
        self.y: Any = None
        self.t: Any = None
        self._rows: Any = None  # t as (B, C) rows, what backward subtracts

    def forward(self, x, t):
        xp = xpa.namespace(x, t, names=("x", "t"))
        x = v.as_float_array(x, "x")
        v.check_ndim(x, "x", (1, 2), "a 2-D (B, C) batch of logits or a 1-D (C,) vector")
        if 0 in tuple(x.shape):
            raise ValueError(f"x must hold at least one sample and one class, got shape {tuple(x.shape)}")
        rows, idx, batch = targets(t, x, "x")
        if idx is None:  # (y - t) / B is the gradient only for rows that are distributions
            rows = xpa.check_values(xpa.whole_rows(rows), _rows_sum_to_one)
        y = softmax(x, axis=-1)
        self.loss = cross_entropy_rows(as_rows(y, rows), rows, idx, batch)
        self.y, self.t, self._rows = y, xpa.asarray(t, xp, x), rows
        return self.loss

    def backward(self, dout=1):
        if self.y is None:
            raise v.BackwardBeforeForwardError(
                "SoftmaxWithLoss.backward() was called before forward(): call the loss on its inputs first"
            )
        y = self.y
        xp = xpa.namespace(y)
        g = v.check_dout(dout, (), y.dtype, like=y)
        dx = (as_rows(y, self._rows) - self._rows) / xpa.typed(self._rows.shape[0], y, xp) * g
        return xpa.astype(xp.reshape(dx, tuple(y.shape)), y.dtype, xp)


class MeanSquaredError(Loss):
    r"""Half the sum of squared errors, :math:`\frac12 \sum (y - t)^2`; see
    :func:`losslab.functional.mean_squared_error`.

    ``forward(y, t)`` keeps ``loss``, ``y`` and ``t`` (as arrays); ``backward(dout=1)``
    returns ``dout * (y - t)``.

    >>> import numpy as np
    >>> layer = MeanSquaredError()
    >>> layer(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 1.0], [1.0, 1.0]]))
    np.float64(7.0)
    >>> layer.backward()
    array([[0., 1.],
           [2., 3.]])
    """

    _function = staticmethod(F.mean_squared_error)
    _backward = staticmethod(F.mean_squared_error_backward)
    _inputs = ("y", "t")
    _grad_inputs = ("y",)

    def __init__(self) -> None:
        super().__init__()
        self.loss = None
        self.y: Any = None
        self.t: Any = None

    def forward(self, y, t):
        self.loss = super().forward(y, t)
        xp = xpa.namespace(y, t, names=("y", "t"))
        self.y = xpa.asarray(y, xp)
        self.t = xpa.asarray(t, xp, self.y)
        return self.loss

    def backward(self, dout=1):
        return super().backward(dout)
