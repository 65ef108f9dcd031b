"""The two nodes of the textbook's computational graph: addition and multiplication.

Both take two inputs, ``forward(x, y)``, and return the gradients with respect to
both, ``backward(dout) -> (dx, dy)``:

    z = x + y     dz/dx = 1,  dz/dy = 1      (the upstream gradient passes through)
    z = x * y     dz/dx = y,  dz/dy = x      (the inputs are swapped)

They work on Python scalars and on NumPy arrays; when the inputs broadcast
against each other, each gradient is summed back to its input's shape.

The book's shopping example (two apples at 100 each, 10% tax):

>>> mul_apple, mul_tax = MulLayer(), MulLayer()
>>> price = mul_tax(mul_apple(100, 2), 1.1)
>>> price                                   # 100 * 2 * 1.1, up to floating-point rounding
220.00000000000003
>>> d_apple_price, d_tax = mul_tax.backward(1)
>>> d_apple, d_num = mul_apple.backward(d_apple_price)
>>> d_apple, d_num, d_tax
(2.2, 110.00000000000001, 200)

This module also holds the shared checks of the layer package (the upstream
gradient, the floating-point input), so that every layer words them alike.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from ._base import Layer

__all__ = ["AddLayer", "MulLayer"]


# --------------------------------------------------------------------------- shared checks


def _float_input(layer: Layer, x, name: str = "x") -> np.ndarray:
    """``x`` as a float32/float64 array (never copied when it already is one)."""
    return v.as_float_array(x, f"{type(layer).__name__} input {name}")


def _upstream(layer: Layer, dout, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The upstream gradient of a layer: real, of the forward output's shape, cast to ``dtype``.

    Casting to the layer's dtype keeps a float32 network float32 even if the
    caller hands in a float64 ``dout``.
    """
    arr = np.asarray(dout)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{type(layer).__name__}.backward(): dout must hold real numbers, got an array of dtype {arr.dtype}"
        )
    if arr.shape != shape:
        raise ValueError(
            f"{type(layer).__name__}.backward(): dout must have the shape of the forward "
            f"output, {shape}, got {arr.shape}"
        )
    return arr.astype(dtype, copy=False)


def _check_real(layer: Layer, value, name: str) -> tuple[int, ...]:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{type(layer).__name__}: {name} must be a real number or array, "
            f"got {type(value).__name__} of dtype {arr.dtype}"
        )
    return arr.shape


def _sum_to(g, shape: tuple[int, ...]):
    """Sum a broadcast gradient ``g`` back to an input of ``shape`` (a new object either way)."""
    if np.shape(g) == shape:
        return g.copy() if isinstance(g, np.ndarray) else g
    g = np.asarray(g)
    lead = g.ndim - len(shape)
    s = g.sum(axis=tuple(range(lead))) if lead else g
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and s.shape[i] != 1)
    if stretched:
        s = s.sum(axis=stretched, keepdims=True)
    return s[()] if shape == () else s


# --------------------------------------------------------------------------- the nodes


class AddLayer(Layer):
    r"""Addition node: ``z = x + y``; backward passes ``dout`` to both inputs.

    .. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial z}, \qquad
              \frac{\partial L}{\partial y} = \frac{\partial L}{\partial z}

    ``dout`` must have the shape of ``z``; ``dx`` and ``dy`` are separate objects
    of the shapes of ``x`` and ``y``.

    >>> add = AddLayer()
    >>> add(200, 450)
    650
    >>> add.backward(1.1)
    (1.1, 1.1)
    """

    def __init__(self) -> None:
        self._shapes: tuple | None = None

    def forward(self, x, y):  # type: ignore[override]  # a node of two inputs: not for a Sequential
        """``x + y`` (broadcast as NumPy does); remembers the shapes."""
        sx, sy = _check_real(self, x, "x"), _check_real(self, y, "y")
        out = x + y
        self._shapes = (sx, sy, np.shape(out))
        return out

    def backward(self, dout):
        """``(dout, dout)``, each summed back to the shape of its input where it was broadcast; ``dout`` must
        have the output's shape."""
        sx, sy, sz = self._require(self._shapes)
        if np.shape(dout) != sz:
            raise ValueError(f"AddLayer.backward(): dout must have the output's shape {sz}, got {np.shape(dout)}")
        return _sum_to(dout, sx), _sum_to(dout, sy)


class MulLayer(Layer):
    r"""Multiplication node: ``z = x * y``; backward swaps the inputs.

    .. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial z}\, y, \qquad
              \frac{\partial L}{\partial y} = \frac{\partial L}{\partial z}\, x

    Forward keeps references to ``x`` and ``y`` (no copies) for the backward pass.

    >>> mul = MulLayer()
    >>> mul(3.0, 4.0)
    12.0
    >>> mul.backward(1.0)
    (4.0, 3.0)
    """

    def __init__(self) -> None:
        self._cache: tuple | None = None

    def forward(self, x, y):  # type: ignore[override]  # a node of two inputs: not for a Sequential
        """``x * y`` (broadcast as NumPy does); keeps references to ``x`` and ``y``."""
        _check_real(self, x, "x")
        _check_real(self, y, "y")
        out = x * y
        self._cache = (x, y, np.shape(out))
        return out

    def backward(self, dout):
        """``(dout * y, dout * x)``, each summed back to the shape of its input where it was broadcast;
        ``dout`` must have the output's shape."""
        x, y, sz = self._require(self._cache)
        if np.shape(dout) != sz:
            raise ValueError(f"MulLayer.backward(): dout must have the output's shape {sz}, got {np.shape(dout)}")
        return _sum_to(dout * y, np.shape(x)), _sum_to(dout * x, np.shape(y))
