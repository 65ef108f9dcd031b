"""Embedding losses: they compare two or three inputs rather than an input and a target.

Each loss is a pure function ``name(in1, in2, ..., *, options, reduction)`` with its
vector-Jacobian product ``name_backward(dout, in1, in2, ..., *, options, reduction)``
beside it: a tuple holding the gradient of ``sum(dout * name(...))`` with respect to
each differentiable input, in input order. The first input's dtype decides the
output's and every gradient's (the other inputs are cast to it). The semantics
(formulas, epsilons, the gradient at kinks and ties) are those of
``torch.nn.functional``; where losslab is stricter or more stable than PyTorch, the
function's docstring says so.

Every function computes in the array library of its inputs (:mod:`losslab._array_api`).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._reduction import reduce, upstream
from ._vectors import norm_gap, pnorm, pnorm_grad, second_input

__all__ = [
    "margin_ranking_loss",
    "margin_ranking_loss_backward",
    "cosine_embedding_loss",
    "cosine_embedding_loss_backward",
    "triplet_margin_loss",
    "triplet_margin_loss_backward",
]


def _pm1_target(target, like: np.ndarray, like_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Labels 1 / -1 of ``shape``, cast to ``like``'s dtype."""
    y = v.check_labels_pm1(target, "target", like=like)
    return v.as_real_like(y, "target", like, like_name, shape=shape)


# --------------------------------------------------------------------------- margin ranking


def _ranking_args(input1, input2, target, margin, reduction):
    xp = xpa.namespace(input1, input2, target, names=("input1", "input2", "target"))
    x1 = v.as_float_array(input1, "input1")
    x2 = second_input(input2, "input2", x1, "input1")
    y = _pm1_target(target, x1, "input1", x1.shape)
    v.check_scalar(margin, "margin")
    v.check_reduction(reduction)
    # the hinge's argument, in aten's order: -y * (x1 - x2) + margin
    return x1, -y * (x1 - x2) + xpa.const(margin, x1, xp), y, xp


def _margin_ranking_loss_kernel(input1, input2, target, *, margin: float = 0.0, reduction: v.Reduction = "mean"):
    """Fused (numba, else NumPy): float inputs of one shape, labels 1 and -1, finite hinge arguments."""
    return _fast.margin_ranking(input1, input2, target, margin, reduction)


@_fast.fused(_margin_ranking_loss_kernel)
def margin_ranking_loss(input1, input2, target, *, margin: float = 0.0, reduction: v.Reduction = "mean"):
    r"""Margin ranking loss, ``torch.nn.functional.margin_ranking_loss``.

    With labels :math:`y_i = 1` ("``x1`` should rank higher") or :math:`-1` (lower):

    .. math:: \ell_i = \max(0,\; -y_i (x1_i - x2_i) + m), \qquad
              \frac{\partial \ell_i}{\partial x1_i} = -y_i\, [z_i \ge 0], \quad
              \frac{\partial \ell_i}{\partial x2_i} = y_i\, [z_i \ge 0]

    where :math:`z_i = -y_i (x1_i - x2_i) + m` is the hinge's argument. At the kink
    :math:`z_i = 0` the gradient is the active one (:math:`\mp y_i`), as PyTorch's
    ``clamp_min`` passes the gradient at equality.

    Shapes: ``input1``, ``input2`` and ``target`` all of one shape (any, 0-d included).
    Output: a scalar, or that shape for ``reduction='none'``. ``margin`` is any finite
    real number.

    Raises ``ValueError`` on a shape mismatch, a label other than 1 and -1 (PyTorch
    accepts any real ``y``; losslab refuses labels the loss is not defined for), or an
    unknown reduction; ``TypeError`` on a non-float input.

    >>> import numpy as np
    >>> x1, x2, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0]), np.array([1.0, -1.0, -1.0])
    >>> margin_ranking_loss(x1, x2, y, margin=0.5, reduction="none")
    array([1.5, 0.5, 2.5])
    >>> margin_ranking_loss(x1, x2, y, margin=0.5)
    np.float64(1.5)
    """
    x1, z, _, xp = _ranking_args(input1, input2, target, margin, reduction)
    return reduce(xp.maximum(z, 0), reduction)


