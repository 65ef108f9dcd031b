"""Margin losses: hinge and logistic losses on +-1 labels, class indices and label lists.

Each loss is a pure function ``name(input, target, *, options, reduction)`` with its
vector-Jacobian product ``name_backward(dout, input, target, *, options, reduction)``
beside it: the gradient of ``sum(dout * name(...))`` with respect to ``input``.
The semantics (options, defaults, kinks, output shapes) are those of
``torch.nn.functional``; where PyTorch's kernel overflows or accepts meaningless
labels, the difference is stated in the function's docstring.

Every function computes in the array library of its inputs (:mod:`losslab._array_api`).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._numerics import times
from ._reduction import reduce, upstream
from .activation import log_sigmoid, sigmoid, softplus

__all__ = [
    "hinge_embedding_loss",
    "hinge_embedding_loss_backward",
    "soft_margin_loss",
    "soft_margin_loss_backward",
    "multilabel_soft_margin_loss",
    "multilabel_soft_margin_loss_backward",
    "multi_margin_loss",
    "multi_margin_loss_backward",
    "multilabel_margin_loss",
    "multilabel_margin_loss_backward",
]

_MAX_NDIM = 64  # NumPy's limit on array dimensions


def _pm1_pair(input, target, reduction):
    """``input`` as float, ``target`` of its shape holding only 1 and -1, cast to its dtype, and their namespace."""
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    t = v.check_labels_pm1(t, "target")
    v.check_reduction(reduction)
    return x, t, xp


def _class_scores(input, allowed, what: str) -> np.ndarray:
    """Scores with the classes on the last axis, at least one class."""
    x = v.as_float_array(input, "input")
    v.check_ndim(x, "input", allowed, what)
    if x.shape[-1] == 0:
        raise ValueError(f"input must have at least one class (a non-empty last dimension), got shape {tuple(x.shape)}")
    return x


# --------------------------------------------------------------------------- hinge embedding


def _hinge_embedding_loss_kernel(input, target, *, margin: float = 1.0, reduction: v.Reduction = "mean"):
    """Fused (numba): finite float scores, +-1 labels, a finite margin; one compiled pass."""
    return _fast.hinge_embedding(input, target, margin, reduction)


@_fast.fused(_hinge_embedding_loss_kernel)
def hinge_embedding_loss(input, target, *, margin: float = 1.0, reduction: v.Reduction = "mean"):
    r"""Hinge embedding loss, ``torch.nn.functional.hinge_embedding_loss``.

    .. math:: \ell_i = \begin{cases} x_i & y_i = 1 \\ \max(0, m - x_i) & y_i = -1 \end{cases}
              \qquad
              \frac{\partial \ell_i}{\partial x_i} = \begin{cases} 1 & y_i = 1 \\
                                                   -1 & y_i = -1,\ m - x_i \ge 0 \\
                                                   0 & y_i = -1,\ m - x_i < 0 \end{cases}

    At the kink :math:`m - x_i = 0` the gradient is -1, as PyTorch's ``clamp_min``
    passes the gradient at equality. ``'mean'`` divides by the number of elements.

    Shapes: ``input`` any shape (typically distances), ``target`` the same shape.
    Output: a scalar, or ``input``'s shape for ``reduction='none'``. ``margin`` is
    any finite real number.

    Raises ``ValueError`` when ``target`` holds a value other than 1 and -1 (PyTorch
    silently mixes both cases for such values; losslab refuses them), on a shape
    mismatch or an unknown reduction; ``TypeError`` on a non-float input.

    >>> import numpy as np
    >>> hinge_embedding_loss(np.array([0.3, 0.3, 1.5]), np.array([1.0, -1.0, -1.0]), reduction="none")
    array([0.3, 0.7, 0. ])
    """
    x, t, xp = _pm1_pair(input, target, reduction)
    v.check_scalar(margin, "margin")
    dissimilar = xp.maximum(xpa.const(margin, x, xp) - x, 0)
    return reduce(xp.where(t == 1, x, dissimilar), reduction)


@_fast.defbackward(hinge_embedding_loss)
def hinge_embedding_loss_backward(
    dout, input, target, *, margin: float = 1.0, reduction: v.Reduction = "mean"
) -> np.ndarray:
    """Gradient of :func:`hinge_embedding_loss` with respect to ``input``.

    >>> import numpy as np
    >>> hinge_embedding_loss_backward(1.0, np.array([0.3, 0.3, 1.0, 1.5]), np.array([1.0, -1.0, -1.0, -1.0]),
    ...                               reduction="sum")
    array([ 1., -1., -1.,  0.])
    """
    x, t, xp = _pm1_pair(input, target, reduction)
    v.check_scalar(margin, "margin")
    g = upstream(dout, x.shape, x.dtype, reduction, like=x)
    one, zero = xpa.const(1, x, xp), xpa.const(0, x, xp)
    local = xp.where(t == 1, one, xp.where(xpa.const(margin, x, xp) - x >= 0, -one, zero))
    return local * g


# --------------------------------------------------------------------------- soft margin

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _soft_margin_loss_kernel(input, target, *, reduction: v.Reduction = "mean"):
    """Fused: a float input, a target of its shape holding only 1 and -1 (of a float dtype)."""
    if (
        input.__class__ is not np.ndarray
        or target.__class__ is not np.ndarray
        or target.shape != input.shape
        or target.dtype.kind != "f"
        or input.dtype not in _FLOATS
        or not (np.abs(target) == 1).all()
    ):
        return None
    fused = _fast.pointwise(_fast.SOFT_MARGIN, input, target, reduction)
    if fused is not None and not np.isfinite(fused[0]).all():
        return None
    return fused


@_fast.fused(_soft_margin_loss_kernel)
def soft_margin_loss(input, target, *, reduction: v.Reduction = "mean"):
    r"""Two-class logistic loss on +-1 labels, ``torch.nn.functional.soft_margin_loss``.

    .. math:: \ell_i = \log(1 + e^{-y_i x_i}) = \operatorname{softplus}(-y_i x_i), \qquad
              \frac{\partial \ell_i}{\partial x_i} = -y_i\, \sigma(-y_i x_i)

    computed as ``softplus``, finite for every finite input. PyTorch evaluates
    ``log1p(exp(-y x))`` literally and returns ``inf`` (and a NaN gradient) once
    ``exp(-y x)`` overflows (``-y x`` above about 709 in float64, 88 in float32);
    losslab returns the exact value ``-y x`` there. ``'mean'`` divides by the
    number of elements.

    Shapes: ``input`` any shape, ``target`` the same shape, holding only 1 and -1.
    Raises ``ValueError`` on other labels, a shape mismatch or an unknown
    reduction; ``TypeError`` on a non-float input.

    >>> import numpy as np
    >>> soft_margin_loss(np.array([0.0, 2.0, 2.0]), np.array([1.0, 1.0, -1.0]), reduction="none")
    array([0.69314718, 0.12692801, 2.12692801])
    """
    x, t, _ = _pm1_pair(input, target, reduction)
    return reduce(softplus(-t * x), reduction)


@_fast.defbackward(soft_margin_loss)
def soft_margin_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`soft_margin_loss` with respect to ``input``: ``-y sigmoid(-y x) * g``.

    >>> import numpy as np
    >>> soft_margin_loss_backward(1.0, np.array([0.0, 2.0, 2.0]), np.array([1.0, 1.0, -1.0]), reduction="sum")
    array([-0.5       , -0.11920292,  0.88079708])
    """
    x, t, _ = _pm1_pair(input, target, reduction)
    g = upstream(dout, x.shape, x.dtype, reduction, like=x)
    return (-t * sigmoid(-t * x)) * g


