"""The fully connected (affine) layer ``y = x W + b``, as in the book, with weight initialisers."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _validation as v
from ._base import Layer, Parameter
from .basic import _float_input, _upstream

__all__ = ["Affine"]

INITS: tuple[str, ...] = ("he", "xavier")


def _positive_int(value, name: str) -> int:
    """A size: a positive integer (NumPy integers welcome, booleans not)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _float_dtype(dtype, name: str = "dtype") -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in v.FLOAT_DTYPES:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dtype!r}")
    return dt


def _generator(rng, name: str = "rng") -> np.random.Generator:
    """An explicit generator: a ``np.random.Generator`` or an integer seed (never the global RNG)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if not isinstance(rng, (bool, np.bool_)) and isinstance(rng, numbers.Integral):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be a numpy Generator or an integer seed, got {type(rng).__name__}; "
        f"create one with np.random.default_rng(seed)"
    )


def init_std(init, fan_in: int) -> float:
    r"""The standard deviation of a weight initialiser for a layer with ``fan_in`` inputs.

    ``"he"``: :math:`\sqrt{2 / n}` (He et al. 2015, for ReLU); ``"xavier"``:
    :math:`\sqrt{1 / n}`, the book's simplified Xavier for sigmoid and tanh
    (Glorot's original, PyTorch's ``xavier_normal_``, uses
    :math:`\sqrt{2 / (n_{in} + n_{out})}`); a positive number: that standard deviation.

    >>> init_std("he", 50), init_std("xavier", 100), init_std(0.01, 784)
    (0.2, 0.1, 0.01)
    """
    if isinstance(init, str):
        if init == "he":
            return math.sqrt(2.0 / fan_in)
        if init == "xavier":
            return math.sqrt(1.0 / fan_in)
        raise ValueError(f"init must be one of 'he', 'xavier' or a positive standard deviation, got {init!r}")
    return float(v.check_scalar(init, "init", low=0.0, low_open=True))


class Affine(Layer):
    r"""Fully connected layer :math:`y = x W + b` on a batch.

    ``W`` has shape ``(in_features, out_features)`` and ``b`` shape
    ``(out_features,)``, as in the book; they are wrapped (not copied) in the
    Parameters ``self.W`` (name ``"W"``) and ``self.b`` (name ``"b"``), so an
    optimizer's in-place update changes the arrays passed in. An input of shape
    ``(N, d1, d2, ...)`` is flattened to ``(N, d1*d2*...)`` (e.g. an image batch),
    cast to the parameters' dtype, and its gradient is returned in the original shape.

    .. math:: \frac{\partial L}{\partial x} = g\,W^\top, \qquad
              \frac{\partial L}{\partial W} = x^\top g, \qquad
              \frac{\partial L}{\partial b} = \textstyle\sum_n g_n, \qquad
              g = \frac{\partial L}{\partial y}

    ``backward`` stores ``W.grad`` and ``b.grad`` (fresh arrays each call, so a
    gradient taken earlier is never overwritten) and returns ``dx``. With
    ``input_grad=False`` it skips the product ``g W^T`` and returns ``None``:
    the first layer of a network has no use for the gradient of its input, and
    that product costs as many flops as ``x^T g``, so skipping it halves the
    layer's backward work. In a 784-100-10 network the first layer holds almost
    all the flops, so a training step does about a third less work.

    Raises ``ValueError`` for a ``W`` that is not 2-D, a ``b`` of the wrong shape,
    or an input whose per-sample size is not ``in_features``; ``TypeError`` for
    non-float or mismatched dtypes.

    >>> import numpy as np
    >>> fc = Affine(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([0.1, 0.2, 0.3]))
    >>> fc(np.array([[1.0, 1.0]]))
    array([[5.1, 7.2, 9.3]])
    >>> fc.backward(np.array([[1.0, 0.0, -1.0]]))
    array([[-2., -2.]])
    >>> fc.W.grad, fc.b.grad
    (array([[ 1.,  0., -1.],
           [ 1.,  0., -1.]]), array([ 1.,  0., -1.]))
    """

    def __init__(self, W, b, *, input_grad: bool = True) -> None:
        W = v.as_float_array(W, "W")
        b = v.as_float_array(b, "b")
        v.check_ndim(W, "W", (2,), "a 2-D array of shape (in_features, out_features)")
        if b.shape != (W.shape[1],):
            raise ValueError(f"b must have shape (out_features,) = ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"W and b must share one dtype, got W {W.dtype} and b {b.dtype}")
        self.W = Parameter(W, "W")
        self.b = Parameter(b, "b")
        self.input_grad = v.check_bool(input_grad, "input_grad")
        self._x: np.ndarray | None = None
        self._x_shape: tuple[int, ...] = ()

    @classmethod
    def create(
        cls, in_features: int, out_features: int, *, rng, init="he", dtype=np.float32, input_grad: bool = True
    ) -> Affine:
        r"""A new layer with Gaussian weights of std :func:`init_std` ``(init, in_features)`` and zero bias.

        ``rng`` is a ``np.random.Generator`` (or an integer seed); ``init`` is
        ``"he"`` (:math:`\sqrt{2/n}`), ``"xavier"`` (:math:`\sqrt{1/n}`, the book's) or a
        positive float std; ``dtype`` float32 (default) or float64. The weights
        are drawn directly in ``dtype``.

        >>> import numpy as np
        >>> fc = Affine.create(784, 100, rng=np.random.default_rng(0))
        >>> fc.W.data.shape, fc.W.data.dtype, float(fc.b.data.sum())
        ((784, 100), dtype('float32'), 0.0)
        """
        n_in = _positive_int(in_features, "in_features")
        n_out = _positive_int(out_features, "out_features")
        dt = _float_dtype(dtype)
        std = init_std(init, n_in)
        W = _generator(rng).standard_normal((n_in, n_out), dtype=dt)
        W *= dt.type(std)
        return cls(W, np.zeros(n_out, dtype=dt), input_grad=input_grad)

    @property
    def in_features(self) -> int:
        return self.W.data.shape[0]

    @property
    def out_features(self) -> int:
        return self.W.data.shape[1]

    @property
    def dW(self) -> np.ndarray:
        """The book's name for ``W.grad``."""
        return self.W.grad

    @property
    def db(self) -> np.ndarray:
        """The book's name for ``b.grad``."""
        return self.b.grad

    def parameters(self) -> list[Parameter]:
        """``[W, b]``."""
        return [self.W, self.b]

    def forward(self, x):
        """``x @ W + b`` for a batch ``x`` of shape ``(N, in_features)``, or ``(N, ...)`` flattened per sample
        (as the book's Affine does for images); returns ``(N, out_features)`` in the layer's dtype."""
        x = _float_input(self, x)
        n_in = self.in_features
        if x.ndim < 2:
            raise ValueError(
                f"Affine expects a batch of shape (N, {n_in}) (or (N, ...) with {n_in} values per sample), "
                f"got an array of shape {x.shape}; use x[None] for a single sample"
            )
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != n_in:
            raise ValueError(
                f"Affine expects {n_in} input features per sample, got x of shape {x.shape} "
                f"({x2.shape[1]} features per sample)"
            )
        x2 = x2.astype(self.W.data.dtype, copy=False)
        out = x2 @ self.W.data
        out += self.b.data
        self._x, self._x_shape = x2, x.shape
        return out

    def backward(self, dout):
        """Sets ``W.grad = x.T @ dout`` and ``b.grad = dout.sum(axis=0)``; returns ``dout @ W.T`` in the input's
        shape, or None when the layer was made with ``input_grad=False``."""
        x = self._require(self._x)
        W = self.W.data
        dout = _upstream(self, dout, (x.shape[0], W.shape[1]), W.dtype)
        self.W.grad = x.T @ dout
        self.b.grad = dout.sum(axis=0)
        if not self.input_grad:
            return None
        return (dout @ W.T).reshape(self._x_shape)

    def __repr__(self) -> str:
        return (
            f"Affine(in_features={self.in_features}, out_features={self.out_features}, "
            f"dtype={self.W.data.dtype}, input_grad={self.input_grad})"
        )
