"""Classification losses: softmax cross-entropy, NLL, and binary cross-entropy (on probabilities or logits).

Each loss is a pure function ``name(input, target, *, options)`` with its
vector-Jacobian product ``name_backward(dout, input, target, *, options)`` beside
it: the gradient of ``sum(dout * name(...))`` with respect to ``input``.
The semantics (options, shapes, denominators, clamps) are those of
``torch.nn.functional`` 2.13, checked against it number for number.

Layout of the multi-class losses: the class dimension is axis 1 of a batched
input ``(N, C)`` or ``(N, C, d1, ..., dK)``, and axis 0 of an unbatched ``(C,)``
input. Internally an unbatched call gets a batch axis of 1, so every helper
below sees ``(N, C, *d)``.

Every function computes in the array library of its inputs (:mod:`losslab._array_api`);
the fused kernels of :mod:`losslab._fast` take NumPy calls only, and are asked first.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._classes import batched_upstream, coefficients, setup, target_weights
from ._numerics import times
from ._reduction import reduce, upstream
from .activation import log_softmax_of, sigmoid, softplus

__all__ = [
    "cross_entropy",
    "cross_entropy_backward",
    "nll_loss",
    "nll_loss_backward",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
]

# PyTorch's BCE backward clamps x (1 - x) at its C++ ``constexpr float EPSILON = 1e-12``:
# the float32 value, widened to the input's dtype (so 9.99999996e-13 in float64).
_BCE_EPS = np.float32(1e-12)


# --------------------------------------------------------------------------- cross-entropy


def _cross_entropy_kernel(
    input,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: v.Reduction = "mean",
    label_smoothing: float = 0.0,
):
    """Fused: (N, C) float logits with class indices or probabilities and every option, and K-dimensional
    logits (N, C, d1, ..., dK) likewise.

    A non-finite result (an infinite logit) is left to the definition, which takes the limits.
    """
    if input.__class__ is np.ndarray and input.ndim == 1 and target.__class__ is np.ndarray and target.ndim < 2:
        # one sample: a batch of one, so both doors give the same bits
        hit = _cross_entropy_kernel(
            input[None],
            target[None],
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
        return None if hit is None else (hit[0].reshape(()) if reduction == "none" else hit[0], hit[1][0])
    if input.__class__ is np.ndarray and input.ndim > 2:  # K-dimensional: the kernel checks finiteness itself
        return _fast.cross_entropy_kdim(input, target, weight, ignore_index, reduction, label_smoothing)
    if input.__class__ is np.ndarray and input.ndim == 2 and input.size > _SMALL and _fast.backend() == "numpy":
        fused = None  # without numba the general path's row blocks answer every large (N, C) call
    else:
        fused = _fast.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
    if fused is None and _as_kdim(input, target):
        # (N, C) rows with weight, smoothing or probabilities as (N, C, 1): with numba a few rows in one kernel
        # call (the general path's preparation costs more than the rows)
        fused = _fast.cross_entropy_small(input, target, weight, ignore_index, reduction, label_smoothing)
    if fused is None:
        fused = _cross_entropy_general(input, target, weight, ignore_index, reduction, label_smoothing)
    if fused is None:
        return None
    out = fused[0]
    return fused if (math.isfinite(out) if out.ndim == 0 else np.isfinite(out).all()) else None


def _as_kdim(x, t) -> bool:
    """An (N, C) call with (N,) or (N, C) targets for the K-dimensional kernel: small ones with numba (without
    numba the general path's row blocks, which skip the K-dimensional layout's strided class axis, answer)."""
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.ndim != 2 or t.ndim not in (1, 2):
        return False
    return _fast.backend() == "numba" and 0 < x.size <= _SMALL_NUMBA


_SMALL = 4096  # elements: below this the K-dimensional kernel's one call beats the general path
# with numba, rows of the K-dimensional kernel (S = 1: ce_kdim_narrow) up to 2^16 elements: 256 x 100 float32
# with weights and smoothing ~40 us against ~60 us by the general path; near even from ~2^18
_SMALL_NUMBA = 1 << 16


def _cross_entropy_general(x, t, weight, ignore_index, reduction, label_smoothing):
    """Fused, NumPy: (N, C) finite logits with class weights, label smoothing, ``ignore_index`` or
    class-probability targets; one log-softmax for the loss and the gradient (``None`` elsewhere).

    The definition's terms, with the softmax taken as ``exp(z) / sum exp(z)`` rather than ``exp(log p)``
    (the same to within rounding).
    """
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in _FLOATS:
        return None
    if x.ndim == 1 and t.ndim in (0, 1):  # one sample: a batch of one, so both doors give the same bits
        hit = _cross_entropy_general(x[None], t[None], weight, ignore_index, reduction, label_smoothing)
        return None if hit is None else (hit[0].reshape(()) if reduction == "none" else hit[0], hit[1][0])
    if x.ndim != 2:
        return None
    if label_smoothing.__class__ not in (int, float) or not 0 <= label_smoothing <= 1:
        return None
    ls = label_smoothing
    n, c = x.shape
    dtype = x.dtype
    probs = t.shape == x.shape
    if probs:
        if t.dtype.kind != "f" or ignore_index.__class__ is not int or ignore_index >= 0 or x.size == 0:
            return None
        if reduction not in _REDUCTIONS:
            return None
        w = _broadcast_weight(weight, x)
        if w is None or (weight is not None and w.shape != (c,)):
            return None
        t = t.astype(dtype, copy=False)
    else:
        call = _index_call(x, t, weight, ignore_index, reduction)
        if call is None:
            return None
        w = call[2]
        valid = t != ignore_index
        safe = np.where(valid, t, 0)
        if w is None:
            wt = valid.astype(dtype)
            denominator = int(valid.sum())
        else:
            wt = np.where(valid, w[safe], 0).astype(dtype)
            denominator = wt.sum(dtype=dtype)
    if x.size and (reduction != "mean" or (n if probs else denominator) != 0):
        fused = _fast.cross_entropy_general(
            x,
            t,
            None if weight is None else w,
            None if probs else wt,
            n if probs else denominator,
            reduction,
            ls,
            ignore_index,
        )
        if fused is None:  # without numba: blocks of rows, on the threads for large calls
            if probs:
                fused = _fast.cross_entropy_dense(x, t, None, None if weight is None else w, None, n, reduction, ls)
            else:
                fused = _fast.cross_entropy_dense(x, safe, valid, w, wt, denominator, reduction, ls)
        if fused is not None:
            return fused
    with np.errstate(all="ignore"):  # a non-finite logit: the result is not finite, and the definition answers
        z = x - x.max(axis=1, keepdims=True)
        e = np.exp(z)
        total = e.sum(axis=1, keepdims=True)
        logp = z - np.log(total)
        prob = e
        prob /= total  # softmax, in place of e
        if probs:
            a = t * (1 - ls) + ls / c if ls > 0 else t
            if weight is not None:
                a = a * w
            loss = (-np.sum(logp * a, axis=1)).astype(dtype, copy=False)
            out = reduce(loss, reduction)
            g = upstream(1.0, loss.shape, dtype, reduction)
            grad = prob
            grad *= np.sum(a, axis=1, keepdims=True)
            grad -= a
            grad *= g if np.ndim(g) == 0 else g[:, None]
            return out, grad
        rows = np.arange(n)
        loss = np.where(valid, -wt * logp[rows, safe], 0)
        if ls > 0:
            smooth = -np.sum(logp if w is None else logp * w, axis=1)
            loss = (1 - ls) * loss + (ls / c) * np.where(valid, smooth, 0)
        loss = loss.astype(dtype, copy=False)
        out = reduce(loss, reduction, denominator=denominator, xp=np)
        g = upstream(1.0, loss.shape, dtype, reduction, denominator=denominator)
        hit = ((1 - ls) * wt).astype(dtype, copy=False)  # the one-hot part of a
        a_sum = hit + (ls / c) * (c if w is None else w.sum(dtype=dtype)) * valid if ls > 0 else hit
        grad = prob
        grad *= a_sum.astype(dtype, copy=False)[:, None]
        if ls > 0:
            spread = np.asarray((ls / c) * (1 if w is None else w), dtype)
            grad -= spread * valid[:, None] if not valid.all() else spread
        grad[rows, safe] -= hit
        grad *= g if np.ndim(g) == 0 else g[:, None]
        grad[~valid] = 0
        return out, grad


@_fast.fused(_cross_entropy_kernel)
def cross_entropy(
    input,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: v.Reduction = "mean",
    label_smoothing: float = 0.0,
):
    r"""Softmax cross-entropy on logits, ``torch.nn.functional.cross_entropy``.

    With :math:`\log p = \operatorname{log\_softmax}(x)` over the class axis, every
    position ``n`` has the loss :math:`\ell_n = -\sum_c a_{n,c} \log p_{n,c}`, where

    - class-index targets :math:`t_n`, :math:`\epsilon` = ``label_smoothing``:
      :math:`a_{n,c} = (1 - \epsilon)\, w_{t_n} [c = t_n] + \tfrac{\epsilon}{C} w_c`,
      i.e. :math:`\ell_n = (1 - \epsilon)(-w_{t_n} \log p_{n,t_n})
      + \tfrac{\epsilon}{C} (-\sum_c w_c \log p_{n,c})`, and :math:`\ell_n = 0` where
      :math:`t_n` = ``ignore_index``. ``'mean'`` divides the sum by
      :math:`\sum_{n \text{ not ignored}} w_{t_n}` (the count of non-ignored positions
      without weight), for both terms; if every position is ignored that is 0 / 0 = NaN,
      as in PyTorch (no warning).
    - class-probability targets :math:`q_{n,c}`:
      :math:`a_{n,c} = w_c \,(q_{n,c} (1 - \epsilon) + \epsilon / C)`; ``'mean'``
      divides by the number of positions :math:`N d_1 \cdots d_K`, not by the weights.

    Gradient, per position: :math:`\partial \ell_n / \partial x_{n,c} =
    (\sum_k a_{n,k})\, \operatorname{softmax}(x_n)_c - a_{n,c}` (zero for ignored rows).

    Shapes: ``input`` (C,), (N, C) or (N, C, d1, ..., dK); ``target`` integer class
    indices of shape (), (N,) or (N, d1, ..., dK) (values in [0, C) or ``ignore_index``),
    or float class probabilities of the input's shape. Output: a scalar, or the
    index-target shape for ``reduction='none'``. Options: ``weight`` (C,) per-class
    weights; ``ignore_index`` any int (index targets only: with probability targets it
    must stay negative, as PyTorch requires); ``label_smoothing`` in [0, 1].

    Raises ``TypeError`` for a non-float input or float targets of the index shape,
    :class:`~losslab._validation.ClassIndexError` for a label outside [0, C), and
    ``ValueError`` for a target or weight of the wrong shape, a bad option or reduction.

    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 3.0]])
    >>> cross_entropy(x, np.array([0, 1, 1]), reduction="none").round(4)
    array([1.3133, 0.1269, 0.1269])
    >>> round(float(cross_entropy(x, np.array([0, 1, 1]))), 4)
    0.5224
    """
    lay, w = setup(input, target, weight, ignore_index, reduction, probs_allowed=True)
    v.check_scalar(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    ls = label_smoothing
    xp = lay.xp
    logp = log_softmax_of(lay.x, 1, xp)
    num_classes = lay.num_classes
    if lay.probs:
        a, denominator = coefficients(lay, w, ls)
        loss = -xp.sum(times(a, logp, xp), axis=1)  # a class of weight 0 at log p = -inf adds 0
    else:
        # gather the target entry rather than summing a one-hot product: a logit of -inf
        # elsewhere in the row then stays harmless, as in PyTorch
        safe, wt, denominator = target_weights(lay, w)
        picked = xpa.take_along_axis(logp, safe, 1, xp)
        loss = xp.where(lay.valid, -times(wt, picked, xp), 0)  # a target of weight 0 adds 0, even at -inf
        if ls > 0:
            smooth = -xp.sum(logp if w is None else times(lay.class_view(w), logp, xp), axis=1)
            loss = (1 - ls) * loss + (ls / num_classes) * xp.where(lay.valid, smooth, 0)
    loss = xp.reshape(xpa.astype(loss, lay.x.dtype, xp), lay.out_shape)
    return reduce(loss, reduction, denominator=denominator, xp=xp)


@_fast.defbackward(cross_entropy)
def cross_entropy_backward(
    dout,
    input,
    target,
    *,
    weight=None,
    ignore_index: int = -100,
    reduction: v.Reduction = "mean",
    label_smoothing: float = 0.0,
) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to ``input``: ``(sum_k a_k) softmax - a``, times ``g``.

    >>> import numpy as np
    >>> cross_entropy_backward(1.0, np.array([[0.0, 0.0]]), np.array([0]), reduction="sum")
    array([[-0.5,  0.5]])
    """
    lay, w = setup(input, target, weight, ignore_index, reduction, probs_allowed=True)
    v.check_scalar(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    xp = lay.xp
    a, denominator = coefficients(lay, w, label_smoothing)
    g = batched_upstream(dout, lay, reduction, denominator)
    prob = xp.exp(log_softmax_of(lay.x, 1, xp))
    # all ignored: g = 1 / 0, and 0 * inf on the ignored rows...
    grad = xpa.quietly(operator.mul, xp.sum(a, axis=1, keepdims=True) * prob - a, g)
    grad = xp.where(lay.valid[:, None, ...], grad, 0)  # ...whose gradient is 0, as in PyTorch
    return xpa.astype(xp.reshape(grad, lay.in_shape), lay.x.dtype, xp)


# --------------------------------------------------------------------------- NLL


def _index_call(input, target, weight, ignore_index, reduction):
    """``(x, t, w)`` of a plain index-target call, batched ``(N, C, *d)`` with signed integer labels in
    range (or ``ignore_index``) and a per-class float weight of the input's dtype; ``None`` otherwise."""
    x, t = input, target
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in _FLOATS or x.ndim < 2:
        return None
    if t.dtype.kind != "i" or t.shape != x.shape[:1] + x.shape[2:] or x.size == 0 or reduction not in _REDUCTIONS:
        return None
    if ignore_index.__class__ is not int:
        return None
    c = x.shape[1]
    w = weight
    if w is not None:
        if w.__class__ is not np.ndarray or w.dtype.kind != "f" or w.shape != (c,):
            return None
        w = w.astype(x.dtype, copy=False)
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        bad = (t < 0) | (t >= c)
        if (bad & (t != ignore_index)).any():
            return None
    return x, t, w


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_REDUCTIONS = ("mean", "sum", "none")


def _nll_loss_kernel(input, target, *, weight=None, ignore_index: int = -100, reduction: v.Reduction = "mean"):
    """Fused: batched float log-probabilities, signed integer labels, any weight and ``ignore_index``.

    numba: one kernel call. NumPy: one gather for the loss and one scatter into a zeroed gradient at
    flat indices, the definition's formulas term for term (so the same bits), without its one-hot
    ``(N, C, *d)`` masks. A non-finite loss is left to the definition.
    """
    fused = _fast.nll_kdim(input, target, weight, ignore_index, reduction)
    if fused is not None:
        return fused
    call = _index_call(input, target, weight, ignore_index, reduction)
    if call is None:
        return None
    x, t, w = call
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    dtype = x.dtype
    n, c = x.shape[:2]
    s = t.size // n
    labels = t.reshape(-1)
    valid = labels != ignore_index
    every = bool(valid.all())
    safe = labels if every else np.where(valid, labels, 0)
    # flat index of x[n, t, k] in the contiguous (N, C, S) layout: a gather and a scatter, no along-axis helpers
    at = np.arange(t.size) if s > 1 else np.arange(0, n * c, c)
    if s > 1:
        at = (at // s) * (c * s) + at % s
    at += safe * s
    picked = x.reshape(-1)[at]
    if w is None:
        wt = np.ones(t.size, dtype) if every else valid.astype(dtype)
        denominator = t.size if every else int(np.count_nonzero(valid))
    else:
        wt = w[safe] if every else np.where(valid, w[safe], 0).astype(dtype)
        denominator = wt.sum(dtype=dtype)
    if reduction == "mean" and denominator == 0:
        return None  # all ignored: the definition's NaN
    with np.errstate(all="ignore"):  # an overflow or inf * 0 makes a non-finite loss, which the definition answers
        loss = -wt * (picked if every else np.where(valid, picked, 0))
        if reduction == "none":
            out = loss.reshape(t.shape)
            scale = dtype.type(1)
        else:
            total = loss.sum(dtype=dtype)
            scale = dtype.type(1) / dtype.type(denominator) if reduction == "mean" else dtype.type(1)
            out = dtype.type(total / dtype.type(denominator)) if reduction == "mean" else total
        if not np.isfinite(out).all():
            return None
        scatter = -wt * scale
    grad = _fast.zeros(x.shape, dtype)  # written at the labels only: mapping its pages is most of the call
    grad.reshape(-1)[at if every else at[valid]] = scatter if every else scatter[valid]
    return out, grad


@_fast.fused(_nll_loss_kernel)
def nll_loss(input, target, *, weight=None, ignore_index: int = -100, reduction: v.Reduction = "mean"):
    r"""Negative log-likelihood of log-probabilities, ``torch.nn.functional.nll_loss``.

    .. math:: \ell_n = -w_{t_n}\, x_{n, t_n} \;(0 \text{ where } t_n = \text{ignore\_index}), \qquad
              \frac{\partial \ell_n}{\partial x_{n,c}} = -w_{t_n} [c = t_n]

    ``'mean'`` divides the sum by :math:`\sum_{n \text{ not ignored}} w_{t_n}` (the count of
    non-ignored positions without weight); all positions ignored gives NaN, as in PyTorch.
    ``input`` is expected to hold log-probabilities (e.g. from ``log_softmax``) but any
    real values are accepted.

    Shapes: ``input`` (C,), (N, C) or (N, C, d1, ..., dK); ``target`` integer class
    indices of shape (), (N,) or (N, d1, ..., dK). Output: a scalar, or the target's
    shape for ``reduction='none'``. Options: ``weight`` (C,), ``ignore_index`` any int.

    Raises ``TypeError`` for a non-float input or non-integer target,
    :class:`~losslab._validation.ClassIndexError` for a label outside [0, C), and
    ``ValueError`` for shapes, options or the reduction.

    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 3.0]])
    >>> nll_loss(x, np.array([0, 1, 1]), weight=np.array([1.0, 1.0]), reduction="none")
    array([-1., -3., -3.])
    """
    lay, w = setup(input, target, weight, ignore_index, reduction, probs_allowed=False)
    xp = lay.xp
    safe, wt, denominator = target_weights(lay, w)
    picked = xpa.take_along_axis(lay.x, safe, 1, xp)
    loss = xpa.astype(xp.where(lay.valid, -wt * picked, 0), lay.x.dtype, xp)
    return reduce(xp.reshape(loss, lay.out_shape), reduction, denominator=denominator, xp=xp)


@_fast.defbackward(nll_loss)
def nll_loss_backward(
    dout, input, target, *, weight=None, ignore_index: int = -100, reduction: v.Reduction = "mean"
) -> np.ndarray:
    """Gradient of :func:`nll_loss` with respect to ``input``: ``-w[t] * g`` at each target entry, 0 elsewhere.

    >>> import numpy as np
    >>> nll_loss_backward(1.0, np.zeros((2, 3)), np.array([2, 0]), weight=np.array([1.0, 2.0, 3.0]))
    array([[ 0.  ,  0.  , -0.75],
           [-0.25,  0.  ,  0.  ]])
    """
    lay, w = setup(input, target, weight, ignore_index, reduction, probs_allowed=False)
    xp = lay.xp
    safe, wt, denominator = target_weights(lay, w)
    g = batched_upstream(dout, lay, reduction, denominator)
    onehot = lay.class_mask(safe)
    # all ignored: 0 * (1 / 0) on rows that xp.where zeroes
    grad = xp.where(onehot & lay.valid[:, None, ...], xpa.quietly(operator.mul, -wt[:, None, ...], g), 0)
    return xpa.astype(xp.reshape(grad, lay.in_shape), lay.x.dtype, xp)


# --------------------------------------------------------------------------- binary cross-entropy


def _bce_setup(input, target, weight, reduction):
    xp = xpa.namespace(input, target, weight, names=("input", "target", "weight"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    v.check_reduction(reduction)
    x = v.check_unit_interval(x, "input", "probabilities")
    t = v.check_unit_interval(t, "target", "probabilities")
    w = None if weight is None else v.check_broadcastable(weight, "weight", tuple(x.shape), x.dtype, like=x)
    return x, t, w, xp


def _binary_cross_entropy_kernel(input, target, *, weight=None, reduction: v.Reduction = "mean"):
    return _fast.bce(input, target, weight, reduction)


@_fast.fused(_binary_cross_entropy_kernel)
def binary_cross_entropy(input, target, *, weight=None, reduction: v.Reduction = "mean"):
    r"""Binary cross-entropy on probabilities, ``torch.nn.functional.binary_cross_entropy``.

    .. math:: \ell_i = -w_i \left(t_i \max(\log x_i, -100) + (1 - t_i) \max(\log(1 - x_i), -100)\right),
              \qquad
              \frac{\partial \ell_i}{\partial x_i} = w_i \frac{x_i - t_i}{\max(x_i (1 - x_i), 10^{-12})}

    Both are PyTorch's: each log is clamped at -100, so ``x = 0`` with ``t = 1`` costs
    ``100 w`` instead of infinity, and the gradient's denominator is clamped at
    ``1e-12`` (PyTorch's float32 constant), so it stays finite at ``x = 0`` and ``x = 1``.
    The gradient is PyTorch's, not the derivative of the clamped loss. ``'mean'``
    divides by the number of elements.

    Shapes: ``input`` any shape, probabilities in [0, 1]; ``target`` the same shape,
    values in [0, 1]; ``weight`` broadcastable to the input's shape. Raises
    ``ValueError`` for values outside [0, 1] (as PyTorch does), shapes, or the reduction;
    ``TypeError`` for a non-float input.

    >>> import numpy as np
    >>> x = 1 / (1 + np.exp(-np.array([[1.0, 2.0], [3.0, 4.0]])))
    >>> binary_cross_entropy(x, np.array([[1.0, 0.0], [0.0, 1.0]]), reduction="none").round(4)
    array([[0.3133, 2.1269],
           [3.0486, 0.0181]])
    """
    x, t, w, xp = _bce_setup(input, target, weight, reduction)
    # each log clamped at -100 (log 0 = -inf included), as PyTorch; written without a divide-by-zero
    # (a lazy array would warn at .compute(), outside any np.errstate)
    log_x = xp.where(x > 0, xp.maximum(xp.log(xp.where(x > 0, x, 1)), -100), -100)
    log_not_x = xp.where(x < 1, xp.maximum(xp.log1p(-xp.where(x < 1, x, 0)), -100), -100)
    loss = (t - 1) * log_not_x - t * log_x
    if w is not None:
        loss = loss * w
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


@_fast.defbackward(binary_cross_entropy)
def binary_cross_entropy_backward(dout, input, target, *, weight=None, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy` with respect to ``input``: ``w (x - t) / max(x (1 - x), 1e-12) * g``.

    >>> import numpy as np
    >>> binary_cross_entropy_backward(1.0, np.array([0.5, 0.8]), np.array([1.0, 0.0]), reduction="sum")
    array([-2.,  5.])
    """
    x, t, w, xp = _bce_setup(input, target, weight, reduction)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    grad = (x - t) / xp.maximum((1 - x) * x, xpa.typed(float(_BCE_EPS), x, xp)) * g
    if w is not None:
        grad = grad * w
    return xpa.astype(grad, x.dtype, xp)


# --------------------------------------------------------------------------- BCE with logits


def _bce_logits_setup(input, target, weight, pos_weight, reduction):
    xp = xpa.namespace(input, target, weight, pos_weight, names=("input", "target", "weight", "pos_weight"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    v.check_reduction(reduction)
    shape = tuple(x.shape)
    w = None if weight is None else v.check_broadcastable(weight, "weight", shape, x.dtype, like=x)
    pw = None if pos_weight is None else v.check_broadcastable(pos_weight, "pos_weight", shape, x.dtype, like=x)
    # the weight of the log-sigmoid term: 1 + (pos_weight - 1) t
    log_weight = 1 if pw is None else 1 + (pw - 1) * t
    return x, t, w, log_weight, xp


def _broadcast_weight(w, x):
    """A float weight array that broadcasts to ``x``'s shape, in ``x``'s dtype; ``None`` for anything else."""
    if w is None:
        return 1
    if w.__class__ is not np.ndarray or w.dtype.kind != "f" or w.ndim > x.ndim:
        return None
    if any(a != 1 and a != b for a, b in zip(w.shape[::-1], x.shape[::-1], strict=False)):
        return None
    return w.astype(x.dtype, copy=False)


def _weighted_bce_logits(x, t, weight, pos_weight, reduction):
    """BCE-with-logits with ``weight`` and/or ``pos_weight`` in one exp and one log1p per element.

    The definition's formulas in its order of operations: ``((1 - t) x + lw softplus(-x)) w`` and
    ``((1 - t) - lw sigmoid(-x)) g w`` (``(lw sigmoid(x) - p t) g w`` for x < 0) with ``lw = 1 + (p - 1) t``.
    """
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in _FLOATS:
        return None
    if t.shape != x.shape or t.dtype.kind != "f" or reduction not in _REDUCTIONS or x.size == 0:
        return None
    w, pw = _broadcast_weight(weight, x), _broadcast_weight(pos_weight, x)
    if w is None or pw is None:
        return None
    t = t.astype(x.dtype, copy=False)
    one = x.dtype.type(1)
    with np.errstate(all="ignore"):  # an infinite logit: the result is not finite, and the definition answers
        u = one - t
        e = np.abs(x)
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|x|) <= 1
        sp = np.negative(x)
        np.maximum(sp, 0, out=sp)
        sp += np.log1p(e)  # softplus(-x)
        lw = one if pos_weight is None else (pw - one) * t + one
        loss = u * x
        loss += lw * sp
        if weight is not None:
            loss *= w
        out = reduce(loss, reduction)
        g = upstream(1.0, x.shape, x.dtype, reduction)
        e /= e + one  # s = sigmoid(-|x|)
        if pos_weight is not None:
            e *= lw
        # (1 - t) - lw s for x >= 0; lw s - p t for x < 0 (the same value, without cancellation)
        grad = np.where(x < 0, e - (t if pos_weight is None else pw * t), u - e)
        grad *= g
        if weight is not None:
            grad *= w
    return out, grad


def _binary_cross_entropy_with_logits_kernel(
    input, target, *, weight=None, reduction: v.Reduction = "mean", pos_weight=None
):
    """Fused: float input, real target of its shape, no weight, no pos_weight.

    A non-finite result (an infinite logit) is left to the definition, which takes the limits.
    """
    if weight is not None or pos_weight is not None:
        fused = _fast.bce_logits_weighted(input, target, weight, pos_weight, reduction)
        if fused is None:  # without numba, or a weight of another broadcast
            fused = _weighted_bce_logits(input, target, weight, pos_weight, reduction)
    else:
        fused = _fast.pointwise(_fast.BCE_LOGITS, input, target, reduction)
    if fused is not None and not np.isfinite(fused[0]).all():
        return None
    return fused


@_fast.fused(_binary_cross_entropy_with_logits_kernel)
def binary_cross_entropy_with_logits(input, target, *, weight=None, reduction: v.Reduction = "mean", pos_weight=None):
    r"""Binary cross-entropy on logits, ``torch.nn.functional.binary_cross_entropy_with_logits``.

    With :math:`p` = ``pos_weight`` (1 if None) and :math:`\sigma` the sigmoid:

    .. math:: \ell_i = -w_i \left(p\, t_i \log \sigma(x_i) + (1 - t_i) \log(1 - \sigma(x_i))\right)
              = w_i \left((1 - t_i)\, x_i + (1 + (p - 1) t_i) \operatorname{softplus}(-x_i)\right),

    .. math:: \frac{\partial \ell_i}{\partial x_i} = w_i \left((1 - t_i) - (1 + (p - 1) t_i)\, \sigma(-x_i)\right)
              = w_i \left((1 + (p - 1) t_i)\, \sigma(x_i) - p\, t_i\right)

    The gradient is computed in the second form for :math:`x_i < 0` and in the first otherwise, so
    it keeps its relative precision where it is near 0 (no ``1 - sigmoid`` cancels).

    The right-hand forms never exponentiate a positive number (``softplus(-x) =
    max(-x, 0) + log1p(exp(-|x|))``), so logits of +-1e4 give finite, exact values.
    ``'mean'`` divides by the number of elements.

    Shapes: ``input`` any shape; ``target`` the same shape (values usually in [0, 1],
    not checked, as in PyTorch); ``weight`` and ``pos_weight`` broadcastable to the
    input's shape (a ``pos_weight`` of shape (C,) weighs the classes along the last
    axis). Raises ``ValueError`` for shapes or the reduction, ``TypeError`` for a
    non-float input.

    >>> import numpy as np
    >>> binary_cross_entropy_with_logits(np.array([0.0, 1e4, -1e4]), np.array([1.0, 0.0, 0.0]),
    ...                                  reduction="none").tolist()
    [0.6931471805599453, 10000.0, 0.0]
    """
    x, t, w, log_weight, xp = _bce_logits_setup(input, target, weight, pos_weight, reduction)
    # -log sigmoid(x) = softplus(-x). The limits at x = +-inf, where IEEE gives inf - inf or 0 inf:
    # a zero 1 - t drops the x term, and at x = -inf the loss is (1 - t) softplus(x) + p t softplus(-x)
    # = p t inf (0 for t = 0)
    finite = xp.where(x == -math.inf, xp.zeros_like(x), x)
    loss = xp.where(
        x == -math.inf,
        times(log_weight - (1 - t), softplus(-x), xp),
        times(1 - t, finite, xp) + log_weight * softplus(-finite),
    )
    if w is not None:
        loss = loss * w
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


@_fast.defbackward(binary_cross_entropy_with_logits)
def binary_cross_entropy_with_logits_backward(
    dout, input, target, *, weight=None, reduction: v.Reduction = "mean", pos_weight=None
) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy_with_logits` with respect to ``input``.

    ``w ((1 - t) - (1 + (p - 1) t) sigmoid(-x)) * g``; with no ``pos_weight`` this is ``w (sigmoid(x) - t) g``.

    >>> import numpy as np
    >>> binary_cross_entropy_with_logits_backward(1.0, np.array([0.0, 0.0]), np.array([1.0, 0.0]),
    ...                                           reduction="sum", pos_weight=np.array([3.0, 3.0]))
    array([-1.5,  0.5])
    """
    x, t, w, log_weight, xp = _bce_logits_setup(input, target, weight, pos_weight, reduction)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    # s = sigmoid(-|x|). For x < 0, (1 - t) - lw sigmoid(-x) = lw sigmoid(x) - p t: the same value without the
    # cancellation of 1 - sigmoid(-x) (which loses every digit of a gradient near 0 at x = -30, t = 0)
    s = sigmoid(-xp.abs(x))
    pos_t = t if pos_weight is None else v.check_broadcastable(pos_weight, "pos_weight", x.shape, x.dtype, like=x) * t
    grad = xp.where(x < 0, log_weight * s - pos_t, (1 - t) - log_weight * s) * g
    if w is not None:
        grad = grad * w
    return xpa.astype(grad, x.dtype, xp)
