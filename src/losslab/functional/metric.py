"""Metric-learning losses: triplets with any distance, contrastive pairs, NT-Xent (InfoNCE).

Each loss is a pure function ``name(in1, in2, ..., *, options, reduction)`` with its
vector-Jacobian product ``name_backward(dout, in1, in2, ..., *, options, reduction)``
beside it: a tuple holding the gradient of ``sum(dout * name(...))`` with respect to
each differentiable input, in input order. The first input's dtype decides the
output's and every gradient's.

The two distances the triplet loss knows by name are pure pairs here too:
:func:`pairwise_distance` (``torch.pairwise_distance``) and :func:`cosine_distance`
(``1 - torch.cosine_similarity``); :class:`losslab.nn.PairwiseDistance` and
:class:`losslab.nn.CosineDistance` are their objects.

Every function computes in the array library of its inputs (:mod:`losslab._array_api`);
a distance object given to the triplet loss must return arrays of that library too.
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
from ._vectors import norm_gap, pnorm, pnorm_grad, second_input

__all__ = [
    "pairwise_distance",
    "pairwise_distance_backward",
    "cosine_distance",
    "cosine_distance_backward",
    "triplet_margin_with_distance_loss",
    "triplet_margin_with_distance_loss_backward",
    "contrastive_loss",
    "contrastive_loss_backward",
    "nt_xent_loss",
    "nt_xent_loss_backward",
]

_VECTORS = "a 2-D (N, D) batch of vectors or a single 1-D (D,) vector"


def _vector_pair(x1, x2, names=("x1", "x2")):
    """Two float vector batches of one shape, the second cast to the first's dtype, and their namespace."""
    xp = xpa.namespace(x1, x2, names=names)
    a = v.as_float_array(x1, names[0])
    v.check_ndim(a, names[0], (1, 2), _VECTORS)
    return a, second_input(x2, names[1], a, names[0]), xp


# --------------------------------------------------------------------------- distances


def pairwise_distance(x1, x2, *, p: float = 2.0, eps: float = 1e-6) -> np.ndarray:
    r"""p-norm distance of each row pair, ``torch.pairwise_distance``: :math:`\lVert x_1 - x_2 + \epsilon \rVert_p`.

    As in PyTorch, ``eps`` is added to the difference (not to the norm). Gradient:
    :math:`\partial d / \partial x_1 = \operatorname{sign}(u)\,|u|^{p-1} / d^{p-1} = -\partial d / \partial x_2`
    with :math:`u = x_1 - x_2 + \epsilon` (0 where :math:`d = 0`). Shapes: (N, D) pairs give
    (N,); (D,) pairs give a 0-d array. ``p`` > 0, ``eps`` >= 0.

    >>> import numpy as np
    >>> pairwise_distance(np.array([[3.0, 4.0], [0.0, -1.0]]), np.zeros((2, 2)), eps=0.0)
    array([5., 1.])
    """
    a, b, xp = _vector_pair(x1, x2)
    v.check_scalar(p, "p", low=0.0, low_open=True)
    v.check_scalar(eps, "eps", low=0.0)
    return pnorm(a - b + xpa.const(eps, a, xp), p, xp)


def pairwise_distance_backward(dout, x1, x2, *, p: float = 2.0, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``sum(dout * pairwise_distance(x1, x2))`` for ``x1`` and ``x2`` (negatives of each other).

    >>> import numpy as np
    >>> pairwise_distance_backward(np.ones(1), np.array([[3.0, 4.0]]), np.zeros((1, 2)), eps=0.0)
    (array([[0.6, 0.8]]), array([[-0.6, -0.8]]))
    """
    a, b, xp = _vector_pair(x1, x2)
    v.check_scalar(p, "p", low=0.0, low_open=True)
    v.check_scalar(eps, "eps", low=0.0)
    u = a - b + xpa.const(eps, a, xp)
    d = pnorm(u, p, xp)
    g = v.check_dout(dout, tuple(d.shape), a.dtype, like=a)[..., None] * pnorm_grad(u, d, p, xp)
    return xpa.astype(g, a.dtype, xp), xpa.astype(-g, a.dtype, xp)


def _cosine_parts(x1, x2, eps):
    a, b, xp = _vector_pair(x1, x2)
    v.check_scalar(eps, "eps", low=0.0)
    e = xpa.const(eps, a, xp)
    na, nb = pnorm(a, 2, xp)[..., None], pnorm(b, 2, xp)[..., None]
    ua = a / xp.maximum(na, e) if eps > 0 else a / xp.where(na > 0, na, 1)
    ub = b / xp.maximum(nb, e) if eps > 0 else b / xp.where(nb > 0, nb, 1)
    return a, b, e, na, nb, ua, ub, xp


def cosine_distance(x1, x2, *, eps: float = 1e-8) -> np.ndarray:
    r"""One minus the cosine similarity of each row pair, ``1 - torch.cosine_similarity(x1, x2, eps)``.

    PyTorch's definition (``aten/src/ATen/native/Distance.cpp``): each vector is divided
    by its norm clamped below at ``eps``, then the two are dotted:

    .. math:: d = 1 - \hat x_1 \cdot \hat x_2, \qquad \hat x = x / \max(\lVert x \rVert, \epsilon), \qquad
              \frac{\partial d}{\partial x_1} = -\frac{\hat x_2 - c\,\hat x_1\,[\lVert x_1 \rVert > \epsilon]}
              {\max(\lVert x_1 \rVert, \epsilon)}

    with :math:`c = \hat x_1 \cdot \hat x_2` (symmetrically for :math:`x_2`). Where a
    norm is below ``eps`` its clamped value is a constant, so the bracket drops that
    term; PyTorch clamps in place outside autograd and keeps the term there (the two
    differ only for nonzero vectors shorter than ``eps``). Shapes as
    :func:`pairwise_distance`; ``eps`` >= 0 (``eps = 0`` gives a zero vector the
    similarity 0).

    >>> import numpy as np
    >>> cosine_distance(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 2.0], [3.0, 3.0]])).round(12)
    array([1., 0.])
    """
    *_, ua, ub, xp = _cosine_parts(x1, x2, eps)
    return xpa.astype(1 - xp.sum(ua * ub, axis=-1), ua.dtype, xp)


def cosine_distance_backward(dout, x1, x2, *, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``sum(dout * cosine_distance(x1, x2))`` for ``x1`` and ``x2``.

    >>> import numpy as np
    >>> g1, g2 = cosine_distance_backward(np.ones(1), np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]]))
    >>> g1.round(6), g2.round(6)  # -(x2/|x2| - 0.96 x1/|x1|) / |x1| with cos = 0.96
    (array([[-0.0448,  0.0336]]), array([[ 0.0336, -0.0448]]))
    """
    a, b, e, na, nb, ua, ub, xp = _cosine_parts(x1, x2, eps)
    c = xp.sum(ua * ub, axis=-1, keepdims=True)
    g = -v.check_dout(dout, tuple(c.shape[:-1]), a.dtype, like=a)[..., None]
    sa, sb = xp.maximum(na, e), xp.maximum(nb, e)
    # with eps = 0 a zero vector has similarity 0 with everything: its gradient is taken as 0
    ga = xp.where(sa > 0, g * (ub - xp.where(na > e, c * ua, 0)) / xp.where(sa > 0, sa, 1), 0)
    gb = xp.where(sb > 0, g * (ua - xp.where(nb > e, c * ub, 0)) / xp.where(sb > 0, sb, 1), 0)
    return xpa.astype(ga, a.dtype, xp), xpa.astype(gb, a.dtype, xp)