# --------------------------------------------------------------------------- multi-label soft margin


def _multilabel_soft_args(input, target, weight, reduction):
    xp = xpa.namespace(input, target, weight, names=("input", "target", "weight"))
    x = _class_scores(input, range(1, _MAX_NDIM + 1), "an array of class scores, classes on the last axis")
    t = v.as_real_like(target, "target", x)
    w = v.check_weight(weight, "weight", x.shape[-1], x.dtype, like=x)
    v.check_reduction(reduction)
    return x, t, w, xp


def _multilabel_soft_margin_loss_kernel(input, target, *, weight=None, reduction: v.Reduction = "mean"):
    """Fused: finite float scores, targets and weight (numba: one compiled pass per row; NumPy: blocks of
    rows through BCE-with-logits' chunks, on the threads for large calls)."""
    return _fast.multilabel_soft_margin(input, target, weight, reduction)


@_fast.fused(_multilabel_soft_margin_loss_kernel)
def multilabel_soft_margin_loss(input, target, *, weight=None, reduction: v.Reduction = "mean"):
    r"""Per-class logistic loss averaged over classes, ``torch.nn.functional.multilabel_soft_margin_loss``.

    For sample :math:`n` with :math:`C` classes:

    .. math:: \ell_n = -\frac1C \sum_{c} w_c \left[ y_{nc} \log \sigma(x_{nc})
              + (1 - y_{nc}) \log \sigma(-x_{nc}) \right], \qquad
              \frac{\partial \ell_n}{\partial x_{nc}} = \frac{w_c\, (\sigma(x_{nc}) - y_{nc})}{C}

    with :math:`\log \sigma` computed stably (``log_sigmoid``). ``'mean'`` divides
    by the number of samples (the size of the ``'none'`` output).

    Shapes: ``input`` (N, C), (C,) or any shape with the classes on the last axis;
    ``target`` the same shape, 0/1 labels or soft targets (any real values are
    used as given, as in PyTorch). ``weight``: ``None`` or (C,). Output: a scalar,
    or ``input.shape[:-1]`` for ``reduction='none'`` (0-d for a (C,) input).
    Raises ``ValueError`` on a 0-d input, zero classes, a shape mismatch, a weight
    not of shape (C,) or an unknown reduction; ``TypeError`` on a non-float input.

    >>> import numpy as np
    >>> multilabel_soft_margin_loss(np.array([[0.0, 2.0]]), np.array([[1.0, 0.0]]), reduction="none")
    array([1.4100376])
    """
    x, t, w, xp = _multilabel_soft_args(input, target, weight, reduction)
    loss = -(times(t, log_sigmoid(x), xp) + times(1 - t, log_sigmoid(-x), xp))  # a hard label drops a term
    if w is not None:
        loss = loss * w
    c = x.shape[-1]
    with np.errstate(over="ignore"):  # a row's sum beyond the float range: inf, its mean taken term by term below
        total = xp.sum(loss, axis=-1)
    per_sample = total / xpa.const(c, x, xp)
    if xp is not np or np.isinf(total).any():  # the sum overflows, the mean over the classes need not
        exact = xp.sum(loss / xpa.const(c, x, xp), axis=-1)
        per_sample = xp.where(xp.isinf(total) & xp.all(xp.isfinite(loss), axis=-1), exact, per_sample)
    if xp is np:
        per_sample = np.asarray(per_sample, dtype=x.dtype)  # 0-d for a (C,) input, not a NumPy scalar
    return reduce(per_sample, reduction)


