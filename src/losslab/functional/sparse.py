"""Sparsemax, its loss, and the Crammer-Singer multi-class hinge: losses with sparse gradients.

``sparsemax`` is the Euclidean projection of a score vector onto the probability
simplex (Martins & Astudillo 2016): unlike softmax it returns exact zeros.
``sparsemax_loss`` is its Fenchel-Young loss, whose gradient is
``sparsemax(z) - target``; ``multiclass_hinge_loss``'s gradient touches at most
two classes per row.

Every function computes in the array library of its inputs (:mod:`losslab._array_api`).
On Dask the sort of sparsemax runs per chunk: chunk along the batch, not the classes.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._classes import logits_2d
from ._numerics import times, weighted_sum
from ._reduction import reduce, upstream
from .activation import shift_by_max

__all__ = [
    "sparsemax",
    "sparsemax_backward",
    "sparsemax_loss",
    "sparsemax_loss_backward",
    "multiclass_hinge_loss",
    "multiclass_hinge_loss_backward",
]


# --------------------------------------------------------------------------- sparsemax


def _axis(axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    index = int(axis)
    if not -ndim <= index < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dimensions")
    return index % ndim


def _sparsemax_last(z: np.ndarray, xp) -> np.ndarray:
    """Sparsemax along the last axis of a float array with at least one entry there."""
    # shift-invariant; keeps the cumulative sums small (and takes the limit of +inf scores)
    z = shift_by_max(z, -1, xp)
    z_sorted = -xp.sort(-z, axis=-1)
    k = xpa.arange(z.shape[-1], z, xp) + 1
    with np.errstate(over="ignore"):  # sums of -1e308 are -inf: outside the support, rightly
        cumsum = xpa.cumulative_sum(z_sorted, -1, xp)
        support = 1 + k * z_sorted > cumsum  # the sorted entries in the support: a prefix
    size = xp.sum(xpa.astype(support, xp.int64, xp), axis=-1, keepdims=True)
    tau = (xpa.take_along_last(cumsum, size[..., 0] - 1, xp)[..., None] - 1) / xpa.astype(size, z.dtype, xp)
    return xp.maximum(xpa.quietly(operator.sub, z, tau), 0)  # a row of -inf only (no class left): NaN, undefined


def sparsemax(x, axis: int = -1, *, scale: float = 1.0) -> np.ndarray:
    r"""Sparsemax along ``axis`` (Martins & Astudillo 2016, "From Softmax to Sparsemax").

    The Euclidean projection onto the probability simplex:

    .. math:: \operatorname{sparsemax}(z) = \operatorname*{argmin}_{p \in \Delta} \|p - z\|^2
              = \max(z - \tau(z), 0)

    where, with :math:`z_{(1)} \ge \dots \ge z_{(K)}` sorted and
    :math:`k(z) = \max\{k : 1 + k z_{(k)} > \sum_{j \le k} z_{(j)}\}`,
    :math:`\tau(z) = (\sum_{j \le k(z)} z_{(j)} - 1) / k(z)`. The result is non-negative,
    sums to 1, and is exactly 0 outside the support :math:`S = \{j : z_j > \tau\}`.
    It is invariant to adding a constant (the maximum is subtracted first), so scores of
    1e4 are fine. This is ``optax.projections.projection_simplex`` applied along an axis.

    ``scale`` > 0 projects onto :math:`\{p \ge 0, \sum_j p_j = \text{scale}\}` instead, as
    optax 0.2.8's ``projection_simplex(x, scale)``:
    :math:`\text{scale} \cdot \operatorname{sparsemax}(x / \text{scale})`.

    ``x``: a float array with at least one entry along ``axis``. Raises ``TypeError`` for a
    non-float array or a non-integer axis, ``ValueError`` for an out-of-range axis or a
    ``scale`` <= 0.

    >>> import numpy as np
    >>> sparsemax(np.array([[0.5, 0.2, -1.0], [3.0, 0.0, 0.0]]))
    array([[0.65, 0.35, 0.  ],
           [1.  , 0.  , 0.  ]])
    """
    xp = xpa.namespace(x)
    x = v.as_float_array(x, "x")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a 0-d array")
    axis = _axis(axis, x.ndim)
    if x.shape[axis] == 0:
        raise ValueError(f"x must have at least one entry along axis {axis}, got shape {tuple(x.shape)}")
    v.check_scalar(scale, "scale", low=0.0, low_open=True)
    if scale != 1:
        return xpa.astype(scale * sparsemax(x / xpa.typed(scale, x, xp), axis), x.dtype, xp)
    return xpa.moveaxis(_sparsemax_last(xpa.moveaxis(x, axis, -1, xp), xp), -1, axis, xp)


def sparsemax_backward(dout, x, axis: int = -1, *, scale: float = 1.0) -> np.ndarray:
    r"""The vector-Jacobian product of :func:`sparsemax`: the gradient of ``sum(dout * sparsemax(x))``.

    The Jacobian is :math:`\operatorname{diag}(s) - s s^\top / |S|` with :math:`s` the
    support's indicator, so

    .. math:: \frac{\partial}{\partial x_j} \sum_i \mathrm{dout}_i\, \operatorname{sparsemax}(x)_i
              = s_j \left(\mathrm{dout}_j - \frac{1}{|S|} \sum_{i \in S} \mathrm{dout}_i\right)

    on the support, 0 elsewhere (with ``scale``, the support of ``sparsemax(x / scale)``: the
    scale and its inverse cancel in the chain rule). ``dout``: a scalar or an array of ``x``'s shape.

    >>> import numpy as np
    >>> sparsemax_backward(np.array([1.0, 0.0, 5.0]), np.array([0.5, 0.2, -1.0]))
    array([ 0.5, -0.5,  0. ])
    """
    xp = xpa.namespace(dout, x, names=("dout", "x"))
    x = v.as_float_array(x, "x")
    p = sparsemax(x, axis, scale=scale)
    axis = _axis(axis, x.ndim)
    d = xpa.asarray(dout, xp, x)
    if not xpa.has_kind(d, "biuf", xp):
        raise TypeError(f"dout must hold real numbers, got an array of dtype {d.dtype}")
    if tuple(d.shape) not in ((), tuple(x.shape)):
        raise ValueError(f"dout must be a scalar or have the shape of x {tuple(x.shape)}, got shape {tuple(d.shape)}")
    d = xp.broadcast_to(xpa.astype(d, x.dtype, xp), tuple(x.shape))
    s = p > 0
    sf = xpa.astype(s, x.dtype, xp)
    mean = xp.sum(d * sf, axis=axis, keepdims=True) / xp.sum(sf, axis=axis, keepdims=True)
    return xpa.astype(xp.where(s, d - mean, 0), x.dtype, xp)


# --------------------------------------------------------------------------- sparsemax loss


def _sparse_setup(input, target, reduction):
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = logits_2d(input)
    q = v.as_class_distribution(target, x, xp)
    v.check_reduction(reduction)
    return x, q, xp


def _sparsemax_loss_kernel(input, target, *, reduction: v.Reduction = "mean"):
    return _fast.sparsemax_loss(input, target, reduction)


@_fast.fused(_sparsemax_loss_kernel)
def sparsemax_loss(input, target, *, reduction: v.Reduction = "mean"):
    r"""Multi-class sparsemax loss (Martins & Astudillo 2016), as ``optax.losses.multiclass_sparsemax_loss``.

    With :math:`p = \operatorname{sparsemax}(z_n)` and target distribution :math:`y_n`
    (one-hot for class-index targets):

    .. math:: \ell_n = p \cdot z - \tfrac12 \|p\|^2 + \tfrac12 \|y\|^2 - y \cdot z
              = \tfrac12 \sum_{j \in S} (z_j^2 - \tau^2) + \tfrac12 \|y\|^2 - y \cdot z,
              \qquad \frac{\partial \ell_n}{\partial z} = \operatorname{sparsemax}(z) - y

    the Fenchel-Young loss of the Gini negentropy: >= 0, and 0 exactly when
    ``sparsemax(z) == y``. It is evaluated with ``z`` shifted by its row maximum ``m``
    (adding ``(1 - sum y) m``, zero for a one-hot target), so scores of 1e4 keep full
    precision. The loss is continuously differentiable (its gradient is continuous; the
    second derivative jumps where an entry enters the support).

    Name: optax's ``sparsemax_loss`` is the *binary* loss ``sparse_plus``; the multi-class
    definition matched here is ``optax.losses.multiclass_sparsemax_loss`` (optax 0.2.x,
    ``optax/losses/_classification.py``). Probability targets extend it as in the paper.
    ``'mean'`` divides by N.

    Shapes: ``input`` (N, C) scores; ``target`` integer class indices (N,) or class
    probabilities (N, C) (values >= 0). Output: a scalar, or (N,) for ``reduction='none'``.
    Raises ``TypeError`` for a non-float input, :class:`~losslab._validation.ClassIndexError`
    for a label outside [0, C), ``ValueError`` for shapes, negative probabilities or the reduction.

    >>> import numpy as np
    >>> sparsemax_loss(np.array([[0.5, 0.2, -1.0], [3.0, 0.0, 0.0]]), np.array([1, 0]), reduction="none")
    array([0.4225, 0.    ])
    """
    x, q, xp = _sparse_setup(input, target, reduction)
    p = sparsemax(x, axis=1)
    m = xp.max(x, axis=1, keepdims=True)
    z = shift_by_max(x, 1, xp)  # x - m, with the limit of a +inf score (0 there, -inf elsewhere)
    # a class of score -inf, outside the support and the target, adds 0; so does m when sum y = 1
    loss = (
        weighted_sum(p - q, z, 1, xp)
        + 0.5 * (xp.sum(q * q, axis=1) - xp.sum(p * p, axis=1))
        + times(1 - xp.sum(q, axis=1), m[:, 0], xp)
    )
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


@_fast.defbackward(sparsemax_loss)
def sparsemax_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`sparsemax_loss` with respect to ``input``: ``(sparsemax(z) - y) * g``.

    >>> import numpy as np
    >>> sparsemax_loss_backward(1.0, np.array([[0.5, 0.2, -1.0]]), np.array([1]), reduction="sum")
    array([[ 0.65, -0.65,  0.  ]])
    """
    x, q, xp = _sparse_setup(input, target, reduction)
    g = upstream(dout, (x.shape[0],), x.dtype, reduction, like=x)
    g = xp.broadcast_to(g, (x.shape[0],))[:, None]
    return xpa.astype((sparsemax(x, axis=1) - q) * g, x.dtype, xp)