# --------------------------------------------------------------------------- triplet with a distance

_NAMED = {
    "pairwise": (pairwise_distance, pairwise_distance_backward),
    "cosine": (cosine_distance, cosine_distance_backward),
}


def distance_pair(distance_function):
    """A named pure pair (function, backward), or the caller's object with forward/backward."""
    if distance_function is None:
        return _NAMED["pairwise"]
    if isinstance(distance_function, str):
        if distance_function not in _NAMED:
            raise ValueError(
                f"distance_function must be None, 'pairwise', 'cosine' or a distance object, got {distance_function!r}"
            )
        return _NAMED[distance_function]
    if callable(getattr(distance_function, "forward", None)) and callable(getattr(distance_function, "backward", None)):
        return distance_function
    raise TypeError(
        f"distance_function must be None, 'pairwise', 'cosine' or an object with forward(x1, x2) and "
        f"backward(dout) methods (e.g. losslab.nn.PairwiseDistance()), got {distance_function!r}; a plain "
        f"function has no backward pass"
    )


def _measure(dist, x, y, shape, dtype, xp) -> np.ndarray:
    out = dist[0](x, y) if isinstance(dist, tuple) else dist.forward(x, y)
    xpa.namespace(x, out, names=("anchor", "distance_function's output"))  # one library
    arr = xpa.asarray(out, xp, x)
    if not xpa.has_kind(arr, "f", xp) or tuple(arr.shape) != shape:
        raise ValueError(
            f"distance_function must return one float distance per triplet, shape {shape}, got {v._describe(arr)}"
        )
    return xpa.astype(arr, dtype, xp)


def _pullback(dist, x, y, g, xp) -> tuple[np.ndarray, np.ndarray]:
    """The distance's gradients for ``x`` and ``y`` at upstream ``g`` (an object runs forward, then backward)."""
    if isinstance(dist, tuple):
        return dist[1](g, x, y)
    dist.forward(x, y)
    grads = dist.backward(g)
    if not (
        isinstance(grads, tuple)
        and len(grads) == 2
        and all(tuple(getattr(q, "shape", np.shape(q))) == tuple(x.shape) for q in grads)
    ):
        raise ValueError(
            f"distance_function.backward(dout) must return a pair (dx1, dx2) of arrays of shape "
            f"{tuple(x.shape)}, got {grads!r}"
        )
    xpa.namespace(x, *grads, names=("anchor", "distance_function.backward's dx1", "its dx2"))
    return tuple(xpa.astype(xpa.asarray(q, xp, x), x.dtype, xp) for q in grads)


def _triplet_args(anchor, positive, negative, distance_function, margin, swap, reduction):
    xp = xpa.namespace(anchor, positive, negative, names=("anchor", "positive", "negative"))
    a = v.as_float_array(anchor, "anchor")
    pos = second_input(positive, "positive", a, "anchor")
    neg = second_input(negative, "negative", a, "anchor")
    dist = distance_pair(distance_function)
    if isinstance(dist, tuple):
        v.check_ndim(a, "anchor", (1, 2), _VECTORS)
    elif a.ndim == 0:
        raise ValueError(f"anchor must be a batch (N, ...) or a single vector, got shape {tuple(a.shape)}")
    v.check_scalar(margin, "margin", low=0.0, low_open=True)
    swap = v.check_bool(swap, "swap")
    v.check_reduction(reduction)
    shape = tuple(a.shape[:1]) if a.ndim >= 2 else ()
    d_ap = _measure(dist, a, pos, shape, a.dtype, xp)
    d_an = _measure(dist, a, neg, shape, a.dtype, xp)
    d_pn = _measure(dist, pos, neg, shape, a.dtype, xp) if swap else None
    d_neg = xp.minimum(d_an, d_pn) if swap else d_an
    # PyTorch's order: margin + dist_pos - dist_neg; both infinite (an infinite anchor) is undefined: NaN
    z = xpa.quietly(operator.sub, xpa.const(margin, a, xp) + d_ap, d_neg)
    if dist is _NAMED["pairwise"] and not swap:  # a far anchor, both distances beyond the square range:
        e = xpa.const(1e-6, a, xp)  # their difference, exactly (pairwise_distance's eps)
        u_ap, u_an = a - pos + e, a - neg + e
        huge = xpa.const(math.sqrt(float(xp.finfo(a.dtype).max)), a, xp)
        far = (d_ap > huge) & (d_neg > huge)
        far = far & xp.all(xp.isfinite(u_ap), axis=-1) & xp.all(xp.isfinite(u_an), axis=-1)
        if xp is not np or far.any():
            z = xp.where(far, xpa.const(margin, a, xp) + norm_gap(u_ap, u_an, neg - pos, xp), z)
    return a, pos, neg, dist, d_an, d_pn, z, xp