@_fast.defbackward(multilabel_soft_margin_loss)
def multilabel_soft_margin_loss_backward(
    dout, input, target, *, weight=None, reduction: v.Reduction = "mean"
) -> np.ndarray:
    """Gradient of :func:`multilabel_soft_margin_loss` with respect to ``input``: ``w (sigmoid(x) - y) / C * g``.

    >>> import numpy as np
    >>> multilabel_soft_margin_loss_backward(1.0, np.array([[0.0, 2.0]]), np.array([[1.0, 0.0]]))
    array([[-0.25      ,  0.44039854]])
    """
    x, t, w, xp = _multilabel_soft_args(input, target, weight, reduction)
    g = upstream(dout, x.shape[:-1], x.dtype, reduction, like=x)
    # sigmoid(x) - y, as (1 - y) - sigmoid(-x) for x >= 0: no cancellation where sigmoid(x) rounds near y = 1
    s = sigmoid(-xp.abs(x))
    local = xp.where(x >= 0, (1 - t) - s, s - t)
    if w is not None:
        local = local * w
    return xpa.astype(local / xpa.const(x.shape[-1], x, xp) * g[..., None], x.dtype, xp)


# --------------------------------------------------------------------------- multi-class margin


def check_p(p):
    """The power of :func:`multi_margin_loss`: 1 or 2, as PyTorch supports."""
    v.check_scalar(p, "p")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2 (the only powers PyTorch supports), got {p!r}")
    return p


