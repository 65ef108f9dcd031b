"""Modulated cross-entropies: sigmoid focal loss, softmax focal loss and Poly-1 cross-entropy.

Each loss is a pure function ``name(input, target, *, options)`` with its
vector-Jacobian product ``name_backward(dout, input, target, *, options)`` beside
it: the gradient of ``sum(dout * name(...))`` with respect to ``input`` (the
logits). Everything is computed from log-sigmoid / log-softmax, so logits of
+-1e4 give finite values and gradients.

None of these is in ``torch.nn``; each docstring names the definition it follows
(torchvision, Lin et al. 2017, optax), and tests/golden/extra_golden.npz holds
that library's numbers.

Every function computes in the array library of its inputs (:mod:`losslab._array_api`).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v
from ._classes import batched_upstream, logits_2d, setup, target_weights
from ._numerics import times, weighted_sum
from ._reduction import reduce, upstream
from .activation import log_sigmoid, log_softmax, log_softmax_of

__all__ = [
    "sigmoid_focal_loss", "sigmoid_focal_loss_backward",
    "focal_loss", "focal_loss_backward",
    "poly1_cross_entropy", "poly1_cross_entropy_backward",
]


# --------------------------------------------------------------------------- sigmoid focal loss

def _sigmoid_focal_setup(input, target, alpha, gamma, reduction):
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    v.check_reduction(reduction)
    v.check_scalar(alpha, "alpha", high=1.0)
    v.check_scalar(gamma, "gamma", low=0.0)
    t = v.check_unit_interval(t, "target", hint=" (binary labels or soft labels)")
    return x, t, xp


def _sigmoid_focal_parts(x: np.ndarray, t: np.ndarray, alpha: float, xp):
    """``(ce, log_q, log_p, log_not_p, alpha_t)`` with ``q = 1 - p_t`` in log space."""
    log_p, log_not_p = log_sigmoid(x), log_sigmoid(-x)
    ce = -(times(t, log_p, xp) + times(1 - t, log_not_p, xp))  # a hard label drops the other term, even at +-inf
    # q = 1 - p_t = t sigmoid(-x) + (1 - t) sigmoid(x): a weighted logsumexp, as optax does.
    # log 0 = -inf for a hard label: that term then drops out. Written without a divide-by-zero
    # (a lazy array would warn at .compute(), outside any np.errstate); the same values.
    a = xp.where(t > 0, xp.log(xp.where(t > 0, t, 1)), -math.inf) + log_not_p
    b = xp.where(t < 1, xp.log1p(-xp.where(t < 1, t, 0)), -math.inf) + log_p
    m = xp.maximum(a, b)  # finite (t and 1 - t are not both 0) unless x is infinite and q = 0
    m = xp.where(m > -math.inf, m, 0)
    with np.errstate(divide="ignore"):  # q = 0 (a hard label, x = -+inf on its side): log q = -inf, exactly
        log_q = m + xp.log(xp.exp(a - m) + xp.exp(b - m))
    alpha_t = alpha * t + (1 - alpha) * (1 - t) if alpha >= 0 else 1
    return ce, log_q, log_p, log_not_p, alpha_t


def sigmoid_focal_loss(input, target, *, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: v.Reduction = "mean"):
    r"""Sigmoid (binary) focal loss on logits, as ``torchvision.ops.sigmoid_focal_loss``.

    With :math:`p = \sigma(x)`, :math:`p_t = p\,t + (1 - p)(1 - t)`,
    :math:`\alpha_t = \alpha t + (1 - \alpha)(1 - t)` (1 when ``alpha < 0``) and
    :math:`\mathrm{CE} = -t \log p - (1 - t) \log(1 - p)` (BCE with logits):

    .. math:: \ell_i = \alpha_t\, \mathrm{CE}_i\, (1 - p_t)^\gamma

    and, with :math:`q = 1 - p_t = t\,\sigma(-x) + (1 - t)\,\sigma(x)`,

    .. math:: \frac{\partial \ell_i}{\partial x_i} = \alpha_t\, q^\gamma \left( (\sigma(x) - t)
              + \gamma (1 - 2t)\, \mathrm{CE}\, \frac{\sigma(x)\,\sigma(-x)}{q} \right)

    Everything is evaluated in log space: :math:`\log\sigma(\pm x)` from softplus,
    :math:`\log q` as a weighted log-sum-exp of them (optax's ``sigmoid_focal_loss``
    does the same), :math:`q^\gamma = e^{\gamma \log q}`. Values and gradients stay
    finite at logits of +-1e4 and for every ``gamma >= 0``: the factor
    :math:`\sigma(x)\sigma(-x)/q` is at most 1 (it is :math:`\sigma(x)` for ``t = 1``),
    so the :math:`q^{\gamma - 1}` that differentiating :math:`(1 - p_t)^\gamma` produces
    never appears on its own. (As a function of :math:`p` the derivative of
    :math:`(1-p_t)^\gamma` is infinite at :math:`p_t = 1` when ``gamma < 1``; autograd through
    torchvision's expression then gives NaN there. With respect to the logit it is finite.)

    Reference: Lin et al. 2017, "Focal Loss for Dense Object Detection"; the
    definition is torchvision's (``torchvision/ops/focal_loss.py``), including
    ``alpha < 0`` disabling the alpha weighting and soft targets in [0, 1].
    One difference: torchvision's default reduction is ``'none'``; ours is ``'mean'``
    like every losslab loss. ``'mean'`` divides by the number of elements.

    Shapes: ``input`` any shape (logits); ``target`` the same shape, values in [0, 1].
    Options: ``alpha`` <= 1 (negative: no weighting), ``gamma`` >= 0.
    Raises ``TypeError`` for a non-float input, ``ValueError`` for a target outside
    [0, 1] or of another shape, a bad option or reduction.

    >>> import numpy as np
    >>> x, t = np.array([0.0, 2.0, -1e4]), np.array([1.0, 0.0, 0.0])
    >>> sigmoid_focal_loss(x, t, reduction="none").round(6)
    array([0.043322, 1.237559, 0.      ])
    """
    x, t, xp = _sigmoid_focal_setup(input, target, alpha, gamma, reduction)
    ce, log_q, _, _, alpha_t = _sigmoid_focal_parts(x, t, alpha, xp)
    loss = alpha_t * ce * (xp.exp(gamma * log_q) if gamma != 0 else 1)  # q^0 = 1, also at q = 0
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


def sigmoid_focal_loss_backward(dout, input, target, *, alpha: float = 0.25, gamma: float = 2.0,
                                reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`sigmoid_focal_loss` with respect to ``input`` (the logits).

    ``alpha_t q^gamma ((sigmoid(x) - t) + gamma (1 - 2t) CE sigmoid(x) sigmoid(-x) / q) * g``.

    >>> import numpy as np
    >>> sigmoid_focal_loss_backward(1.0, np.array([0.0, 2.0]), np.array([1.0, 0.0]),
    ...                             reduction="none").round(6)
    array([-0.074572,  0.807535])
    """
    x, t, xp = _sigmoid_focal_setup(input, target, alpha, gamma, reduction)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    ce, log_q, log_p, log_not_p, alpha_t = _sigmoid_focal_parts(x, t, alpha, xp)
    # sigmoid(x) sigmoid(-x) / q, in [0, 1]; where q = 0 (x = -+inf on a hard label's side) CE = 0
    # and h only multiplies it: 0 stands in for the 0 / 0
    h = xp.exp(log_p + log_not_p - xp.where(log_q > -math.inf, log_q, 0))
    # CE h -> 0 as |x| -> inf (x e^{-|x|}); grouped so that neither overflows nor meets 0 * inf first
    ce_h = times(h, ce, xp)
    q_gamma = xp.exp(gamma * log_q) if gamma != 0 else 1  # q^0 = 1, also at q = 0
    local = alpha_t * q_gamma * ((xp.exp(log_p) - t) + gamma * (1 - 2 * t) * ce_h)
    return xpa.astype(local * g, x.dtype, xp)


# --------------------------------------------------------------------------- softmax focal loss

def _focal_parts(lay, w):
    """``(logp, safe, wt, denominator, logp_t, q)`` with ``q = 1 - p_t``."""
    logp = log_softmax_of(lay.x, 1, lay.xp)
    safe, wt, denominator = target_weights(lay, w)
    logp_t = xpa.take_along_axis(logp, safe, 1, lay.xp)
    q = -lay.xp.expm1(logp_t)  # 1 - p_t without cancellation as p_t -> 1 (logp_t <= 0, so q in [0, 1])
    return logp, safe, wt, denominator, logp_t, q


def focal_loss(input, target, *, gamma: float = 2.0, weight=None, ignore_index: int = -100,
               reduction: v.Reduction = "mean"):
    r"""Softmax (multi-class) focal loss on logits, Lin et al. 2017, "Focal Loss for Dense Object Detection".

    With :math:`\log p = \operatorname{log\_softmax}(x)` over the class axis and
    :math:`p_t = p_{n, t_n}` the probability of the target class:

    .. math:: \ell_n = -w_{t_n} (1 - p_t)^\gamma \log p_t \qquad (0 \text{ where } t_n = \text{ignore\_index})

    .. math:: \frac{\partial \ell_n}{\partial x_{n,c}} = w_{t_n} F_n\, (p_{n,c} - [c = t_n]), \quad
              F_n = (1 - p_t)^\gamma - \gamma\, p_t (1 - p_t)^{\gamma - 1} \log p_t
                  = (1 - p_t)^\gamma \left(1 + \gamma\, p_t \frac{-\log p_t}{1 - p_t}\right)

    The last form is the one evaluated: :math:`-\log p_t / (1 - p_t) \to 1` as
    :math:`p_t \to 1`, so the gradient is finite for every ``gamma >= 0``;
    :math:`1 - p_t` is ``-expm1(log p_t)`` (no cancellation). ``gamma = 0`` gives
    :func:`~losslab.functional.cross_entropy`: the same values bit for bit, the same gradients
    (computed by cross-entropy's reference formula).
    The paper's :math:`\alpha` balancing is the per-class ``weight``.

    Class weights and ``ignore_index`` follow ``CrossEntropyLoss``: ``'mean'`` divides
    the sum by :math:`\sum_{n \text{ not ignored}} w_{t_n}` (the count of non-ignored
    positions without weight); every position ignored gives NaN, as in PyTorch.

    Shapes: ``input`` (C,), (N, C) or (N, C, d1, ..., dK) logits; ``target`` integer class
    indices of shape (), (N,) or (N, d1, ..., dK). Output: a scalar, or the target's shape
    for ``reduction='none'``. Options: ``gamma`` >= 0, ``weight`` (C,), ``ignore_index`` any int.
    Raises ``TypeError`` for a non-float input or non-integer target,
    :class:`~losslab._validation.ClassIndexError` for a label outside [0, C), and
    ``ValueError`` for shapes, options or the reduction.

    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [1.0, 3.0]])
    >>> focal_loss(x, np.array([0, 1]), reduction="none").round(6)
    array([0.701868, 0.001804])
    """
    lay, w = setup(input, target, weight, ignore_index, reduction, probs_allowed=False)
    v.check_scalar(gamma, "gamma", low=0.0)
    xp = lay.xp
    _, _, wt, denominator, logp_t, q = _focal_parts(lay, w)
    loss = xpa.astype(xp.where(lay.valid, -wt * q ** gamma * logp_t, 0), lay.x.dtype, xp)
    return reduce(xp.reshape(loss, lay.out_shape), reduction, denominator=denominator)


def focal_loss_backward(dout, input, target, *, gamma: float = 2.0, weight=None, ignore_index: int = -100,
                        reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`focal_loss` with respect to ``input``: ``w_t F (softmax - onehot) * g``.

    >>> import numpy as np
    >>> focal_loss_backward(1.0, np.array([[0.0, 0.0]]), np.array([0]), reduction="sum").round(6)
    array([[-0.298287,  0.298287]])
    """
    lay, w = setup(input, target, weight, ignore_index, reduction, probs_allowed=False)
    v.check_scalar(gamma, "gamma", low=0.0)
    xp = lay.xp
    logp, safe, wt, denominator, logp_t, q = _focal_parts(lay, w)
    p_t = xp.exp(logp_t)
    ratio = xp.where(q > 0, -logp_t / xp.where(q > 0, q, 1), 1)  # -log p_t / (1 - p_t), -> 1 as p_t -> 1
    factor = q ** gamma * (1 + gamma * times(p_t, ratio, xp))  # p_t log p_t -> 0 as p_t -> 0 (logit -inf)
    g = batched_upstream(dout, lay, reduction, denominator)
    onehot = xpa.astype(lay.class_mask(safe), lay.x.dtype, xp)  # NumPy's bool * float, for every library
    a = xpa.astype(onehot * (wt * factor)[:, None, ...], lay.x.dtype, xp)
    prob = xp.exp(logp)
    # all ignored: g = 1 / 0, and 0 * inf on the ignored rows...
    grad = xpa.quietly(operator.mul, xp.sum(a, axis=1, keepdims=True) * prob - a, g)
    grad = xp.where(lay.valid[:, None, ...], grad, 0)  # ...whose gradient is 0
    return xpa.astype(xp.reshape(grad, lay.in_shape), lay.x.dtype, xp)


# --------------------------------------------------------------------------- Poly-1 cross-entropy

def _poly_setup(input, target, epsilon, reduction):
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = logits_2d(input)
    q = v.as_class_distribution(target, x, xp)
    v.check_reduction(reduction)
    v.check_scalar(epsilon, "epsilon")
    return x, q, xp


def poly1_cross_entropy(input, target, *, epsilon: float = 2.0, reduction: v.Reduction = "mean"):
    r"""Poly-1 cross-entropy, as ``optax.losses.poly_loss_cross_entropy`` (Leng et al. 2022, "PolyLoss").

    With :math:`p = \operatorname{softmax}(x_n)` and target distribution :math:`y_n`
    (one-hot for class-index targets):

    .. math:: \ell_n = -\sum_c y_{n,c} \log p_c + \epsilon \sum_c y_{n,c} (1 - p_c)

    which is :math:`\mathrm{CE} + \epsilon (1 - p_t)` with :math:`p_t = \sum_c y_c p_c` for a
    normalised target (the second sum is optax's ``one_minus_pt``, kept as written there).
    Its gradient:

    .. math:: \frac{\partial \ell_n}{\partial x_{n,k}} = (\textstyle\sum_c y_c)\, p_k - y_k
              + \epsilon\, p_k (p_t - y_k)

    The log-probabilities come from ``log_softmax``: finite at logits of +-1e4.
    ``epsilon = 0`` is softmax cross-entropy; the paper recommends 2 for ImageNet
    classification and -1 for detection. ``'mean'`` divides by N.

    Shapes: ``input`` (N, C) logits; ``target`` integer class indices (N,) or class
    probabilities (N, C) (values >= 0; normalisation is not checked, as in optax).
    Output: a scalar, or (N,) for ``reduction='none'``. Raises ``TypeError`` for a
    non-float input or float targets of the index shape,
    :class:`~losslab._validation.ClassIndexError` for a label outside [0, C), and
    ``ValueError`` for shapes, negative probabilities, a bad ``epsilon`` or reduction.

    >>> import numpy as np
    >>> poly1_cross_entropy(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 0]), reduction="none").round(6)
    array([1.693147, 0.365334])
    """
    x, q, xp = _poly_setup(input, target, epsilon, reduction)
    logp = log_softmax(x, axis=1)
    ce = -weighted_sum(q, logp, 1, xp)  # a class of logit -inf and target 0 adds 0
    one_minus_pt = xp.sum(q * (1 - xp.exp(logp)), axis=1)
    return reduce(xpa.astype(ce + epsilon * one_minus_pt, x.dtype, xp), reduction)


def poly1_cross_entropy_backward(dout, input, target, *, epsilon: float = 2.0,
                                 reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`poly1_cross_entropy` with respect to ``input``:
    ``(sum y) p - y + eps p (p_t - y)``, times ``g``.

    >>> import numpy as np
    >>> poly1_cross_entropy_backward(1.0, np.array([[0.0, 0.0]]), np.array([0]), reduction="sum")
    array([[-1.,  1.]])
    """
    x, q, xp = _poly_setup(input, target, epsilon, reduction)
    g = upstream(dout, (x.shape[0],), x.dtype, reduction, like=x)
    g = xp.broadcast_to(g, (x.shape[0],))[:, None, ...]
    p = xp.exp(log_softmax(x, axis=1))
    p_t = xp.sum(q * p, axis=1, keepdims=True)
    local = xp.sum(q, axis=1, keepdims=True) * p - q + epsilon * p * (p_t - q)
    return xpa.astype(local * g, x.dtype, xp)