def _triplet_margin_with_distance_loss_kernel(
    anchor,
    positive,
    negative,
    *,
    distance_function=None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: v.Reduction = "mean",
):
    """Fused for the named distances: :func:`pairwise_distance` (p = 2, eps = 1e-6, the default) and
    :func:`cosine_distance` (eps = 1e-8)."""
    if distance_function is None or (distance_function.__class__ is str and distance_function == "pairwise"):
        return _fast.triplet(anchor, positive, negative, margin, 2.0, 1e-6, swap, reduction)
    if distance_function.__class__ is str and distance_function == "cosine":
        return _fast.triplet_cosine(anchor, positive, negative, margin, 1e-8, swap, reduction)
    return None


@_fast.fused(_triplet_margin_with_distance_loss_kernel)
def triplet_margin_with_distance_loss(
    anchor,
    positive,
    negative,
    *,
    distance_function=None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: v.Reduction = "mean",
):
    r"""Triplet loss with any distance, ``torch.nn.functional.triplet_margin_with_distance_loss``.

    .. math:: \ell = \max\big(m + d(a, p) - d_-,\; 0\big), \qquad
              d_- = \begin{cases} \min(d(a, n), d(p, n)) & \text{swap} \\ d(a, n) & \text{otherwise} \end{cases}

    (swap: Balntas et al. 2016, "Learning local feature descriptors with triplets and
    shallow convolutional neural networks"). Where the hinge is active (:math:`\ge 0`, as
    PyTorch's ``clamp_min`` passes the gradient at the kink), the upstream gradient
    :math:`g` reaches the distances as :math:`+g` for :math:`d(a,p)`, :math:`-g\,w` for
    :math:`d(a,n)` and :math:`-g(1-w)` for :math:`d(p,n)`, with :math:`w = 1` without swap,
    and with swap 1 where :math:`d(a,n) < d(p,n)`, 0 where greater and 1/2 at a tie
    (``torch.minimum`` splits the gradient evenly); each distance then passes its share
    to its two inputs through its own backward pass.

    ``distance_function``:

    * ``None`` or ``"pairwise"``: :func:`pairwise_distance` with ``p=2, eps=1e-6``,
      PyTorch's default (``torch.pairwise_distance``);
    * ``"cosine"``: :func:`cosine_distance` with ``eps=1e-8``, i.e.
      ``1 - torch.cosine_similarity(x, y, dim=-1)``;
    * any object with ``forward(x1, x2)`` returning one float distance per triplet
      (shape (N,) for batched inputs, 0-d for single vectors) and ``backward(dout)``
      returning the pair ``(dx1, dx2)`` for its latest ``forward`` call -- such as
      :class:`losslab.nn.PairwiseDistance` and :class:`losslab.nn.CosineDistance`. The
      backward pass calls ``forward`` then ``backward`` once per distance it needs. A
      plain function (what PyTorch accepts) has no backward pass and raises ``TypeError``.

    Shapes: ``anchor``, ``positive``, ``negative`` all (N, D) or all (D,) (a custom
    distance may take (N, ...)). Output: a scalar, or (N,) (0-d for one triplet) for
    ``reduction='none'``. ``margin`` > 0 and ``swap`` a bool, as PyTorch checks.

    Raises ``ValueError`` on inputs of different shapes, an unknown distance name, a
    distance of the wrong shape, a non-positive margin or an unknown reduction;
    ``TypeError`` on a non-float input, a non-bool ``swap`` or a distance without backward.

    >>> import numpy as np
    >>> a, p, n = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]])
    >>> triplet_margin_with_distance_loss(a, p, n, reduction="none").round(5)  # 1 + 5 - 1 (eps 1e-6 aside)
    array([5.])
    >>> a, p, n = np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[0.0, 1.0]])
    >>> triplet_margin_with_distance_loss(a, p, n, distance_function="cosine", reduction="none").round(5)
    array([0.29289])
    """
    *_, z, xp = _triplet_args(anchor, positive, negative, distance_function, margin, swap, reduction)
    return reduce(xpa.astype(xp.maximum(z, 0), z.dtype, xp), reduction)