def _multi_margin_args(input, target, p, margin, weight, reduction):
    xp = xpa.namespace(input, target, weight, names=("input", "target", "weight"))
    x = _class_scores(input, (1, 2), "a (C,) or (N, C) array of class scores")
    if x.ndim == 2:
        shape = tuple(x.shape[:1])
    else:  # one sample: a 0-d label, or PyTorch's (1,)
        shape = (1,) if tuple(xpa.asarray(target, xp, x).shape) == (1,) else ()
    y = v.as_class_indices(target, "target", x.shape[-1], shape=shape, like=x)
    check_p(p)
    v.check_scalar(margin, "margin")
    w = v.check_weight(weight, "weight", x.shape[-1], x.dtype, like=x)
    v.check_reduction(reduction)
    return xp.reshape(x, (-1, x.shape[-1])), y, w, xp


def _multi_margin_hinges(x, y, margin, w, xp):
    """Per-row hinge ``z = margin - x[y] + x``, the mask of active hinges (``z > 0``, ``i != y``),
    ``w[y]`` and the one-hot mask of the labels."""
    labels = xp.reshape(y, (-1,))
    target = xpa.one_hot(labels, x.shape[1], xp)
    x_y = xpa.take_along_last(x, labels, xp)[:, None]
    # quietly: a score equal to the label's is a tie, z = margin, even at +inf or 1e308; at -inf
    # (every class masked) z is -inf + inf, NaN, undefined
    z = xpa.quietly(operator.add, xpa.const(margin, x, xp) - x_y, x)
    z = xp.where((x == x_y) & (x_y > -math.inf), xpa.const(margin, x, xp), z)
    active = ((z > 0) | xp.isnan(z)) & ~target
    if w is None:
        scale = xp.ones_like(x[:, 0])
    else:
        scale = xpa.take_along_last(xp.broadcast_to(w, x.shape), labels, xp)
    return z, active, scale, target


def _multi_margin_loss_kernel(
    input, target, *, p: int = 1, margin: float = 1.0, weight=None, reduction: v.Reduction = "mean"
):
    """Fused: (N, C) float scores, signed integer labels in range, p = 1 or 2, a finite margin, a float
    weight (C,): the definitions' formulas term for term, with one check and no one-hot mask (numba: one
    compiled pass over the rows; NumPy: :func:`_multi_margin_rows`)."""
    hit = _fast.multi_margin(input, target, p, margin, weight, reduction)
    if hit is not None:
        return hit
    x, t = input, target
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in _FLOATS or x.ndim != 2:
        return None
    n, c = x.shape
    if t.dtype.kind != "i" or t.shape != (n,) or x.size == 0 or reduction not in ("mean", "sum", "none"):
        return None
    if p.__class__ is not int or p not in (1, 2) or margin.__class__ not in (int, float):
        return None
    if not -np.inf < margin < np.inf or int(t.min()) < 0 or int(t.max()) >= c:
        return None
    if weight is not None:
        if weight.__class__ is not np.ndarray or weight.dtype.kind != "f" or weight.shape != (c,):
            return None
        weight = weight.astype(x.dtype, copy=False)
    dtype = x.dtype
    if not (-np.inf < x.min() and x.max() < np.inf):  # ties at +inf, rows masked at -inf, NaN: the definitions
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # as the definitions: non-finite results go back to them
        return _multi_margin_rows(x, t, p, dtype.type(margin), weight, reduction)


