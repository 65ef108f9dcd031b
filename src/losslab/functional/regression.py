"""Regression losses: squared, absolute, robust and likelihood-based.

Each loss is a pure function ``name(input, target, ..., *, reduction)`` with its
vector-Jacobian product ``name_backward(dout, input, target, ..., *, reduction)``
beside it: the gradient of ``sum(dout * name(...))`` with respect to ``input``.
The semantics (options, defaults, denominators) are those of ``torch.nn.functional``.

Every function computes in the array library of its inputs (:mod:`losslab._array_api`);
the fused kernels of :mod:`losslab._fast` take NumPy calls only, and are asked first.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._numerics import finite_or_definition, times
from ._reduction import reduce, upstream

__all__ = [
    "mse_loss",
    "mse_loss_backward",
    "l1_loss",
    "l1_loss_backward",
    "smooth_l1_loss",
    "smooth_l1_loss_backward",
    "huber_loss",
    "huber_loss_backward",
    "kl_div",
    "kl_div_backward",
    "poisson_nll_loss",
    "poisson_nll_loss_backward",
    "gaussian_nll_loss",
    "gaussian_nll_loss_backward",
]


def _pair(input, target, reduction, allowed=v.REDUCTIONS):
    """``input`` as float, ``target`` of its shape cast to its dtype, and their namespace."""
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    v.check_reduction(reduction, allowed)
    return x, t, xp


# --------------------------------------------------------------------------- MSE


def _mse_loss_kernel(input, target, *, reduction: v.Reduction = "mean"):
    return finite_or_definition(_fast.pointwise(_fast.MSE, input, target, reduction))


@_fast.fused(_mse_loss_kernel)
def mse_loss(input, target, *, reduction: v.Reduction = "mean"):
    r"""Mean squared error, ``torch.nn.functional.mse_loss``.

    .. math:: \ell_i = (x_i - t_i)^2, \qquad
              \frac{\partial \ell_i}{\partial x_i} = 2 (x_i - t_i)

    Shapes: ``input`` any shape, ``target`` the same shape. Output: a scalar, or
    ``input``'s shape for ``reduction='none'``. Raises ``ValueError`` on a shape
    mismatch or an unknown reduction, ``TypeError`` on a non-float input.

    >>> import numpy as np
    >>> mse_loss(np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0]))
    np.float64(4.333333333333333)
    """
    x, t, _ = _pair(input, target, reduction)
    with np.errstate(over="ignore"):  # a square beyond the float range is inf, its true value
        d = x - t
        return reduce(d * d, reduction)


@_fast.defbackward(mse_loss)
def mse_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`mse_loss` with respect to ``input``: ``2 (x - t) * g``.

    >>> import numpy as np
    >>> mse_loss_backward(1.0, np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0]))
    array([0.        , 1.33333333, 2.        ])
    """
    x, t, _ = _pair(input, target, reduction)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    with np.errstate(over="ignore"):  # 2 (x - t) beyond the float range is +-inf, its true value
        return (2 * (x - t)) * g


# --------------------------------------------------------------------------- L1


def _l1_loss_kernel(input, target, *, reduction: v.Reduction = "mean"):
    return finite_or_definition(_fast.pointwise(_fast.L1, input, target, reduction))


@_fast.fused(_l1_loss_kernel)
def l1_loss(input, target, *, reduction: v.Reduction = "mean"):
    r"""Mean absolute error, ``torch.nn.functional.l1_loss``.

    .. math:: \ell_i = |x_i - t_i|, \qquad
              \frac{\partial \ell_i}{\partial x_i} = \operatorname{sign}(x_i - t_i)

    with ``sign(0) = 0`` (PyTorch's subgradient). Shapes as :func:`mse_loss`.

    >>> import numpy as np
    >>> l1_loss(np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0]), reduction="sum")
    np.float64(5.0)
    """
    x, t, xp = _pair(input, target, reduction)
    return reduce(xp.abs(x - t), reduction)