@_fast.defbackward(triplet_margin_with_distance_loss)
def triplet_margin_with_distance_loss_backward(
    dout,
    anchor,
    positive,
    negative,
    *,
    distance_function=None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: v.Reduction = "mean",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`triplet_margin_with_distance_loss` for ``anchor``, ``positive`` and ``negative``.

    >>> import numpy as np
    >>> ga, gp, gn = triplet_margin_with_distance_loss_backward(
    ...     1.0, np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]]), reduction="sum")
    >>> ga.round(5), gp.round(5), gn.round(5)
    (array([[-0.6,  0.2]]), array([[0.6, 0.8]]), array([[ 0., -1.]]))
    """
    a, pos, neg, dist, d_an, d_pn, z, xp = _triplet_args(
        anchor, positive, negative, distance_function, margin, swap, reduction
    )

    def dt(value):
        return xpa.const(value, a, xp)

    g = xpa.astype(xp.where(z >= 0, upstream(dout, tuple(z.shape), a.dtype, reduction, like=a), 0), a.dtype, xp)
    w = xp.where(d_an < d_pn, dt(1), xp.where(d_an == d_pn, dt(0.5), dt(0))) if swap else xp.ones_like(g)
    ga, gp = _pullback(dist, a, pos, g, xp)
    ga_n, gn = _pullback(dist, a, neg, xpa.astype(-g * w, a.dtype, xp), xp)
    ga = ga + ga_n
    if swap:
        gp_n, gn_p = _pullback(dist, pos, neg, xpa.astype(-g * (1 - w), a.dtype, xp), xp)
        gp, gn = gp + gp_n, gn + gn_p
    return tuple(xpa.astype(xpa.asarray(x, xp, a), a.dtype, xp) for x in (ga, gp, gn))


# --------------------------------------------------------------------------- contrastive (Hadsell et al.)


def _contrastive_args(input1, input2, target, margin, reduction):
    xp = xpa.namespace(input1, input2, target, names=("input1", "input2", "target"))
    x1, x2, _ = _vector_pair(input1, input2, ("input1", "input2"))
    y = xpa.asarray(target, xp, x1)
    if not xpa.has_kind(y, "biuf", xp):
        raise TypeError(f"target must hold the labels 1 (similar) and 0 (dissimilar), got {v._describe(y)}")
    if tuple(y.shape) != tuple(x1.shape[:-1]):
        raise ValueError(f"target must have one label per pair, shape {tuple(x1.shape[:-1])}, got {tuple(y.shape)}")

    def zero_one(labels, start):
        bad = (labels != 0) & (labels != 1)
        if xpa.any_true(bad):
            raise ValueError(
                f"target must hold only the labels 1 (similar) and 0 (dissimilar), got the value "
                f"{xpa.first_value(labels, bad)!r}"
            )

    y = xpa.check_values(y, zero_one)
    v.check_scalar(margin, "margin", low=0.0, low_open=True)
    v.check_reduction(reduction)
    diff = x1 - x2
    return x1, diff, pnorm(diff, 2, xp), y == 1, xp


def _contrastive_loss_kernel(input1, input2, target, *, margin: float = 1.0, reduction: v.Reduction = "mean"):
    """Fused (numba, else NumPy): (N, D) or (D,) float pairs, labels 0 and 1, finite squared distances."""
    return _fast.contrastive(input1, input2, target, margin, reduction)


@_fast.fused(_contrastive_loss_kernel)
def contrastive_loss(input1, input2, target, *, margin: float = 1.0, reduction: v.Reduction = "mean"):
    r"""Contrastive loss of Hadsell, Chopra and LeCun (2006), "Dimensionality Reduction by
    Learning an Invariant Mapping" (CVPR), eq. 4.

    With the Euclidean distance :math:`d = \lVert x_1 - x_2 \rVert_2` (no epsilon) and
    ``target`` :math:`y = 1` for a **similar** pair, :math:`y = 0` for a dissimilar one
    (the paper writes :math:`Y = 0` for similar; losslab follows the convention of
    ``CosineEmbeddingLoss``, where 1 means similar):

    .. math:: \ell = y\,\tfrac12 d^2 + (1 - y)\,\tfrac12 \max(0,\; m - d)^2, \qquad
              \frac{\partial \ell}{\partial x_1} = -\frac{\partial \ell}{\partial x_2} =
              \begin{cases} x_1 - x_2 & y = 1 \\ -\max(0, m - d)\,(x_1 - x_2) / d & y = 0 \end{cases}

    At :math:`d = 0` a dissimilar pair's gradient (a cone's tip) is taken as 0, the norm's
    subgradient PyTorch uses. The norm is computed scaled by the largest entry, so it
    stays finite where :math:`d^2` would overflow.

    Shapes: ``input1``, ``input2`` (N, D) with ``target`` (N,), or (D,) with a 0-d
    ``target``. Output: a scalar, or (N,) (0-d for one pair) for ``'none'``; ``'mean'``
    divides by N. ``margin`` > 0.

    Raises ``ValueError`` on shapes that differ, labels other than 0 and 1, a margin
    <= 0 or an unknown reduction; ``TypeError`` on a non-float input.

    >>> import numpy as np
    >>> x1 = np.array([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]]); x2 = np.zeros((3, 2))
    >>> contrastive_loss(x1, x2, np.array([1, 0, 0]), margin=1.0, reduction="none")  # 25/2, 0.5^2/2, 0
    array([12.5  ,  0.125,  0.   ])
    """
    x1, _, d, similar, xp = _contrastive_args(input1, input2, target, margin, reduction)
    half = xpa.const(0.5, x1, xp)
    with np.errstate(over="ignore"):  # a half squared distance beyond the float range is inf, its true value
        half_sq = half * d * d
    loss = xp.where(similar, half_sq, half * xp.maximum(xpa.const(margin, x1, xp) - d, 0) ** 2)
    return reduce(xpa.astype(loss, x1.dtype, xp), reduction)


@_fast.defbackward(contrastive_loss)
def contrastive_loss_backward(
    dout, input1, input2, target, *, margin: float = 1.0, reduction: v.Reduction = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`contrastive_loss` for ``input1`` and ``input2`` (negatives of each other).

    >>> import numpy as np
    >>> g1, g2 = contrastive_loss_backward(1.0, np.array([[3.0, 4.0], [0.3, 0.4]]), np.zeros((2, 2)),
    ...                                    np.array([1, 0]), reduction="sum")
    >>> g1.round(6)  # x1 - x2; -(1 - 0.5) * [0.3, 0.4] / 0.5
    array([[ 3. ,  4. ],
           [-0.3, -0.4]])
    """
    x1, diff, d, similar, xp = _contrastive_args(input1, input2, target, margin, reduction)
    g = upstream(dout, tuple(d.shape), x1.dtype, reduction, like=x1)
    gap = xp.maximum(xpa.const(margin, x1, xp) - d, 0)
    positive = xpa.astype(d > 0, x1.dtype, xp)
    scale = xp.where(similar, xpa.const(1, x1, xp), -gap / xp.where(d > 0, d, 1) * positive)  # d l / d diff
    # a dissimilar pair beyond the margin has scale 0: gradient 0, even at an infinite distance
    g1 = xpa.astype(times((scale * g)[..., None], diff, xp), x1.dtype, xp)
    return g1, -g1


# --------------------------------------------------------------------------- NT-Xent (optax.losses.ntxent)