def _multi_margin_rows(x, t, p, margin, weight, reduction):
    """The definitions' formulas on finite (N, C) scores, a dozen NumPy calls whatever N (the per-call cost)."""
    n, c = x.shape
    dtype = x.dtype
    rows = np.arange(n)
    x_y = x[rows, t]
    z = x + (margin - x_y)[:, None]  # the definitions' (margin - x_y) + x
    np.copyto(z, margin, where=x == x_y[:, None])  # a tie: exactly the margin, at any height
    active = z > 0
    active[rows, t] = False
    scale = np.full(n, dtype.type(1) / dtype.type(c)) if weight is None else weight[t] / dtype.type(c)
    unit = dtype.type(1) / dtype.type(n) if reduction == "mean" else dtype.type(1)
    local = np.where(active, z, dtype.type(0))
    if p == 1:
        loss = local.sum(axis=1)
        np.multiply(active, (scale * unit)[:, None], out=local)
    else:
        loss = np.einsum("ij,ij->i", local, local)
        local *= (2 * unit * scale)[:, None]
    loss *= scale
    local[rows, t] = -local.sum(axis=1)
    if reduction == "none":
        return (loss, local) if np.isfinite(loss).all() else None
    total = float(loss.sum(dtype=np.float64))
    if not math.isfinite(total):
        return None
    return dtype.type(total / n if reduction == "mean" else total), local


@_fast.fused(_multi_margin_loss_kernel)
def multi_margin_loss(input, target, *, p: int = 1, margin: float = 1.0, weight=None, reduction: v.Reduction = "mean"):
    r"""Multi-class hinge loss, ``torch.nn.functional.multi_margin_loss``.

    For sample :math:`n` with label :math:`y`, :math:`C` classes and
    :math:`z_i = m - x_y + x_i`:

    .. math:: \ell_n = \frac1C \sum_{i \ne y} w_y \max(0, z_i)^p, \qquad
              \frac{\partial \ell_n}{\partial x_i} = \frac{w_y}{C} \cdot
              \begin{cases} 1 & p = 1 \\ 2 z_i & p = 2 \end{cases} \ (i \ne y,\ z_i > 0),
              \qquad \frac{\partial \ell_n}{\partial x_y} = -\sum_{i \ne y} \frac{\partial \ell_n}{\partial x_i}

    The weight is that of the *target* class. Only strictly positive hinges count:
    at :math:`z_i = 0` the term and its gradient are 0, as in PyTorch's kernel.
    ``'mean'`` divides by the number of samples.

    Shapes: ``input`` (N, C) or (C,); ``target`` (N,) integer class indices, or for
    a (C,) input a 0-d index (PyTorch also takes shape (1,)). ``weight``: ``None``
    or (C,). Output: a scalar, or ``target``'s shape for ``reduction='none'``.
    ``p`` is 1 or 2; ``margin`` any finite real number.

    Raises ``ValueError`` on another ``p``, bad shapes, an unknown reduction;
    ``IndexError`` (a ``ValueError`` too) on a label outside [0, C);
    ``TypeError`` on a non-float input or non-integer labels.

    >>> import numpy as np
    >>> multi_margin_loss(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3]), reduction="none")
    array([0.325])
    """
    x, y, w, xp = _multi_margin_args(input, target, p, margin, weight, reduction)
    z, active, scale, _ = _multi_margin_hinges(x, y, margin, w, xp)
    h = xp.where(active, z if p == 1 else z * z, 0)
    loss = xp.sum(h, axis=1) * scale / xpa.const(x.shape[1], x, xp)
    return reduce(xp.reshape(xpa.astype(loss, x.dtype, xp), y.shape), reduction)