@_fast.defbackward(l1_loss)
def l1_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`l1_loss` with respect to ``input``: ``sign(x - t) * g``.

    >>> import numpy as np
    >>> l1_loss_backward(1.0, np.array([1.0, 2.0, 0.0]), np.array([1.0, 0.0, 1.0]), reduction="sum")
    array([ 0.,  1., -1.])
    """
    x, t, xp = _pair(input, target, reduction)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    return xp.sign(x - t) * g


# --------------------------------------------------------------------------- Smooth L1 / Huber


def _smooth_l1_loss_kernel(input, target, *, reduction: v.Reduction = "mean", beta: float = 1.0):
    if beta.__class__ in (int, float) and beta == 0:  # exactly L1, as the definition says
        return finite_or_definition(_fast.pointwise(_fast.L1, input, target, reduction))
    return finite_or_definition(_fast.pointwise(_fast.SMOOTH_L1, input, target, reduction, beta))


@_fast.fused(_smooth_l1_loss_kernel)
def smooth_l1_loss(input, target, *, reduction: v.Reduction = "mean", beta: float = 1.0):
    r"""Smooth L1 loss, ``torch.nn.functional.smooth_l1_loss``.

    With :math:`d = x - t`:

    .. math:: \ell = \begin{cases} 0.5\, d^2 / \beta & |d| < \beta \\
                                  |d| - 0.5\, \beta & \text{otherwise} \end{cases}
              \qquad
              \frac{\partial \ell}{\partial x} = \begin{cases} d / \beta & |d| < \beta \\
                                                  \operatorname{sign}(d) & \text{otherwise} \end{cases}

    ``beta`` >= 0; ``beta = 0`` is exactly :func:`l1_loss`. ``smooth_l1 = huber / beta``.

    >>> import numpy as np
    >>> smooth_l1_loss(np.array([0.5, 3.0]), np.array([0.0, 0.0]), reduction="none")
    array([0.125, 2.5  ])
    """
    x, t, xp = _pair(input, target, reduction)
    v.check_scalar(beta, "beta", low=0.0)
    if beta == 0:
        return l1_loss(x, t, reduction=reduction)
    a = xp.abs(x - t)
    q = xp.where(a < beta, a, 0)  # the quadratic piece only where it is used: no overflow far out
    loss = xpa.astype(xp.where(a < beta, (0.5 / beta) * q * q, a - 0.5 * beta), x.dtype, xp)
    return reduce(loss, reduction)


@_fast.defbackward(smooth_l1_loss)
def smooth_l1_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean", beta: float = 1.0) -> np.ndarray:
    """Gradient of :func:`smooth_l1_loss` with respect to ``input``.

    >>> import numpy as np
    >>> smooth_l1_loss_backward(1.0, np.array([0.5, -3.0]), np.array([0.0, 0.0]), reduction="sum")
    array([ 0.5, -1. ])
    """
    x, t, xp = _pair(input, target, reduction)
    v.check_scalar(beta, "beta", low=0.0)
    if beta == 0:
        return l1_loss_backward(dout, x, t, reduction=reduction)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    d = x - t
    local = xp.clip(d / xpa.typed(beta, x, xp), -1, 1)  # d/beta inside, sign(d) outside
    return local * g


def _huber_loss_kernel(input, target, *, reduction: v.Reduction = "mean", delta: float = 1.0):
    return finite_or_definition(_fast.pointwise(_fast.HUBER, input, target, reduction, delta))


@_fast.fused(_huber_loss_kernel)
def huber_loss(input, target, *, reduction: v.Reduction = "mean", delta: float = 1.0):
    r"""Huber loss, ``torch.nn.functional.huber_loss``.

    With :math:`d = x - t`:

    .. math:: \ell = \begin{cases} 0.5\, d^2 & |d| \le \delta \\
                                  \delta (|d| - 0.5\, \delta) & \text{otherwise} \end{cases}
              \qquad
              \frac{\partial \ell}{\partial x} = \operatorname{clip}(d, -\delta, \delta)

    ``delta`` > 0.

    >>> import numpy as np
    >>> huber_loss(np.array([0.5, 3.0]), np.array([0.0, 0.0]), reduction="none", delta=2.0)
    array([0.125, 4.   ])
    """
    x, t, xp = _pair(input, target, reduction)
    v.check_scalar(delta, "delta", low=0.0, low_open=True)
    a = xp.abs(x - t)
    q = xp.where(a <= delta, a, 0)  # the quadratic piece only where it is used: no overflow far out
    loss = xpa.astype(xp.where(a <= delta, 0.5 * q * q, delta * (a - 0.5 * delta)), x.dtype, xp)
    return reduce(loss, reduction)


@_fast.defbackward(huber_loss)
def huber_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean", delta: float = 1.0) -> np.ndarray:
    """Gradient of :func:`huber_loss` with respect to ``input``: ``clip(x - t, -delta, delta) * g``.

    >>> import numpy as np
    >>> huber_loss_backward(1.0, np.array([0.5, -3.0]), np.array([0.0, 0.0]), reduction="sum")
    array([ 0.5, -1. ])
    """
    x, t, xp = _pair(input, target, reduction)
    v.check_scalar(delta, "delta", low=0.0, low_open=True)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    return xp.clip(x - t, -delta, delta) * g


# --------------------------------------------------------------------------- KL divergence

KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def _kl_div_kernel(input, target, *, reduction: str = "mean", log_target: bool = False):
    return finite_or_definition(_fast.kl_div(input, target, reduction, log_target))


@_fast.fused(_kl_div_kernel)
def kl_div(input, target, *, reduction: str = "mean", log_target: bool = False):
    r"""Kullback-Leibler divergence, ``torch.nn.functional.kl_div``.

    ``input`` holds log-probabilities :math:`x = \log q`; ``target`` holds
    probabilities :math:`p` (or log-probabilities when ``log_target=True``):

    .. math:: \ell_i = p_i (\log p_i - x_i) \;(\text{with } 0 \log 0 = 0), \qquad
              \frac{\partial \ell_i}{\partial x_i} = -p_i

    ``reduction='batchmean'`` divides the sum by ``input.shape[0]`` and gives the
    true KL divergence per sample; ``'mean'`` divides by the number of elements
    (PyTorch's default, kept for parity). Target probabilities must be >= 0.

    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5]]); q = np.array([[0.25, 0.75]])
    >>> round(float(kl_div(np.log(q), p, reduction="batchmean")), 6)
    0.143841
    """
    x, t, xp = _pair(input, target, reduction, KL_REDUCTIONS)
    log_target = v.check_bool(log_target, "log_target")
    # a class of probability 0 drops out, even against an infinite log-probability (0 * inf = 0, its limit)
    if log_target:
        p = xp.exp(t)
        loss = times(p, xp.where(p > 0, t, 0) - xp.where(p > 0, x, 0), xp)
    else:
        t = xpa.check_values(t, _check_probabilities)
        with np.errstate(divide="ignore", invalid="ignore"):
            xlogx = xp.where(t > 0, t * xp.log(xp.where(t > 0, t, 1)), 0)
        loss = xpa.astype(xlogx - times(t, x, xp), x.dtype, xp)
    return reduce(loss, reduction)


def _check_probabilities(t, start) -> None:
    if xpa.any_true(t < 0):
        raise ValueError(
            "target must hold probabilities >= 0 when log_target=False; pass log_target=True for log-probabilities"
        )


@_fast.defbackward(kl_div)
def kl_div_backward(dout, input, target, *, reduction: str = "mean", log_target: bool = False) -> np.ndarray:
    """Gradient of :func:`kl_div` with respect to ``input``: ``-p * g``.

    >>> import numpy as np
    >>> kl_div_backward(1.0, np.log([[0.25, 0.75]]), np.array([[0.5, 0.5]]), reduction="sum")
    array([[-0.5, -0.5]])
    """
    x, t, xp = _pair(input, target, reduction, KL_REDUCTIONS)
    log_target = v.check_bool(log_target, "log_target")
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    p = xp.exp(t) if log_target else t
    return -p * g


# --------------------------------------------------------------------------- Poisson NLL


def _poisson_nll_loss_kernel(
    input, target, *, log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: v.Reduction = "mean"
):
    return finite_or_definition(_fast.poisson_nll(input, target, log_input, full, eps, reduction))


@_fast.fused(_poisson_nll_loss_kernel)
def poisson_nll_loss(
    input, target, *, log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: v.Reduction = "mean"
):
    r"""Negative log-likelihood of a Poisson target, ``torch.nn.functional.poisson_nll_loss``.

    .. math:: \ell = \begin{cases} e^{x} - t\,x & \text{log\_input} \\
                                  x - t \log(x + \epsilon) & \text{otherwise} \end{cases}
              \qquad
              \frac{\partial \ell}{\partial x} = \begin{cases} e^{x} - t \\ 1 - t / (x + \epsilon) \end{cases}

    ``full=True`` adds Stirling's term :math:`t \log t - t + \tfrac12 \log(2\pi t)` where
    :math:`t > 1` (zero elsewhere); it does not depend on ``x``.

    >>> import numpy as np
    >>> poisson_nll_loss(np.array([0.0, 1.0]), np.array([1.0, 2.0]), reduction="none")
    array([1.        , 0.71828183])
    """
    x, t, xp = _pair(input, target, reduction)
    log_input = v.check_bool(log_input, "log_input")
    full = v.check_bool(full, "full")
    v.check_scalar(eps, "eps", low=0.0)
    if log_input:
        with np.errstate(over="ignore"):  # e^x or t x beyond the float range is +-inf, its true value
            rate = xp.exp(x)
            # where e^x is inf it outgrows t x (IEEE's inf - inf would be NaN); t = 0 drops t x
            loss = rate - times(t, xp.where(rate == math.inf, 0, x), xp)
    else:
        loss = x - t * xp.log(x + xpa.typed(eps, x, xp))
    if full:
        safe_t = xp.where(t > 1, t, 1)
        stirling = safe_t * xp.log(safe_t) - safe_t + 0.5 * xp.log(2 * math.pi * safe_t)
        loss = loss + xpa.astype(xp.where(t > 1, stirling, 0), x.dtype, xp)
    return reduce(loss, reduction)


@_fast.defbackward(poisson_nll_loss)
def poisson_nll_loss_backward(
    dout,
    input,
    target,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: v.Reduction = "mean",
) -> np.ndarray:
    """Gradient of :func:`poisson_nll_loss` with respect to ``input``.

    >>> import numpy as np
    >>> poisson_nll_loss_backward(1.0, np.array([0.0, 1.0]), np.array([1.0, 2.0]), reduction="none")
    array([0.        , 0.71828183])
    """
    x, t, xp = _pair(input, target, reduction)
    log_input = v.check_bool(log_input, "log_input")
    v.check_bool(full, "full")
    v.check_scalar(eps, "eps", low=0.0)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    if log_input:
        with np.errstate(over="ignore"):  # e^x beyond the float range is inf, its true value
            local = xp.exp(x) - t
    else:
        local = 1 - t / (x + xpa.typed(eps, x, xp))
    return local * g


# --------------------------------------------------------------------------- Gaussian NLL


def _gaussian_var(var, x: np.ndarray, xp) -> np.ndarray:
    """``var`` as PyTorch accepts it, as an array that broadcasts against ``x``.

    Accepted: a Python float (one variance for all); the input's shape
    (heteroscedastic); the input's shape without its last dimension; the input's
    number of dimensions with exactly one dimension of size 1 where the input's
    differs (homoscedastic along that dimension).
    """
    if isinstance(var, float):
        va = xpa.full(tuple(x.shape), var, x, xp)
    else:
        va = xpa.asarray(var, xp, x, name="var")
        if not xpa.is_float(va, xp):  # differentiable, as the input
            raise TypeError(
                f"var must hold real numbers as float32 or float64 (or be a Python float), got {xpa.describe(va)}"
            )
        va = xpa.astype(va, x.dtype, xp)
    va = xpa.check_values(va, _check_nonnegative)
    x_shape, va_shape = tuple(x.shape), tuple(va.shape)
    if va_shape == x_shape:
        return va
    if x.ndim >= 1 and va_shape == x_shape[:-1]:
        return va[..., None]
    if va.ndim == x.ndim:
        mismatched = [(a, b) for a, b in zip(x_shape, va_shape, strict=True) if a != b]
        if len(mismatched) == 1 and mismatched[0][1] == 1:
            return va
    raise ValueError(
        f"var must have the input's shape {x_shape}, that shape without its last dimension, "
        f"or that shape with one dimension set to 1; got {va_shape}"
    )


def _check_nonnegative(va, start) -> None:
    if xpa.any_true(va < 0):
        raise ValueError("var must be non-negative, got a negative entry")


def _gaussian_setup(input, target, var, full, eps, reduction):
    xp = xpa.namespace(input, target, var, names=("input", "target", "var"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    v.check_reduction(reduction)
    full = v.check_bool(full, "full")
    v.check_scalar(eps, "eps", low=0.0)
    return x, t, full, xp


def _gaussian_nll_loss_kernel(
    input, target, var, *, full: bool = False, eps: float = 1e-6, reduction: v.Reduction = "mean"
):
    return finite_or_definition(_fast.gaussian_nll(input, target, var, full, eps, reduction))


@_fast.fused(_gaussian_nll_loss_kernel)
def gaussian_nll_loss(input, target, var, *, full: bool = False, eps: float = 1e-6, reduction: v.Reduction = "mean"):
    r"""Gaussian negative log-likelihood, ``torch.nn.functional.gaussian_nll_loss``.

    With :math:`v = \max(\text{var}, \epsilon)` (clamped for stability):

    .. math:: \ell = \tfrac12 \left(\log v + \frac{(x - t)^2}{v}\right) \;[+ \tfrac12 \log 2\pi
              \text{ if full}], \qquad
              \frac{\partial \ell}{\partial x} = \frac{x - t}{v}, \quad
              \frac{\partial \ell}{\partial \text{var}} = \tfrac12 \left(\frac1v - \frac{(x-t)^2}{v^2}\right)

    As in PyTorch, the clamp is not differentiated: the var gradient uses the
    clamped ``v`` and passes through to every entry of ``var``. ``var`` may have the
    input's shape (heteroscedastic), or drop or set to 1 its last dimension
    (homoscedastic; its gradient is then summed over that dimension).

    >>> import numpy as np
    >>> gaussian_nll_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]), np.array([1.0, 4.0]), reduction="none")
    array([0.5       , 1.19314718])
    """
    x, t, full, xp = _gaussian_setup(input, target, var, full, eps, reduction)
    vc = xp.maximum(_gaussian_var(var, x, xp), xpa.typed(eps, x, xp))
    d = x - t
    with np.errstate(over="ignore"):  # a squared residual beyond the float range is inf, its true value
        loss = 0.5 * (xp.log(vc) + d * d / vc)
    if full:
        loss = loss + xpa.typed(0.5 * math.log(2 * math.pi), x, xp)
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


@_fast.defbackward(gaussian_nll_loss)
def gaussian_nll_loss_backward(
    dout, input, target, var, *, full: bool = False, eps: float = 1e-6, reduction: v.Reduction = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`gaussian_nll_loss` with respect to ``input`` and ``var``, as a pair.

    >>> import numpy as np
    >>> gx, gv = gaussian_nll_loss_backward(1.0, np.array([1.0, 2.0]), np.array([0.0, 0.0]),
    ...                                     np.array([1.0, 4.0]), reduction="sum")
    >>> gx, gv
    (array([1. , 0.5]), array([0., 0.]))
    """
    x, t, _, xp = _gaussian_setup(input, target, var, full, eps, reduction)
    va = _gaussian_var(var, x, xp)
    vc = xp.maximum(va, xpa.typed(eps, x, xp))
    x_shape = tuple(x.shape)
    g = upstream(dout, x_shape, x.dtype, reduction, like=x)
    d = x - t
    with np.errstate(over="ignore"):  # d / v beyond the float range is +-inf (and vc^2 = inf: d^2 / vc^2 = 0)
        gx = (d / vc) * g
        gv = (0.5 * (1 / vc - d * d / (vc * vc))) * g
    gv = xp.broadcast_to(gv, x_shape)
    summed = tuple(i for i, (a, b) in enumerate(zip(x_shape, va.shape, strict=False)) if a != b)
    if summed:  # homoscedastic: a variance shared along a dimension gets the sum of its gradients
        gv = xp.sum(gv, axis=summed, keepdims=True)
    var_shape = () if isinstance(var, float) else tuple(xpa.asarray(var, xp, x).shape)
    if var_shape == ():
        gv = xp.sum(gv)  # a Python float shared by every element
    if xp is np:
        gv = np.require(gv, requirements="W")  # a fresh array, never a read-only broadcast view
    return xpa.astype(gx, x.dtype, xp), xpa.astype(xp.reshape(gv, var_shape), x.dtype, xp)