@_fast.defbackward(margin_ranking_loss)
def margin_ranking_loss_backward(
    dout, input1, input2, target, *, margin: float = 0.0, reduction: v.Reduction = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`margin_ranking_loss` for ``input1`` and ``input2``: ``(-y g, y g)`` where active.

    The two gradients are exact negatives of each other.

    >>> import numpy as np
    >>> margin_ranking_loss_backward(1.0, np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0]),
    ...                              np.array([1.0, -1.0, 1.0]), reduction="sum")
    (array([-1.,  1.,  0.]), array([ 1., -1.,  0.]))
    """
    x1, z, y, xp = _ranking_args(input1, input2, target, margin, reduction)
    g = upstream(dout, x1.shape, x1.dtype, reduction, like=x1)
    gx2 = xpa.astype(xp.where(z >= 0, y * g, 0), x1.dtype, xp)
    return -gx2, gx2


# --------------------------------------------------------------------------- cosine embedding

# aten's Loss.cpp declares ``constexpr float EPSILON = 1e-12``: the float32 nearest to
# 1e-12 (9.99999996e-13), which is what is added even to float64 squared norms.
_COS_EPS = float(np.float32(1e-12))


def _cosine_args(input1, input2, target, margin, reduction):
    xp = xpa.namespace(input1, input2, target, names=("input1", "input2", "target"))
    x1 = v.as_float_array(input1, "input1")
    v.check_ndim(x1, "input1", (1, 2), "a 2-D (N, D) batch of vectors or a single 1-D (D,) vector")
    x2 = second_input(input2, "input2", x1, "input1")
    y = _pm1_target(target, x1, "the batch of input1", tuple(x1.shape[:-1]))
    v.check_scalar(margin, "margin")
    v.check_reduction(reduction)
    eps = xpa.const(_COS_EPS, x1, xp)
    one = xpa.const(1, x1, xp)
    # aten's form, so that values (and kinks) agree to the bit... (an infinite entry may give inf - inf
    # in the dot product: that row is replaced below)
    with np.errstate(over="ignore", invalid="ignore"):
        sq1 = xp.sum(x1 * x1, axis=-1) + eps
        sq2 = xp.sum(x2 * x2, axis=-1) + eps
        dot = xp.sum(x1 * x2, axis=-1)
        denom = xp.sqrt(sq1 * sq2)
    # ...except in the rows where a square, the dot product or A B overflows (float32: |x1| |x2|
    # above ~1.8e19): there each vector is divided by its largest |entry| (when above 1), which
    # leaves the cosine unchanged and keeps every term finite; the gradients divide by the scale
    over = ~(xp.isfinite(sq1) & xp.isfinite(sq2) & xp.isfinite(dot) & xp.isfinite(denom))[..., None]
    s1 = xp.where(over, xp.maximum(xp.max(xp.abs(x1), axis=-1, keepdims=True), one), one)
    s2 = xp.where(over, xp.maximum(xp.max(xp.abs(x2), axis=-1, keepdims=True), one), one)
    # an infinite entry gives the limit direction: +-1 on the infinite entries (growing alike), 0
    # elsewhere; its scale is inf, so its own gradient is 0
    with np.errstate(invalid="ignore"):  # (the inf / inf replaced here)
        u1 = xp.where(xp.isinf(x1), xp.sign(x1), x1 / s1)
        u2 = xp.where(xp.isinf(x2), xp.sign(x2), x2 / s2)
    over = over[..., 0]
    sq1 = xp.where(over, xp.sum(u1 * u1, axis=-1) + eps / s1[..., 0] / s1[..., 0], sq1)
    sq2 = xp.where(over, xp.sum(u2 * u2, axis=-1) + eps / s2[..., 0] / s2[..., 0], sq2)
    dot = xp.where(over, xp.sum(u1 * u2, axis=-1), dot)
    denom = xp.where(over, xp.sqrt(sq1) * xp.sqrt(sq2), denom)
    cos = dot / denom
    return (u1, s1), (u2, s2), y, cos, sq1, sq2, denom, xp


def _cosine_embedding_loss_kernel(input1, input2, target, *, margin: float = 0.0, reduction: v.Reduction = "mean"):
    """Fused (numba): (N, D) or (D,) float pairs, labels 1 and -1 (sums in float64)."""
    return _fast.cosine_embedding(input1, input2, target, margin, float(_COS_EPS), reduction)


@_fast.fused(_cosine_embedding_loss_kernel)
def cosine_embedding_loss(input1, input2, target, *, margin: float = 0.0, reduction: v.Reduction = "mean"):
    r"""Cosine embedding loss, ``torch.nn.functional.cosine_embedding_loss``.

    With :math:`A = \lVert x1 \rVert^2 + \epsilon`, :math:`B = \lVert x2 \rVert^2 + \epsilon`
    (sums over the last dimension) and :math:`c = x1 \cdot x2 / \sqrt{A B}`:

    .. math:: \ell = \begin{cases} 1 - c & y = 1 \\ \max(0,\; c - m) & y = -1 \end{cases}
              \qquad
              \frac{\partial c}{\partial x1} = \frac{x2}{\sqrt{A B}} - c\,\frac{x1}{A}, \quad
              \frac{\partial c}{\partial x2} = \frac{x1}{\sqrt{A B}} - c\,\frac{x2}{B}

    and :math:`\partial \ell / \partial c = -1` for :math:`y = 1`,
    :math:`[c - m \ge 0]` for :math:`y = -1` (the gradient passes at the kink, as
    PyTorch's ``clamp_min`` does). :math:`\epsilon` is aten's ``EPSILON``, the float32
    value of 1e-12 (9.99999996e-13), added inside each squared norm, so two zero
    vectors have :math:`c = 0`. The denominator is aten's :math:`\sqrt{AB}`, except where
    :math:`AB` overflows (in float32 once :math:`|x1|\,|x2|` exceeds about 1.8e19): there
    :math:`\sqrt{A}\sqrt{B}` keeps it finite, where PyTorch's is ``inf`` and its cosine 0.

    Shapes: ``input1`` and ``input2`` (N, D) with ``target`` (N,), or (D,) with a 0-d
    ``target``. Output: a scalar, or (N,) (0-d for one pair) for ``reduction='none'``;
    ``'mean'`` divides by N. ``margin`` is any finite real number (useful in [-1, 1]).

    Raises ``ValueError`` on other shapes (PyTorch also broadcasts a (1, D) input against
    (N, D); losslab asks for equal shapes), on a label other than 1 and -1 (PyTorch
    gives 0 loss for such labels), or an unknown reduction; ``TypeError`` on a
    non-float input.

    >>> import numpy as np
    >>> x1 = np.array([[3.0, 4.0], [1.0, 0.0]]); x2 = np.array([[4.0, 3.0], [0.0, 2.0]])
    >>> cosine_embedding_loss(x1, x2, np.array([1.0, -1.0]), reduction="none").round(6)
    array([0.04, 0.  ])
    """
    _, _, y, cos, _, _, _, xp = _cosine_args(input1, input2, target, margin, reduction)
    one, m = xpa.const(1, cos, xp), xpa.const(margin, cos, xp)
    loss = xp.where(y == 1, one - cos, xp.maximum(cos - m, 0))
    return reduce(xpa.astype(loss, cos.dtype, xp), reduction)


@_fast.defbackward(cosine_embedding_loss)
def cosine_embedding_loss_backward(
    dout, input1, input2, target, *, margin: float = 0.0, reduction: v.Reduction = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`cosine_embedding_loss` for ``input1`` and ``input2``, as a pair.

    >>> import numpy as np
    >>> g1, g2 = cosine_embedding_loss_backward(1.0, np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]]),
    ...                                         np.array([1.0]), reduction="sum")
    >>> g1.round(6), g2.round(6)
    (array([[-0.0448,  0.0336]]), array([[ 0.0336, -0.0448]]))
    """
    (x1, s1), (x2, s2), y, cos, sq1, sq2, denom, xp = _cosine_args(input1, input2, target, margin, reduction)
    one, zero, m = (xpa.const(c, x1, xp) for c in (1, 0, margin))
    g = upstream(dout, cos.shape, x1.dtype, reduction, like=x1)
    dl_dcos = xp.where(y == 1, -one, xp.where(cos - m >= 0, one, zero)) * g
    gc = (dl_dcos)[..., None]
    c = cos[..., None]
    d = denom[..., None]
    g1 = gc * (x2 / d - c * x1 / sq1[..., None]) / s1
    g2 = gc * (x1 / d - c * x2 / sq2[..., None]) / s2
    return xpa.astype(g1, x1.dtype, xp), xpa.astype(g2, x1.dtype, xp)


# --------------------------------------------------------------------------- triplet margin


def _triplet_args(anchor, positive, negative, margin, p, eps, swap, reduction):
    xp = xpa.namespace(anchor, positive, negative, names=("anchor", "positive", "negative"))
    a = v.as_float_array(anchor, "anchor")
    v.check_ndim(a, "anchor", (1, 2), "a 2-D (N, D) batch of vectors or a single 1-D (D,) vector")
    pos = second_input(positive, "positive", a, "anchor")
    neg = second_input(negative, "negative", a, "anchor")
    v.check_scalar(margin, "margin", low=0.0, low_open=True)
    v.check_scalar(p, "p", low=0.0, low_open=True)
    v.check_scalar(eps, "eps", low=0.0)
    swap = v.check_bool(swap, "swap")
    v.check_reduction(reduction)
    e = xpa.const(eps, a, xp)
    # torch.pairwise_distance(x, y) = || x - y + eps ||_p: eps is added to the difference
    diffs = {"ap": a - pos + e, "an": a - neg + e}
    if swap:
        diffs["pn"] = pos - neg + e
    dists = {k: pnorm(u, p, xp) for k, u in diffs.items()}
    if swap:
        d_neg = xp.minimum(dists["an"], dists["pn"])
    else:
        d_neg = dists["an"]
    # both distances infinite (an infinite anchor) is undefined: NaN, quietly
    z = xpa.quietly(operator.sub, xpa.const(margin, a, xp) + dists["ap"], d_neg)
    if p == 2 and not swap:  # a far anchor, both distances beyond the square range: their difference, exactly
        huge = xpa.const(math.sqrt(float(xp.finfo(a.dtype).max)), a, xp)
        far = (dists["ap"] > huge) & (d_neg > huge)
        far = far & xp.all(xp.isfinite(diffs["ap"]), axis=-1) & xp.all(xp.isfinite(diffs["an"]), axis=-1)
        if xp is not np or far.any():
            gap = norm_gap(diffs["ap"], diffs["an"], neg - pos, xp)
            z = xp.where(far, xpa.const(margin, a, xp) + gap, z)
    return a, diffs, dists, z, swap, xp


def _triplet_margin_loss_kernel(
    anchor,
    positive,
    negative,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: v.Reduction = "mean",
):
    """Fused (numba): (N, D) or (D,) float triplets, p = 1 or 2."""
    return _fast.triplet(anchor, positive, negative, margin, p, eps, swap, reduction)


@_fast.fused(_triplet_margin_loss_kernel)
def triplet_margin_loss(
    anchor,
    positive,
    negative,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: v.Reduction = "mean",
):
    r"""Triplet margin loss, ``torch.nn.functional.triplet_margin_loss``.

    With the distance :math:`d(u, w) = \lVert u - w + \epsilon \rVert_p` along the last
    dimension (``torch.pairwise_distance`` adds :math:`\epsilon` to the difference):

    .. math:: \ell = \max\big(d(a, p) - d_- + m,\; 0\big), \qquad
              d_- = \begin{cases} \min(d(a, n), d(p, n)) & \text{swap} \\ d(a, n) & \text{otherwise} \end{cases}

    The gradient uses :math:`\nabla_u \lVert u \rVert_p = \operatorname{sign}(u)\,
    |u|^{p-1} / \lVert u \rVert_p^{p-1}` (0 where the norm is 0, as in PyTorch): where
    the hinge is active (:math:`\ge 0`, PyTorch's ``clamp_min`` passes the gradient at
    the kink),

    .. math:: \frac{\partial \ell}{\partial a} = \nabla d(a,p) - w\,\nabla d(a,n), \quad
              \frac{\partial \ell}{\partial p} = -\nabla d(a,p) - (1-w)\,\nabla d(p,n), \quad
              \frac{\partial \ell}{\partial n} = w\,\nabla d(a,n) + (1-w)\,\nabla d(p,n)

    with :math:`\nabla d(u, w) = \nabla \lVert \cdot \rVert_p (u - w + \epsilon)` and
    :math:`w = 1` without swap; with swap :math:`w = 1` where :math:`d(a,n) < d(p,n)`,
    :math:`0` where greater and :math:`1/2` at a tie (PyTorch's ``min`` splits the
    gradient evenly). The norm is computed scaled by the largest entry, so it stays
    finite where :math:`|u|^p` would overflow.

    Shapes: ``anchor``, ``positive``, ``negative`` all (N, D), or all (D,). Output: a
    scalar, or (N,) (0-d for one triplet) for ``reduction='none'``. Options, as PyTorch
    checks them: ``margin`` > 0; ``p`` > 0 (finite: PyTorch also takes ``inf`` and
    negative values); ``eps`` >= 0; ``swap`` a bool.

    Raises ``ValueError`` on inputs of different shapes or of 0 or more than 2
    dimensions, an option out of range or an unknown reduction; ``TypeError`` on a
    non-float input or a non-bool ``swap``.

    >>> import numpy as np
    >>> a, pos, neg = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]])
    >>> triplet_margin_loss(a, pos, neg, eps=0.0, reduction="none")
    array([5.])
    >>> triplet_margin_loss(a, pos, neg, eps=0.0, p=1.0)
    np.float64(7.0)
    """
    _, _, _, z, _, xp = _triplet_args(anchor, positive, negative, margin, p, eps, swap, reduction)
    return reduce(xp.maximum(z, 0), reduction)


@_fast.defbackward(triplet_margin_loss)
def triplet_margin_loss_backward(
    dout,
    anchor,
    positive,
    negative,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: v.Reduction = "mean",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`triplet_margin_loss` for ``anchor``, ``positive`` and ``negative``.

    They add up to zero (moving all three inputs together does not change the loss).

    >>> import numpy as np
    >>> ga, gp, gn = triplet_margin_loss_backward(1.0, np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]),
    ...                                           np.array([[0.0, 1.0]]), eps=0.0, reduction="sum")
    >>> ga, gp, gn
    (array([[-0.6,  0.2]]), array([[0.6, 0.8]]), array([[ 0., -1.]]))
    """
    a, diffs, dists, z, swap, xp = _triplet_args(anchor, positive, negative, margin, p, eps, swap, reduction)
    g = xpa.astype(xp.where(z >= 0, upstream(dout, z.shape, a.dtype, reduction, like=a), 0), a.dtype, xp)
    g = g[..., None]
    grad = {k: pnorm_grad(diffs[k], dists[k], p, xp) for k in diffs}
    if swap:
        d_an, d_pn = dists["an"], dists["pn"]
        one, half, zero = (xpa.const(c, a, xp) for c in (1, 0.5, 0))
        w = xp.where(d_an < d_pn, one, xp.where(d_an == d_pn, half, zero))[..., None]
        g_an, g_pn = w * grad["an"], (1 - w) * grad["pn"]
    else:
        g_an, g_pn = grad["an"], xp.zeros_like(a)
    ga = g * (grad["ap"] - g_an)
    gp = g * (-grad["ap"] - g_pn)
    gn = g * (g_an + g_pn)
    return tuple(xpa.astype(x, a.dtype, xp) for x in (ga, gp, gn))