@_fast.defbackward(multi_margin_loss)
def multi_margin_loss_backward(
    dout, input, target, *, p: int = 1, margin: float = 1.0, weight=None, reduction: v.Reduction = "mean"
) -> np.ndarray:
    """Gradient of :func:`multi_margin_loss` with respect to ``input``.

    >>> import numpy as np
    >>> multi_margin_loss_backward(1.0, np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([3]), reduction="sum")
    array([[ 0.25,  0.25,  0.25, -0.75]])
    """
    x, y, w, xp = _multi_margin_args(input, target, p, margin, weight, reduction)
    z, active, scale, target_mask = _multi_margin_hinges(x, y, margin, w, xp)
    g = upstream(dout, y.shape, x.dtype, reduction, like=x)
    g = xp.reshape(xp.broadcast_to(g, y.shape), (-1,))
    one, zero = xpa.const(1, x, xp), xpa.const(0, x, xp)
    local = xp.where(active, one if p == 1 else 2 * z, zero) * (scale / xpa.const(x.shape[1], x, xp))[:, None]
    # the label's entry (0 so far): minus the sum of the others
    local = xp.where(target_mask, -xp.sum(local, axis=1, keepdims=True), local)
    shape = tuple(xpa.asarray(input, xp, x).shape)
    return xp.reshape(xpa.astype(local * g[:, None], x.dtype, xp), shape)


# --------------------------------------------------------------------------- multi-label margin


def _label_lists(target, x: np.ndarray, xp) -> np.ndarray:
    """Rows of class indices padded with -1: integer, ``x``'s shape, values in [-1, C - 1]."""
    arr = xpa.asarray(target, xp, x)
    if not xpa.has_kind(arr, "iu", xp):
        raise TypeError(
            f"target must hold integer class indices padded with -1, got an array of dtype {arr.dtype}; "
            f"convert with target.astype(np.int64)"
        )
    if tuple(arr.shape) != tuple(x.shape):
        raise ValueError(f"target must have the shape of input, {tuple(x.shape)}, got {tuple(arr.shape)}")
    c = x.shape[-1]

    def in_range(a, start):
        bad = (a < -1) | (a >= c)
        if xpa.any_true(bad):
            raise v.ClassIndexError(
                f"target holds the value {int(xpa.first_value(a, bad))}, out of range: expected class indices "
                f"in [0, {c - 1}] for {c} classes, or -1 to end a row's list"
            )

    return xpa.astype(xpa.check_values(arr, in_range), xp.int64, xp)  # checked before a uint64 could wrap


def _multilabel_margin_args(input, target, reduction):
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = _class_scores(input, (1, 2), "a (C,) or (N, C) array of class scores")
    t = _label_lists(target, x, xp)
    v.check_reduction(reduction)
    c = x.shape[-1]
    return x, xp.reshape(x, (-1, c)), xp.reshape(t, (-1, c)), xp


def _multilabel_margin_terms(x2, t2, xp):
    """Per row: ``count[j]``, how often class j is listed before the first -1 (PyTorch counts
    repeats), the non-target mask, and ``z[j, i] = 1 - x_j + x_i`` with its active mask."""
    c = x2.shape[1]
    # entries before the first -1: no -1 among them or before
    listed = xpa.cumulative_sum(xpa.astype(t2 == -1, xp.int64, xp), 1, xp) == 0
    onehot = xpa.one_hot(t2, c, xp) & listed[:, :, None]
    count = xp.sum(xpa.astype(onehot, x2.dtype, xp), axis=1)  # (N, C): multiplicity of class j
    non_target = count == 0
    # z[n, j, i]; quietly: an infinite score gives inf - inf (on the diagonal i = j too, never active).
    # Equal scores are a tie, z = 1, even at +inf or 1e308; at -inf (every class masked) NaN, undefined
    xj, xi = x2[:, :, None], x2[:, None, :]
    with np.errstate(over="ignore"):  # a hinge beyond the range is inf, its value rounded (as in PyTorch)
        z = xpa.quietly(operator.add, 1 - xj, xi)
    z = xp.where((xj == xi) & (xi > -math.inf), xpa.const(1, x2, xp), z)
    active = ((z > 0) | xp.isnan(z)) & non_target[:, None, :] & (count > 0)[:, :, None]
    return count, z, active