# --------------------------------------------------------------------------- multi-class hinge


def _hinge_setup(input, target, reduction):
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = logits_2d(input)
    t = v.as_class_indices(target, "target", x.shape[1], shape=(x.shape[0],), like=x)
    v.check_reduction(reduction)
    onehot = xpa.astype(xpa.one_hot(t, x.shape[1], xp), x.dtype, xp)
    return x, onehot, xp


def _shifted(x, xp):
    """The scores shifted by their row's maximum (the loss is shift-invariant): the top scores are 0
    exactly, tied even at +inf or 1e308, where ``x + 1`` would lose the 1."""
    return shift_by_max(x, 1, xp)


def _multiclass_hinge_loss_kernel(input, target, *, reduction: v.Reduction = "mean"):
    return _fast.multiclass_hinge(input, target, reduction)


@_fast.fused(_multiclass_hinge_loss_kernel)
def multiclass_hinge_loss(input, target, *, reduction: v.Reduction = "mean"):
    r"""Crammer-Singer multi-class hinge loss, as ``optax.losses.multiclass_hinge_loss``.

    With one-hot :math:`y` of the label :math:`t_n` and scores :math:`s`:

    .. math:: \ell_n = \max_j (s_j + 1 - y_j) - s_{t_n} = \max\left(0,\; \max_{j \ne t_n} s_j + 1 - s_{t_n}\right)

    .. math:: \frac{\partial \ell_n}{\partial s} = e_{j^*} - y, \quad j^* = \operatorname{argmax}_j (s_j + 1 - y_j)

    so the gradient is 0 once the label's score leads every other by at least 1. Where
    several entries tie for the maximum, the gradient is shared equally among them (JAX's
    rule for ``jnp.max``, so it equals autograd through optax's definition). Reference:
    Crammer & Singer 2001; optax 0.2.x ``optax/losses/_classification.py``. ``'mean'``
    divides by N.

    Shapes: ``input`` (N, C) scores; ``target`` integer class indices (N,). Output: a scalar,
    or (N,) for ``reduction='none'``. Raises ``TypeError`` for a non-float input or a
    non-integer target, :class:`~losslab._validation.ClassIndexError` for a label outside
    [0, C), ``ValueError`` for shapes or the reduction.

    >>> import numpy as np
    >>> multiclass_hinge_loss(np.array([[2.0, 1.5, 0.0], [3.0, 1.0, 0.0]]), np.array([0, 0]),
    ...                       reduction="none")
    array([0.5, 0. ])
    """
    x, onehot, xp = _hinge_setup(input, target, reduction)
    x = _shifted(x, xp)
    # a score of -inf elsewhere adds 0; a row of -inf only (every class masked) is -inf + inf: NaN, undefined
    loss = xpa.quietly(operator.sub, xp.max(x + 1 - onehot, axis=1), weighted_sum(onehot, x, 1, xp))
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


@_fast.defbackward(multiclass_hinge_loss)
def multiclass_hinge_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`multiclass_hinge_loss` with respect to ``input``: ``(e_argmax - y) * g``.

    >>> import numpy as np
    >>> multiclass_hinge_loss_backward(1.0, np.array([[2.0, 1.5, 0.0]]), np.array([0]), reduction="sum")
    array([[-1.,  1.,  0.]])
    """
    x, onehot, xp = _hinge_setup(input, target, reduction)
    x = _shifted(x, xp)
    g = upstream(dout, (x.shape[0],), x.dtype, reduction, like=x)
    g = xp.broadcast_to(g, (x.shape[0],))[:, None]
    augmented = x + 1 - onehot
    ties = xpa.astype(augmented == xp.max(augmented, axis=1, keepdims=True), x.dtype, xp)
    share = xpa.quietly(operator.truediv, ties, xp.sum(ties, axis=1, keepdims=True))  # a NaN score: 0 / 0, NaN
    return xpa.astype((share - onehot) * g, x.dtype, xp)
