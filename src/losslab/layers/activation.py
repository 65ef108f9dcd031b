"""Activation layers: ReLU, sigmoid, tanh and softmax, each with its exact backward.

Every layer keeps its input's dtype (float32 in, float32 out; a ``dout`` of
another dtype is cast to it), never writes into the caller's arrays (neither
``x`` in forward nor ``dout`` in backward), and caches only what its backward
needs: a mask or the output. Calling backward before forward raises
:class:`~losslab._validation.BackwardBeforeForwardError`.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from ..functional import activation as F
from ._base import Layer
from .basic import _float_input, _upstream

__all__ = ["Relu", "Sigmoid", "Tanh", "Softmax"]


class Relu(Layer):
    r"""Rectified linear unit, :math:`y = \max(x, 0)`.

    .. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\,[x > 0]

    The gradient at ``x = 0`` is taken as 0 (as in the book and in PyTorch).
    Forward returns a new array (the book's version copies ``x`` for the same
    reason: the caller's data stays intact), and backward leaves ``dout`` as it
    was (the book's backward zeroes it in place).

    >>> import numpy as np
    >>> relu = Relu()
    >>> relu(np.array([[1.0, -0.5], [-2.0, 3.0]]))
    array([[1., 0.],
           [0., 3.]])
    >>> relu.backward(np.ones((2, 2)))
    array([[1., 0.],
           [0., 1.]])
    """

    def __init__(self) -> None:
        self._mask: np.ndarray | None = None
        self._dtype: np.dtype | None = None

    def forward(self, x):
        """``max(x, 0)`` as a new array; remembers where ``x > 0``."""
        x = _float_input(self, x)
        self._mask, self._dtype = x > 0, x.dtype
        return np.maximum(x, 0)

    def backward(self, dout):
        """``dout`` where the input was positive, 0 elsewhere (``dout`` itself is left as it was)."""
        mask, dtype = self._require(self._mask), self._require(self._dtype)
        dout = _upstream(self, dout, mask.shape, dtype)
        return np.multiply(dout, mask)  # bool * float32 stays float32


class Sigmoid(Layer):
    r"""Logistic sigmoid, :math:`y = 1 / (1 + e^{-x})`.

    .. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\, y\,(1 - y)

    The forward pass is :func:`losslab.functional.sigmoid`, which only ever
    evaluates ``exp(-|x|)``: no overflow warning at ``|x| = 1000`` and exact limits
    0 and 1 there. The backward pass needs only the cached output ``y``.

    >>> import numpy as np
    >>> sig = Sigmoid()
    >>> sig(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    >>> sig.backward(np.ones(3))
    array([0.  , 0.25, 0.  ])
    """

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, x):
        """``1 / (1 + exp(-x))``, computed without overflow; remembers the output ``y``."""
        self._y = F.sigmoid(_float_input(self, x))
        return self._y

    def backward(self, dout):
        """``dout * y * (1 - y)`` from the cached output ``y``."""
        y = self._require(self._y)
        dout = _upstream(self, dout, y.shape, y.dtype)
        dx = 1 - y
        dx *= y
        dx *= dout
        return dx


class Tanh(Layer):
    r"""Hyperbolic tangent, :math:`y = \tanh x`.

    .. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}\,(1 - y^2)

    >>> import numpy as np
    >>> tanh = Tanh()
    >>> tanh(np.array([0.0, 1000.0]))
    array([0., 1.])
    >>> tanh.backward(np.ones(2))
    array([1., 0.])
    """

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, x):
        """``tanh(x)``; remembers the output ``y``."""
        self._y = np.tanh(_float_input(self, x))
        return self._y

    def backward(self, dout):
        """``dout * (1 - y**2)`` from the cached output ``y``."""
        y = self._require(self._y)
        dout = _upstream(self, dout, y.shape, y.dtype)
        dx = y * y
        np.subtract(1, dx, out=dx)
        dx *= dout
        return dx


class Softmax(Layer):
    r"""Softmax along the last axis, :math:`y_i = e^{x_i - m} / \sum_j e^{x_j - m}`, :math:`m = \max_j x_j`.

    Subtracting the row maximum (:func:`losslab.functional.softmax`) keeps every
    exponential in (0, 1]. The backward pass is the vector-Jacobian product of
    :math:`\partial y_i / \partial x_j = y_i (\delta_{ij} - y_j)`:

    .. math:: \frac{\partial L}{\partial x} = y \odot \Big(g - \sum_j g_j\, y_j\Big),
              \qquad g = \frac{\partial L}{\partial y}

    For classification, prefer a cross-entropy loss on the raw scores: it fuses
    the softmax with the log and its gradient is simply ``(y - t) / N``.

    >>> import numpy as np
    >>> sm = Softmax()
    >>> sm(np.array([[0.3, 2.9, 4.0]])).round(4)
    array([[0.0182, 0.2451, 0.7367]])
    >>> sm.backward(np.ones((1, 3))).round(12)   # softmax sums to 1: a constant dout has no effect
    array([[0., 0., 0.]])
    """

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, x):
        """The softmax of ``x`` along its last axis (an array of at least one axis); remembers it."""
        x = _float_input(self, x)
        v.check_ndim(x, "Softmax input x", range(1, 65), "an array with at least one axis")
        self._y = F.softmax(x, axis=-1)
        return self._y

    def backward(self, dout):
        """``y * (dout - sum(dout * y))`` along the last axis: the softmax's vector-Jacobian product."""
        y = self._require(self._y)
        dout = _upstream(self, dout, y.shape, y.dtype)
        dx = dout * y
        s = dx.sum(axis=-1, keepdims=True)
        dx -= y * s
        return dx