def _ntxent_parts(view1, view2, temperature, reduction):
    xp = xpa.namespace(view1, view2, names=("view1", "view2"))
    z1 = v.as_float_array(view1, "view1")
    v.check_ndim(z1, "view1", (2,), "a 2-D (N, D) batch of embeddings")
    z2 = second_input(view2, "view2", z1, "view1")
    if z1.shape[0] == 0:
        raise ValueError(f"view1 must hold at least one embedding, got shape {tuple(z1.shape)}")
    v.check_scalar(temperature, "temperature", low=0.0, low_open=True)
    v.check_reduction(reduction)
    e = xpa.concat([z1, z2], xp)
    # optax: cosine_similarity(..., epsilon=finfo.eps) clips the *squared* norm at eps
    norm = pnorm(e, 2, xp)[:, None]
    floor = xp.sqrt(xpa.const(float(xp.finfo(e.dtype).eps), e, xp))
    n = xp.maximum(norm, floor)
    # an infinite entry: the limit direction (pnorm_grad's), and a gradient of 0 through 1 / n
    infinite = xp.isinf(n)
    u = xp.where(infinite, pnorm_grad(e, norm[:, 0], 2, xp), e / xp.where(infinite, 1, n))
    s = (u @ u.T) / xpa.const(temperature, e, xp)
    m = e.shape[0]
    # no self-similarity: anchor i's candidates are the 2N - 1 others
    if xp is np:
        np.fill_diagonal(s, -np.inf)
    else:
        s = xp.where(xpa.eye_mask(m, e, xp), xpa.const(-np.inf, e, xp), s)
    positive = (xpa.int_arange(m, e, xp) + m // 2) % m  # view1[i] <-> view2[i]
    top = xp.max(s, axis=1, keepdims=True)
    ex = xp.exp(s - top)
    # log-sum-exp minus the positive, both relative to the row's maximum (optax's order): no cancellation
    # between two large logits when the loss is small
    loss = xpa.astype(xp.log(xp.sum(ex, axis=1)) - (xpa.take_along_last(s, positive, xp) - top[:, 0]), e.dtype, xp)
    return z1, u, n, norm > floor, ex / xp.sum(ex, axis=1, keepdims=True), positive, loss, xp


_NTXENT_BLOCK = 1 << 20  # entries of one block of rows of the similarity matrix


def _nt_xent_kernel(view1, view2, *, temperature: float = 0.07, reduction: v.Reduction = "mean"):
    """Loss and gradients of :func:`nt_xent_loss` a block of rows of the similarity matrix at a time.

    The definitions hold the whole (2N, 2N) matrix, several times; here one block of rows is
    alive at once (about ``_NTXENT_BLOCK`` entries), so the extra memory is linear in N
    (:func:`_ntxent_blocks`). NumPy arrays of finite floats, every reduction (``None``
    otherwise: the definitions take the limits). For 'none' each anchor's upstream weighs
    its row of the matrix, so the gradient is an :class:`losslab._fast.Upstream`: a second
    pass, for the ``dout`` that backward receives.
    """
    if view1.__class__ is not np.ndarray or view2.__class__ is not np.ndarray:
        return None
    dtype = view1.dtype
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or view2.dtype != dtype or view1.ndim != 2:
        return None
    if view2.shape != view1.shape or view1.shape[0] == 0 or reduction not in ("mean", "sum", "none"):
        return None
    if temperature.__class__ not in (int, float) or not 0 < temperature < math.inf:
        return None
    e = np.concatenate([view1, view2])
    if reduction != "none":
        small = _fast.ntxent_small(e, None, temperature, reduction)  # numba, for a few finite embeddings
        if small is not None:
            return small[0], (small[1][: e.shape[0] // 2], small[1][e.shape[0] // 2 :])
    unit = _unit_rows(e)
    if unit is None:
        return None
    u, norm, floor, n = unit
    tau = dtype.type(temperature)
    m = e.shape[0]
    half = m // 2
    loss = np.empty(m, dtype)
    if reduction == "none":
        _ntxent_blocks(u, tau, None, loss)

        def pull(g):
            ge = _toward_embeddings(_ntxent_blocks(u, tau, np.broadcast_to(g, (m,)), None), u, norm, floor, n)
            return ge[:half], ge[half:]

        return loss, _fast.Upstream(pull, dtype)
    scale = dtype.type(1) / dtype.type(m) if reduction == "mean" else dtype.type(1)  # upstream's g for dout = 1
    ge = _toward_embeddings(_ntxent_blocks(u, tau, scale, loss), u, norm, floor, n)
    return reduce(loss, reduction), (ge[:half], ge[half:])


def _unit_rows(e: np.ndarray):
    """``(u, norm, floor, n)``: the rows of ``e`` over their norms clipped at ``sqrt(eps)``, as the definitions;
    ``None`` where an entry or a norm is not finite (the definitions take those limits)."""
    if not np.isfinite(e).all():
        return None
    norm = pnorm(e, 2, np)[:, None]
    if not np.isfinite(norm).all():
        return None
    floor = np.sqrt(e.dtype.type(np.finfo(e.dtype).eps))
    n = np.maximum(norm, floor)
    return e / n, norm, floor, n


def _toward_embeddings(gu: np.ndarray | None, u: np.ndarray, norm, floor, n) -> np.ndarray:
    """The gradient with respect to the embeddings from the one with respect to their unit rows ``u``
    (``gu``: what a pass of blocks with weights returns)."""
    assert gu is not None
    radial = np.where(norm > floor, np.sum(u * gu, axis=1, keepdims=True), 0)
    return ((gu - radial * u) / n).astype(u.dtype, copy=False)


def _ntxent_blocks(u: np.ndarray, tau, weights, loss: np.ndarray | None) -> np.ndarray | None:
    """One pass over blocks of rows of the similarity matrix ``u u^T / tau`` (positives ``i +- m / 2``).

    Each block's per-anchor losses go into ``loss`` (if given). With ``weights``, each anchor's upstream
    (a scalar, or one per anchor), returns the gradient with respect to ``u``: ``sum_b (G_b u + G_b^T u_b)
    / tau``, ``G_b`` the block's rows of ``d loss / d s`` times their weights; ``weights=None``: no gradient.
    """
    m = u.shape[0]
    half = m // 2
    gu = None if weights is None else np.zeros_like(u)
    rows = max(1, _NTXENT_BLOCK // m)
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        local = np.arange(r1 - r0)
        anchor = local + r0
        positive = (anchor + half) % m
        s = u[r0:r1] @ u.T
        s /= tau
        s[local, anchor] = -np.inf  # no self-similarity
        top = s.max(axis=1)
        pos = s[local, positive] - top
        s -= top[:, np.newaxis]
        np.exp(s, out=s)
        total = s.sum(axis=1)
        if loss is not None:
            loss[r0:r1] = np.log(total) - pos
        if gu is None:
            continue
        s /= total[:, np.newaxis]  # P
        s[local, positive] -= 1
        s *= weights if np.ndim(weights) == 0 else weights[r0:r1, np.newaxis]  # G_b
        gu[r0:r1] += s @ u
        gu += s.T @ u[r0:r1]
    if gu is not None:
        gu /= tau
    return gu


@_fast.fused(_nt_xent_kernel)
def nt_xent_loss(view1, view2, *, temperature: float = 0.07, reduction: v.Reduction = "mean"):
    r"""NT-Xent (normalized temperature-scaled cross-entropy, InfoNCE) of two views, as ``optax.losses.ntxent``.

    The 2N embeddings :math:`e = [\text{view1}; \text{view2}]` are normalised,
    :math:`u_i = e_i / \max(\lVert e_i \rVert, \sqrt{\epsilon})` with :math:`\epsilon` the
    dtype's machine epsilon (optax clips the squared norm at ``finfo(dtype).eps``), and
    compared by :math:`s_{ik} = u_i \cdot u_k / \tau`. Anchor :math:`i`'s positive is the
    other view of the same sample, :math:`p(i) = i \pm N`; every other embedding is a
    negative (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
    Representations", SimCLR):

    .. math:: \ell_i = -\log \frac{e^{s_{i,p(i)}}}{\sum_{k \ne i} e^{s_{ik}}}, \qquad
              \frac{\partial \ell_i}{\partial s_{ik}} = P_{ik} - [k = p(i)] \quad (k \ne i)

    with :math:`P_{ik}` the softmax of row :math:`i` over :math:`k \ne i`. Then
    :math:`\partial / \partial u = (G + G^\top) u / \tau` for :math:`G_{ik} = g_i
    \partial \ell_i / \partial s_{ik}`, and :math:`\partial / \partial e_i =
    (\bar u_i - (u_i \cdot \bar u_i)\, u_i) / \lVert e_i \rVert` (:math:`\bar u_i /
    \sqrt{\epsilon}` below the clip).

    Equivalence: ``nt_xent_loss(v1, v2)`` equals optax's
    ``ntxent(concatenate([v1, v2]), labels=concatenate([arange(N), arange(N)]), temperature)``
    (optax's ``matches`` then marks exactly one positive per row and ``diffs`` the 2N - 2
    negatives); ``'mean'`` is optax's value, the average of the 2N per-anchor terms,
    ``'none'`` returns those terms (2N,) in the order view1's anchors, then view2's, and
    ``'sum'`` their total. ``temperature`` > 0, default 0.07 as in optax. The log-sum-exp
    is shifted by each row's maximum, as optax's; optax's float32 gradient turns NaN once
    every negative's exponential underflows (logit gaps above about 100, e.g. temperature
    0.01 with well-aligned views), losslab's stays finite.

    Shapes: ``view1``, ``view2`` (N, D), N >= 1. Raises ``ValueError`` on other shapes, a
    temperature <= 0 or an unknown reduction; ``TypeError`` on a non-float input.

    >>> import numpy as np
    >>> v1 = np.array([[1.0, 0.0], [0.0, 1.0]]); v2 = np.array([[2.0, 0.0], [0.0, 3.0]])
    >>> # each anchor: positive cos 1, negatives cos 0, 0: log(e + 2) - 1
    >>> nt_xent_loss(v1, v2, temperature=1.0, reduction="none").round(6)
    array([0.551445, 0.551445, 0.551445, 0.551445])
    """
    *_, loss, _ = _ntxent_parts(view1, view2, temperature, reduction)
    return reduce(loss, reduction)


@_fast.defbackward(nt_xent_loss)
def nt_xent_loss_backward(
    dout, view1, view2, *, temperature: float = 0.07, reduction: v.Reduction = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`nt_xent_loss` for ``view1`` and ``view2``.

    >>> import numpy as np
    >>> g1, g2 = nt_xent_loss_backward(1.0, np.array([[1.0, 0.0], [0.0, 1.0]]),
    ...                                np.array([[2.0, 0.0], [0.0, 3.0]]), temperature=1.0)
    >>> g1.round(6)  # only the component orthogonal to each embedding moves the cosines
    array([[0.      , 0.211942],
           [0.211942, 0.      ]])
    """
    z1, u, n, unclipped, prob, positive, loss, xp = _ntxent_parts(view1, view2, temperature, reduction)
    g = xp.broadcast_to(upstream(dout, tuple(loss.shape), z1.dtype, reduction, like=z1), tuple(loss.shape))
    m = u.shape[0]
    if xp is np:
        ds = prob.copy()
        ds[np.arange(m), positive] -= 1
        ds *= g[:, np.newaxis]  # G[i, k] = g_i (P_ik - [k = p(i)]), zero on the diagonal
    else:
        ds = (prob - xpa.astype(xpa.one_hot(positive, m, xp), z1.dtype, xp)) * g[:, None]
    gu = ((ds + ds.T) @ u) / xpa.const(temperature, z1, xp)
    radial = xp.where(unclipped, xp.sum(u * gu, axis=1, keepdims=True), 0)
    ge = xpa.astype((gu - radial * u) / n, z1.dtype, xp)
    return ge[: m // 2, ...], ge[m // 2 :, ...]


# --------------------------------------------------------------------------- NT-Xent with group labels (optax)


def _group_parts(embeddings, labels, temperature, reduction):
    """``(e, u, n, unclipped, s, positive, negative, top, loss, pairs)`` of :func:`nt_xent_group_loss`."""
    e = v.as_float_array(embeddings, "embeddings")
    if not isinstance(e, np.ndarray):
        raise TypeError(f"embeddings must be a NumPy array, got {type(embeddings).__name__}")
    v.check_ndim(e, "embeddings", (2,), "a 2-D (B, D) batch of embeddings")
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iub":
        raise TypeError(f"labels must hold integer group labels, got dtype {lab.dtype}")
    if lab.shape != e.shape[:1]:
        raise ValueError(f"labels must have shape {e.shape[:1]} (one group label per embedding), got {lab.shape}")
    v.check_scalar(temperature, "temperature", low=0.0, low_open=True)
    v.check_reduction(reduction)
    m = e.shape[0]
    norm = pnorm(e, 2, np)[:, None]
    floor = np.sqrt(np.finfo(e.dtype).eps).astype(e.dtype)
    n = np.maximum(norm, floor)
    infinite = np.isinf(n)
    u = np.where(infinite, pnorm_grad(e, norm[:, 0], 2, np), e / np.where(infinite, 1, n))
    s = (u @ u.T) / e.dtype.type(temperature)
    same = lab[:, None] == lab[None, :]
    eye = np.eye(m, dtype=bool)
    positive, negative = same & ~eye, ~same
    pairs = int(positive.sum())
    if reduction == "mean" and pairs == 0:
        raise ValueError(
            "labels give no positive pair (no two embeddings share a group label): the 'mean' over "
            "positive pairs is undefined; pass reduction='sum' or 'none'"
        )
    # each row shifted by its maximum over the other embeddings (optax's order): no overflow, no cancellation
    s_off = np.where(eye, -np.inf, s)
    top = s_off.max(axis=1, keepdims=True) if m > 1 else np.zeros((m, 1), e.dtype)
    ex = np.exp(s_off - top)
    z = np.where(negative, ex, 0).sum(axis=1, keepdims=True)  # the negatives of each anchor
    # pair (i, j): -log(e^{s_ij} / (e^{s_ij} + sum_k neg e^{s_ik})) = log(e^{s_ij - top} + z) - (s_ij - top)
    with np.errstate(divide="ignore"):
        terms = np.log(np.where(positive, ex, 1) + z) - np.where(positive, s - top, 0)
    loss = np.where(positive, terms, 0).sum(axis=1).astype(e.dtype)
    return e, u, n, norm > floor, ex, positive, negative, z, loss, pairs


_NTXENT_GROUP_BLOCK = 1 << 19  # entries of one block of rows (three such blocks are alive at once)


def _nt_xent_group_loss_kernel(embeddings, labels, *, temperature: float = 0.07, reduction: v.Reduction = "mean"):
    """Loss and gradient of :func:`nt_xent_group_loss` a block of rows of the similarity matrix at a time.

    As :func:`_nt_xent_kernel`: three blocks of about ``_NTXENT_GROUP_BLOCK`` entries are alive at once, so
    the extra memory is linear in B (:func:`_group_blocks`). NumPy float arrays of finite entries, integer
    labels (B,), at least two embeddings, every reduction ('mean' with a positive pair); ``None`` otherwise.
    For 'none' the gradient is an :class:`losslab._fast.Upstream` (a second pass, for backward's ``dout``).
    """
    e, lab = embeddings, labels
    if e.__class__ is not np.ndarray or lab.__class__ is not np.ndarray or reduction not in ("mean", "sum", "none"):
        return None
    dtype = e.dtype
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or e.ndim != 2 or e.shape[0] < 2:
        return None
    if lab.dtype.kind not in "iu" or lab.shape != e.shape[:1]:
        return None
    if temperature.__class__ not in (int, float) or not 0 < temperature < math.inf:
        return None
    if reduction != "none":
        small = _fast.ntxent_small(e, lab, temperature, reduction)  # numba, for a few finite embeddings
        if small is not None:
            return small
    unit = _unit_rows(e)
    if unit is None:
        return None
    u, norm, floor, n = unit
    m = e.shape[0]
    _, counts = np.unique(lab, return_counts=True)
    pairs = int((counts * (counts - 1)).sum())
    if reduction == "mean" and pairs == 0:
        return None  # the definition raises
    tau = dtype.type(temperature)
    loss = np.empty(m, dtype)
    if reduction == "none":
        _group_blocks(u, lab, tau, None, loss)
        if not np.isfinite(loss).all():
            return None
        return loss, _fast.Upstream(
            lambda g: _toward_embeddings(_group_blocks(u, lab, tau, np.broadcast_to(g, (m,)), None), u, norm, floor, n),
            dtype,
        )
    scale = dtype.type(1) / dtype.type(pairs) if reduction == "mean" else dtype.type(1)  # upstream for dout = 1
    gu = _group_blocks(u, lab, tau, scale, loss)
    if not np.isfinite(loss).all():
        return None
    return reduce(loss, reduction, denominator=pairs), _toward_embeddings(gu, u, norm, floor, n)


@np.errstate(divide="ignore", invalid="ignore", over="ignore")  # a pair whose denominator underflows is reported
def _group_blocks(u: np.ndarray, lab: np.ndarray, tau, weights, loss: np.ndarray | None) -> np.ndarray | None:
    """:func:`_ntxent_blocks` with group labels: positives share the anchor's label, negatives do not."""
    m = u.shape[0]
    gu = None if weights is None else np.zeros_like(u)
    rows = max(1, _NTXENT_GROUP_BLOCK // m)
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        local = np.arange(r1 - r0)
        anchor = local + r0
        same = lab[r0:r1, np.newaxis] == lab[np.newaxis, :]
        same[local, anchor] = False  # the positives
        a = u[r0:r1] @ u.T
        a /= tau
        a[local, anchor] = -np.inf  # no self-similarity
        a -= a.max(axis=1, keepdims=True)  # s_ik - top_i: no overflow, no cancellation (optax's order)
        ex = np.exp(a)  # 0 on the diagonal
        z = ex.sum(axis=1, keepdims=True, where=~same)  # the negatives of each anchor
        # pair (i, j): log(e^{s_ij - top} + z) - (s_ij - top), as the definition
        c = np.add(ex, z)
        np.log(c, out=c)
        np.subtract(c, a, out=a)
        if loss is not None:
            loss[r0:r1] = a.sum(axis=1, where=same)
        if gu is None:
            continue
        np.add(ex, z, out=a)
        c.fill(0)
        inv = np.divide(1, a, out=c, where=same)  # 1 / D_ij on the positives, 0 elsewhere
        ds = np.multiply(ex, inv.sum(axis=1, keepdims=True), out=a)  # the negatives: e^{s_ik} sum_j 1 / D_ij
        pos = np.multiply(ex, inv, out=c)
        pos -= 1
        np.copyto(ds, pos, where=same)
        ds[local, anchor] = 0
        ds *= weights if np.ndim(weights) == 0 else weights[r0:r1, np.newaxis]
        gu[r0:r1] += ds @ u
        gu += ds.T @ u[r0:r1]
    if gu is not None:
        gu /= tau
    return gu


@_fast.fused(_nt_xent_group_loss_kernel)
def nt_xent_group_loss(embeddings, labels, *, temperature: float = 0.07, reduction: v.Reduction = "mean"):
    r"""NT-Xent with group labels, as ``optax.losses.ntxent(embeddings, labels, temperature)``.

    The embeddings are normalised as in :func:`nt_xent_loss` and compared by
    :math:`s_{ik} = u_i \cdot u_k / \tau`. Embeddings with the same label are positives of
    each other (several views of one sample, or the samples of one class: supervised
    contrastive learning, Khosla et al. 2020), the others negatives :math:`N(i)`. Each
    positive pair :math:`(i, j)`, :math:`j \in P(i)`, is one softmax against anchor
    :math:`i`'s negatives:

    .. math:: \ell_i = \sum_{j \in P(i)} -\log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N(i)} e^{s_{ik}}},
              \qquad \text{'mean'} = \frac{\sum_i \ell_i}{\sum_i |P(i)|}

    .. math:: \frac{\partial \ell_i}{\partial s_{ij}} = \frac{e^{s_{ij}}}{D_{ij}} - 1 \;(j \in P(i)), \qquad
              \frac{\partial \ell_i}{\partial s_{ik}} = \sum_{j \in P(i)} \frac{e^{s_{ik}}}{D_{ij}} \;(k \in N(i))

    with :math:`D_{ij} = e^{s_{ij}} + \sum_{k \in N(i)} e^{s_{ik}}`; then through the
    similarities and the normalisation as :func:`nt_xent_loss`. This is optax 0.2.8's
    ``ntxent``: ``'mean'`` is its value, the average over the positive pairs; an anchor
    without a positive adds 0 (and still serves as a negative). ``'none'`` gives
    :math:`\ell_i` per anchor (B,), ``'sum'`` their total. The other positives of an anchor
    are not in its denominators (optax's and pytorch-metric-learning's convention; SupCon's
    "out" loss puts them there). With labels ``[0, 1, ..., N-1, 0, 1, ..., N-1]`` over
    ``[view1; view2]`` it is :func:`nt_xent_loss`. NumPy arrays only.

    Shapes: ``embeddings`` (B, D); ``labels`` integer (B,). Raises ``ValueError`` on other
    shapes, a temperature <= 0, an unknown reduction, or ``'mean'`` over a batch without a
    positive pair (optax returns NaN there); ``TypeError`` on a non-float input or
    non-integer labels.

    >>> import numpy as np
    >>> e = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    >>> # anchors 0 and 1: positive cos 1, one negative cos 0: log(e + 1) - 1; anchor 2 has no positive
    >>> nt_xent_group_loss(e, np.array([0, 0, 1]), temperature=1.0, reduction="none").round(6)
    array([0.313262, 0.313262, 0.      ])
    """
    *_, loss, pairs = _group_parts(embeddings, labels, temperature, reduction)
    return reduce(loss, reduction, denominator=pairs)


@_fast.defbackward(nt_xent_group_loss)
def nt_xent_group_loss_backward(
    dout, embeddings, labels, *, temperature: float = 0.07, reduction: v.Reduction = "mean"
) -> np.ndarray:
    """Gradient of :func:`nt_xent_group_loss` with respect to ``embeddings``.

    >>> import numpy as np
    >>> e = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    >>> nt_xent_group_loss_backward(1.0, e, np.array([0, 0, 1]), temperature=1.0, reduction="sum").round(6)
    array([[0.      , 0.268941],
           [0.      , 0.134471],
           [0.537883, 0.      ]])
    """
    e, u, n, unclipped, ex, positive, negative, z, loss, pairs = _group_parts(
        embeddings, labels, temperature, reduction
    )
    g = np.broadcast_to(upstream(dout, tuple(loss.shape), e.dtype, reduction, denominator=pairs, like=e), loss.shape)[
        :, None
    ]
    inv = np.where(positive, 1 / (np.where(positive, ex, 1) + z), 0)  # 1 / D_ij, relative to the row's maximum
    ds = np.where(positive, ex * inv - 1, 0) + np.where(negative, ex * inv.sum(axis=1, keepdims=True), 0)
    ds = ds * g
    gu = ((ds + ds.T) @ u) / e.dtype.type(temperature)
    radial = np.where(unclipped, np.sum(u * gu, axis=1, keepdims=True), 0)
    return ((gu - radial * u) / n).astype(e.dtype)


__all__ += ["nt_xent_group_loss", "nt_xent_group_loss_backward"]
