"""Layers that behave differently in training and in evaluation: Dropout and BatchNorm.

Both follow ``layer.training`` (``train()`` / ``eval()``, propagated by
:class:`~losslab.layers.Sequential`); the semantics are PyTorch's, and each
docstring says where and why they differ from the book's versions.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from ._base import Layer, Parameter
from .affine import _float_dtype, _positive_int
from .basic import _float_input, _upstream

__all__ = ["Dropout", "BatchNorm"]


class Dropout(Layer):
    r"""Inverted dropout: in training, zero each element with probability ``p`` and scale the rest.

    .. math:: y = \frac{m \odot x}{1 - p}, \quad m_i \sim \text{Bernoulli}(1 - p), \qquad
              \frac{\partial L}{\partial x} = \frac{m \odot g}{1 - p}

    In evaluation mode the layer is the identity (it returns ``x`` itself, and
    ``dout`` in backward). Scaling at training time keeps ``E[y] = x`` in both
    modes; the book's ``Dropout`` instead leaves training outputs unscaled and
    multiplies by ``1 - p`` at evaluation, which gives the same expected values
    but makes evaluation depend on ``p``. This is PyTorch's convention.

    ``rng`` is a ``np.random.Generator`` (``None``: a fresh, unseeded
    ``np.random.default_rng()``; the global NumPy RNG is never used). The
    uniform draws are made in ``x``'s dtype, so a float32 batch stays float32.
    ``p`` must lie in [0, 1).

    >>> import numpy as np
    >>> drop = Dropout(0.5, rng=np.random.default_rng(0))
    >>> y = drop(np.ones((2, 4)))
    >>> sorted(set(y.ravel().tolist()))          # dropped, or kept and scaled by 1 / (1 - p)
    [0.0, 2.0]
    >>> drop.eval()(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        self.p = float(v.check_scalar(p, "p", low=0.0, high=1.0, high_open=True))
        if rng is None:
            rng = np.random.default_rng()
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"rng must be a numpy Generator or None, got {type(rng).__name__}; "
                f"create one with np.random.default_rng(seed)"
            )
        self.rng = rng
        self._mask: np.ndarray | None = None  # None after an evaluation-mode forward
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None

    def forward(self, x):
        """In training mode (and ``p > 0``), ``x`` with each element zeroed with probability ``p`` and the others
        scaled by ``1 / (1 - p)``; in evaluation mode, ``x`` itself."""
        x = _float_input(self, x)
        self._shape, self._dtype = x.shape, x.dtype
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        self._mask = self.rng.random(x.shape, dtype=x.dtype) >= self.p  # P(keep) = 1 - p
        out = np.multiply(x, self._mask)
        out *= x.dtype.type(1.0 / (1.0 - self.p))
        return out

    def backward(self, dout):
        """``dout`` through the same mask and scale as the last forward (``dout`` itself in evaluation mode)."""
        shape, dtype = self._require(self._shape), self._require(self._dtype)
        dout = _upstream(self, dout, shape, dtype)
        if self._mask is None:
            return dout
        dx = np.multiply(dout, self._mask)
        dx *= dtype.type(1.0 / (1.0 - self.p))
        return dx

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class BatchNorm(Layer):
    r"""Batch normalisation over a batch of shape ``(N, C)`` or ``(N, C, L)``: PyTorch's ``BatchNorm1d``.

    Training mode normalises with the batch statistics of each channel ``c``
    (over the ``n = N`` or ``n = N * L`` values of that channel):

    .. math:: \mu = \frac1n \sum_i x_i, \quad \sigma^2 = \frac1n \sum_i (x_i - \mu)^2, \quad
              \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad y = \gamma \hat x + \beta

    and updates the running statistics with the *unbiased* variance:
    ``running_mean <- (1 - momentum) running_mean + momentum mu`` and
    ``running_var <- (1 - momentum) running_var + momentum sigma^2 n / (n - 1)``.
    Evaluation mode normalises with ``running_mean`` and ``running_var`` instead
    (they start at 0 and 1) and updates nothing.

    Backward, with :math:`g = \partial L / \partial y` and sums over the channel's values:

    .. math:: \frac{\partial L}{\partial \beta} = \sum_i g_i, \quad
              \frac{\partial L}{\partial \gamma} = \sum_i g_i \hat x_i, \quad
              \frac{\partial L}{\partial x} = \frac{\gamma}{n \sqrt{\sigma^2 + \epsilon}}
              \Big(n g - \frac{\partial L}{\partial \beta} - \hat x \frac{\partial L}{\partial \gamma}\Big)

    in training; in evaluation the statistics are constants and
    :math:`\partial L / \partial x = \gamma g / \sqrt{\mathrm{running\_var} + \epsilon}`.

    ``gamma`` and ``beta`` are the Parameters ``self.weight`` (name ``"weight"``,
    ones) and ``self.bias`` (name ``"bias"``, zeros) in ``dtype``; the running
    statistics are listed by :meth:`buffers` (saved with a network's state dict).
    Training needs more than one value per channel (``n > 1``), as in PyTorch.

    Differences from the book's ``BatchNormalization``: the book's ``momentum=0.9``
    weighs the *old* running value (``running = 0.9 running + 0.1 batch``), the
    opposite convention of ``momentum=0.1`` here (same update); it stores the
    *biased* batch variance in ``running_var`` and starts it at 0 rather than 1;
    and its epsilon is ``1e-6`` (written ``10e-7``) rather than ``1e-5``.

    >>> import numpy as np
    >>> bn = BatchNorm(2, dtype=np.float64)
    >>> bn(np.array([[1.0, 10.0], [3.0, 30.0]])).round(4)   # each column to mean 0, variance 1
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> bn.running_mean, bn.running_var                    # 0.9 * (0, 1) + 0.1 * (mean, unbiased var)
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32) -> None:
        self.num_features = _positive_int(num_features, "num_features")
        self.eps = float(v.check_scalar(eps, "eps", low=0.0, low_open=True))
        self.momentum = float(v.check_scalar(momentum, "momentum", low=0.0, high=1.0))
        dt = _float_dtype(dtype)
        self.weight = Parameter(np.ones(self.num_features, dtype=dt), "weight")
        self.bias = Parameter(np.zeros(self.num_features, dtype=dt), "bias")
        self.running_mean = np.zeros(self.num_features, dtype=dt)
        self.running_var = np.ones(self.num_features, dtype=dt)
        self._cache: tuple | None = None

    def parameters(self) -> list[Parameter]:
        """``[weight, bias]``: the per-channel scale and shift."""
        return [self.weight, self.bias]

    def buffers(self) -> dict[str, np.ndarray]:
        """The running statistics by name (the arrays themselves, updated in place)."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def _layout(self, x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...], int]:
        """Reduction axes, the broadcast shape of a per-channel vector, and n."""
        C = self.num_features
        if x.ndim not in (2, 3) or x.shape[1] != C:
            raise ValueError(
                f"BatchNorm({C}) expects input of shape (N, {C}) or (N, {C}, L), got an array of shape {x.shape}"
            )
        if x.ndim == 2:
            return (0,), (1, C), x.shape[0]
        return (0, 2), (1, C, 1), x.shape[0] * x.shape[2]

    def forward(self, x):
        """Normalise ``x`` of shape ``(N, C)`` or ``(N, C, L)`` per channel, then scale and shift: with the batch's
        statistics in training mode (updating the running ones), with the running statistics in evaluation mode."""
        x = _float_input(self, x)
        axes, bshape, n = self._layout(x)
        dt = self.weight.data.dtype
        x = x.astype(dt, copy=False)
        if self.training:
            if n < 2:
                raise ValueError(
                    f"BatchNorm needs more than 1 value per channel when training, "
                    f"got input of shape {x.shape}; use eval() for single samples"
                )
            mean = x.mean(axis=axes, keepdims=True)
            xhat = x - mean
            var = np.mean(xhat * xhat, axis=axes, keepdims=True)  # biased: divides by n
            istd = 1 / np.sqrt(var + dt.type(self.eps))
            xhat *= istd
            m = dt.type(self.momentum)
            self.running_mean *= 1 - m
            self.running_mean += m * mean.reshape(-1)
            self.running_var *= 1 - m
            self.running_var += (m * dt.type(n / (n - 1))) * var.reshape(-1)
        else:
            istd = (1 / np.sqrt(self.running_var + dt.type(self.eps))).reshape(bshape)
            xhat = x - self.running_mean.reshape(bshape)
            xhat *= istd
        out = xhat * self.weight.data.reshape(bshape)
        out += self.bias.data.reshape(bshape)
        self._cache = (xhat, istd, axes, bshape, n, self.training)
        return out

    def backward(self, dout):
        """Sets ``weight.grad`` and ``bias.grad`` and returns the gradient with respect to the input, through the
        batch statistics in training mode or the fixed running ones in evaluation mode."""
        xhat, istd, axes, bshape, n, training = self._require(self._cache)
        dt = xhat.dtype
        dout = _upstream(self, dout, xhat.shape, dt)
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * xhat).sum(axis=axes)
        self.bias.grad, self.weight.grad = dbeta, dgamma
        scale = self.weight.data.reshape(bshape) * istd
        if not training:
            return dout * scale
        dx = dout * dt.type(n)
        dx -= dbeta.reshape(bshape)
        dx -= xhat * dgamma.reshape(bshape)
        dx *= scale / dt.type(n)
        return dx

    def __repr__(self) -> str:
        return (
            f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, dtype={self.weight.data.dtype})"
        )
