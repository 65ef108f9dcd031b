"""Robust and quantile regression losses: log-cosh, pinball (quantile) and Charbonnier.

Each loss is a pure function ``name(input, target, *, options)`` with its
vector-Jacobian product ``name_backward(dout, input, target, *, options)`` beside
it: the gradient of ``sum(dout * name(...))`` with respect to ``input``.
Every function computes in the array library of its inputs (:mod:`losslab._array_api`).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._numerics import finite_or_definition
from ._reduction import reduce, upstream

__all__ = [
    "log_cosh_loss",
    "log_cosh_loss_backward",
    "quantile_loss",
    "quantile_loss_backward",
    "charbonnier_loss",
    "charbonnier_loss_backward",
]

_LOG2 = math.log(2.0)


def _pair(input, target, reduction):
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    v.check_reduction(reduction)
    return x, t, xp


# --------------------------------------------------------------------------- log-cosh


def _log_cosh_loss_kernel(input, target, *, reduction: v.Reduction = "mean"):
    return finite_or_definition(_fast.pointwise(_fast.LOG_COSH, input, target, reduction))


@_fast.fused(_log_cosh_loss_kernel)
def log_cosh_loss(input, target, *, reduction: v.Reduction = "mean"):
    r"""Log-cosh loss, as ``optax.losses.log_cosh`` (Chen et al. 2019, "Log Hyperbolic Cosine Loss
    Improves Variational Auto-Encoder").

    With :math:`d = x - t`:

    .. math:: \ell_i = \log\cosh d_i = |d_i| + \log(1 + e^{-2|d_i|}) - \log 2, \qquad
              \frac{\partial \ell_i}{\partial x_i} = \tanh d_i

    The right-hand form, used for |d| >= 1, never exponentiates a positive number (``cosh``
    overflows beyond |d| = 710), so |d| = 1e4 gives exactly ``1e4 - log 2``; below 1 it would
    cancel, and :math:`\log(1 + 2 \sinh^2(d/2))` (the same function) is used instead, exact to
    the last bit down to |d| = 1e-150. It is about ``d^2 / 2`` near 0 and ``|d| - log 2`` far
    away: a smooth Huber. ``'mean'`` divides by the number of elements.

    Shapes: ``input`` any shape, ``target`` the same. Raises ``TypeError`` for a
    non-float input, ``ValueError`` for a shape mismatch or an unknown reduction.

    >>> import numpy as np
    >>> log_cosh_loss(np.array([0.0, 1.0, 1e4]), np.array([0.0, 0.0, 0.0]), reduction="none").round(6)
    array([0.000000e+00, 4.337810e-01, 9.999307e+03])
    """
    x, t, xp = _pair(input, target, reduction)
    a = xp.abs(x - t)
    # below |d| = 1 the far form cancels (|d| + log1p(...) - log 2 -> 0); cosh d = 1 + 2 sinh^2(d/2) does not
    half_sinh = xp.sinh(xp.minimum(a, 1) / 2)
    e = xp.exp(-a)  # e^{-2|d|} as a square: -2|d| would overflow at |d| = 1e308
    loss = xp.where(a < 1, xp.log1p(2 * half_sinh * half_sinh), a + xp.log1p(e * e) - _LOG2)
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


@_fast.defbackward(log_cosh_loss)
def log_cosh_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`log_cosh_loss` with respect to ``input``: ``tanh(x - t) * g``.

    >>> import numpy as np
    >>> log_cosh_loss_backward(1.0, np.array([0.0, 1.0, -1e4]), np.zeros(3), reduction="sum").round(6)
    array([ 0.      ,  0.761594, -1.      ])
    """
    x, t, xp = _pair(input, target, reduction)
    g = upstream(dout, x.shape, x.dtype, reduction, like=x)
    return xpa.astype(xp.tanh(x - t) * g, x.dtype, xp)


# --------------------------------------------------------------------------- quantile (pinball)


def _quantile_setup(input, target, quantiles, reduction):
    xp = xpa.namespace(input, target, quantiles, names=("input", "target", "quantiles"))
    x = v.as_float_array(input, "input")
    v.check_ndim(x, "input", (2,), "a 2-D array of shape (N, Q): one prediction per quantile")
    n, num_q = x.shape
    t = xpa.asarray(target, xp, x)
    if tuple(t.shape) != (n,):
        raise ValueError(
            f"target must have shape ({n},), one value per row of input {tuple(x.shape)}, got {tuple(t.shape)}"
        )
    t = v.as_real_like(t, "target", x, shape=(n,))
    q = levels(quantiles, xp, x)
    if tuple(q.shape) != (num_q,):
        raise ValueError(f"quantiles must hold one level per column of input ({num_q},), got shape {tuple(q.shape)}")
    v.check_reduction(reduction)
    return x, t[:, None], xpa.astype(q, x.dtype, xp), xp


def levels(quantiles, xp=np, like=None) -> np.ndarray:
    """Quantile levels: a 1-D sequence of reals, each strictly inside (0, 1), as an array of ``xp``
    (on ``like``'s device)."""
    q = xpa.asarray(quantiles, xp, like)
    if not xpa.has_kind(q, "iuf", xp):
        raise TypeError(f"quantiles must be a sequence of real numbers, got {quantiles!r}")
    if q.ndim != 1:
        raise ValueError(f"quantiles must be a 1-D sequence of levels, got shape {tuple(q.shape)}")

    def in_unit_interval(levels, start):
        bad = ~((levels > 0) & (levels < 1))
        if xpa.any_true(bad):
            raise ValueError(f"quantiles must lie strictly in (0, 1), got {float(xpa.first_value(levels, bad))!r}")

    return xpa.check_values(q, in_unit_interval)


def _quantile_loss_kernel(input, target, *, quantiles, reduction: v.Reduction = "mean"):
    return finite_or_definition(_fast.quantile(input, target, quantiles, reduction))


@_fast.fused(_quantile_loss_kernel)
def quantile_loss(input, target, *, quantiles, reduction: v.Reduction = "mean"):
    r"""Quantile (pinball) loss for Q quantile levels at once (Koenker & Bassett 1978).

    For sample :math:`n`, level :math:`q_j` and prediction :math:`x_{nj}`, with
    :math:`u = t_n - x_{nj}`:

    .. math:: \ell_{nj} = \max\left(q_j\, u,\; (q_j - 1)\, u\right), \qquad
              \frac{\partial \ell_{nj}}{\partial x_{nj}} = \begin{cases} -q_j & u > 0 \\
              1 - q_j & u < 0 \\ \tfrac12 - q_j & u = 0 \end{cases}

    At the kink ``u = 0`` the gradient is the mean of the two one-sided derivatives,
    which is what PyTorch's autograd gives through ``torch.max`` of two equal values.
    The definition is that of pytorch-forecasting's ``QuantileLoss.loss`` (the releases
    without the factor 2 that later ones add); a level of 0.5 gives half the absolute error.
    ``'mean'`` divides by N * Q.

    Shapes: ``input`` (N, Q), one column per level; ``target`` (N,); ``quantiles`` Q levels,
    each strictly in (0, 1). Output: a scalar, or (N, Q) for ``reduction='none'``.
    Raises ``TypeError`` for a non-float input or non-real levels, ``ValueError`` for
    shapes, a level outside (0, 1) or an unknown reduction.

    >>> import numpy as np
    >>> quantile_loss(np.array([[1.0, 1.0], [3.0, 3.0]]), np.array([2.0, 2.0]),
    ...               quantiles=[0.1, 0.9], reduction="none")
    array([[0.1, 0.9],
           [0.9, 0.1]])
    """
    x, t, q, xp = _quantile_setup(input, target, quantiles, reduction)
    u = t - x
    return reduce(xpa.astype(xp.maximum(q * u, (q - 1) * u), x.dtype, xp), reduction)


@_fast.defbackward(quantile_loss)
def quantile_loss_backward(dout, input, target, *, quantiles, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`quantile_loss` with respect to ``input``: ``-q``, ``1 - q`` or ``1/2 - q``, times ``g``.

    >>> import numpy as np
    >>> quantile_loss_backward(1.0, np.array([[1.0, 3.0, 2.0]]), np.array([2.0]),
    ...                        quantiles=[0.9, 0.9, 0.9], reduction="sum")
    array([[-0.9,  0.1, -0.4]])
    """
    x, t, q, xp = _quantile_setup(input, target, quantiles, reduction)
    g = upstream(dout, x.shape, x.dtype, reduction, like=x)
    u = t - x
    local = xp.where(u > 0, -q, xp.where(u < 0, 1 - q, 0.5 - q))
    return xpa.astype(local * g, x.dtype, xp)


# --------------------------------------------------------------------------- Charbonnier


def _charbonnier_weight(weight, x, reduction, xp):
    """``(w, denominator)``: the element-wise ``weight`` (>= 0, broadcast to the input) or None, and the 'mean'
    divisor (BasicSR's: the sum of the broadcast weights)."""
    if weight is None:
        return None, None
    w = v.check_broadcastable(weight, "weight", tuple(x.shape), x.dtype, like=x)

    def non_negative(values, start):
        if xpa.any_true(values < 0):
            raise ValueError(f"weight must hold values >= 0, got {float(xpa.first_value(values, values < 0))!r}")

    w = xp.broadcast_to(xpa.check_values(w, non_negative), tuple(x.shape))
    total = xp.sum(w)
    if reduction == "mean" and xp is np and total == 0:
        raise ValueError(
            "weight sums to 0: the weighted 'mean' (sum of w l / sum of w) is undefined; "
            "pass reduction='sum' or a nonzero weight"
        )
    return w, (total if xp is not np else float(total))


def _charbonnier_loss_kernel(input, target, *, eps: float = 1e-3, reduction: v.Reduction = "mean", weight=None):
    if weight is not None:
        return None
    return finite_or_definition(_fast.pointwise(_fast.CHARBONNIER, input, target, reduction, eps))


@_fast.fused(_charbonnier_loss_kernel)
def charbonnier_loss(input, target, *, eps: float = 1e-3, reduction: v.Reduction = "mean", weight=None):
    r"""Charbonnier loss, a differentiable L1 (Lai et al. 2017, LapSRN; Charbonnier et al. 1994).

    With :math:`d = x - t`:

    .. math:: \ell_i = \sqrt{d_i^2 + \epsilon^2}, \qquad
              \frac{\partial \ell_i}{\partial x_i} = \frac{d_i}{\sqrt{d_i^2 + \epsilon^2}}

    LapSRN's convention, ``eps = 1e-3``, nothing subtracted: the loss is ``eps`` (not 0) at
    ``d = 0``. Other conventions: BasicSR's ``charbonnier_loss`` adds ``eps`` unsquared
    (``sqrt(d^2 + eps)``, eps = 1e-12), i.e. ours with ``eps`` replaced by its square root;
    Barron's general robust loss subtracts the constant. Evaluated as ``hypot(d, eps)``:
    no overflow for any finite ``d``. ``'mean'`` divides by the number of elements.

    ``weight`` (BasicSR 1.4's element-wise ``weight`` of ``CharbonnierLoss.forward(pred,
    target, weight)``): an array >= 0 that broadcasts to the input (e.g. (N, 1, H, W) for
    (N, C, H, W)); each term becomes :math:`w_i \ell_i` (and its gradient
    :math:`w_i\, \partial \ell_i / \partial x_i`), and ``'mean'`` divides by the sum of the
    broadcast weights, as BasicSR's ``weight_reduce_loss``. BasicSR's ``CharbonnierLoss(
    loss_weight=a, eps=e)`` is ``a * charbonnier_loss(..., eps=sqrt(e))``.

    Shapes: ``input`` any shape, ``target`` the same. ``eps`` > 0 (``eps = 0`` is
    :func:`~losslab.functional.l1_loss`). Raises ``TypeError`` for a non-float input,
    ``ValueError`` for a shape mismatch, a bad ``eps`` or reduction, a weight that does not
    broadcast, is negative, or sums to 0 under ``'mean'``.

    >>> import numpy as np
    >>> charbonnier_loss(np.array([3.0, 0.0]), np.array([0.0, 0.0]), eps=4.0, reduction="none")
    array([5., 4.])
    >>> float(charbonnier_loss(np.array([3.0, 0.0]), np.array([0.0, 0.0]), eps=4.0, weight=np.array([3.0, 1.0])))
    4.75
    """
    x, t, xp = _pair(input, target, reduction)
    v.check_scalar(eps, "eps", low=0.0, low_open=True)
    w, denominator = _charbonnier_weight(weight, x, reduction, xp)
    loss = xpa.astype(xp.hypot(x - t, xpa.const(eps, x, xp)), x.dtype, xp)
    if w is None:
        return reduce(loss, reduction)
    return reduce(xpa.astype(w * loss, x.dtype, xp), reduction, denominator=denominator)


@_fast.defbackward(charbonnier_loss)
def charbonnier_loss_backward(
    dout, input, target, *, eps: float = 1e-3, reduction: v.Reduction = "mean", weight=None
) -> np.ndarray:
    """Gradient of :func:`charbonnier_loss` with respect to ``input``: ``d / sqrt(d^2 + eps^2) * g``.

    >>> import numpy as np
    >>> charbonnier_loss_backward(1.0, np.array([3.0, 0.0]), np.array([0.0, 0.0]), eps=4.0, reduction="sum")
    array([0.6, 0. ])
    """
    x, t, xp = _pair(input, target, reduction)
    v.check_scalar(eps, "eps", low=0.0, low_open=True)
    w, denominator = _charbonnier_weight(weight, x, reduction, xp)
    g = upstream(dout, x.shape, x.dtype, reduction, denominator=denominator, like=x)
    if w is not None:
        g = w * g
    with np.errstate(over="ignore"):  # a residual beyond the float range is +-inf, its true value
        d = x - t
    # d / sqrt(d^2 + eps^2) -> sign(d) as |d| -> inf (IEEE's inf / inf would be NaN)
    slope = xp.where(xp.isinf(d), xp.sign(d), d / xp.hypot(xp.where(xp.isinf(d), 0, d), xpa.const(eps, x, xp)))
    return xpa.astype(slope * g, x.dtype, xp)