def _multilabel_margin_loss_kernel(input, target, *, reduction: v.Reduction = "mean"):
    """Fused: finite float scores (C,) or (N, C), integer label lists in range; memory O(N C), not the
    definition's O(N C^2) hinge cube (:func:`losslab._fast.multilabel_margin`: numba, one compiled pass per
    row; NumPy, the hinges of a few listed classes at a time over blocks of rows)."""
    return _fast.multilabel_margin(input, target, reduction)


@_fast.fused(_multilabel_margin_loss_kernel)
def multilabel_margin_loss(input, target, *, reduction: v.Reduction = "mean"):
    r"""Multi-label hinge loss, ``torch.nn.functional.multilabel_margin_loss``.

    Each row of ``target`` lists the sample's classes :math:`J`, padded after the
    last one by -1 (entries after the first -1 are ignored). With :math:`C` classes:

    .. math:: \ell_n = \frac1C \sum_{j \in J} \sum_{i \notin J} \max(0, 1 - (x_j - x_i)), \qquad
              \frac{\partial \ell_n}{\partial x_i} = \frac1C \#\{j \in J : z_{ji} > 0\}, \quad
              \frac{\partial \ell_n}{\partial x_j} = -\frac1C \#\{i \notin J : z_{ji} > 0\}

    where :math:`z_{ji} = 1 - x_j + x_i`. As in PyTorch, a class listed twice counts
    twice in the outer sum, and a hinge exactly at :math:`z = 0` contributes
    neither value nor gradient. ``'mean'`` divides by the number of samples.

    Shapes: ``input`` (N, C) or (C,); ``target`` of the same shape, integers in
    [-1, C - 1]. Output: a scalar, or (N,) for ``reduction='none'`` (0-d for a (C,)
    input). Raises ``TypeError`` on a non-float input or non-integer target;
    ``ValueError`` on bad shapes or an unknown reduction; ``IndexError`` (a
    ``ValueError`` too) on a value outside [-1, C - 1].

    >>> import numpy as np
    >>> multilabel_margin_loss(np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]]), reduction="none")
    array([0.85])
    """
    x, x2, t2, xp = _multilabel_margin_args(input, target, reduction)
    count, z, active = _multilabel_margin_terms(x2, t2, xp)
    # the sums in float64 (as the kernels): float32 hinges whose sum leaves float32's range still give the row's
    # loss where it fits; hinges of 1e308 add up to inf, their true sum
    wide = xp.float64 if x.dtype == xp.float32 else x.dtype
    with np.errstate(over="ignore"):
        per_j = xp.sum(xp.where(active, z, 0), axis=2, dtype=wide)  # (N, C): sum over non-targets i
        loss = xp.sum(xpa.astype(count, wide, xp) * per_j, axis=1) / xpa.const(x.shape[-1], per_j, xp)
        loss = xpa.astype(loss, x.dtype, xp)
    return reduce(xp.reshape(loss, x.shape[:-1]), reduction)


@_fast.defbackward(multilabel_margin_loss)
def multilabel_margin_loss_backward(dout, input, target, *, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`multilabel_margin_loss` with respect to ``input``.

    >>> import numpy as np
    >>> multilabel_margin_loss_backward(1.0, np.array([[0.1, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]]),
    ...                                 reduction="sum")
    array([[-0.5,  0.5,  0.5, -0.5]])
    """
    x, x2, t2, xp = _multilabel_margin_args(input, target, reduction)
    count, _, active = _multilabel_margin_terms(x2, t2, xp)
    weighted = xp.where(active, count[:, :, None], 0)  # hinge (j, i), counted per listing of j
    local = (xp.sum(weighted, axis=1) - xp.sum(weighted, axis=2)) / xpa.const(x.shape[-1], x, xp)
    g = upstream(dout, x.shape[:-1], x.dtype, reduction, like=x)
    g = xp.reshape(xp.broadcast_to(g, x.shape[:-1]), (-1, 1))
    return xp.reshape(xpa.astype(local * g, x.dtype, xp), x.shape)
