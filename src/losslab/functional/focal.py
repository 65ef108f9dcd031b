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
from .. import _fast
from .. import _validation as v
from ._classes import batched_upstream, logits_2d, setup, target_weights
from ._numerics import times, weighted_sum
from ._reduction import reduce, upstream
from .activation import log_sigmoid, log_softmax, log_softmax_of

__all__ = [
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_backward",
    "focal_loss",
    "focal_loss_backward",
    "poly1_cross_entropy",
    "poly1_cross_entropy_backward",
]


# --------------------------------------------------------------------------- sigmoid focal loss


def _sigmoid_focal_setup(
    input, target, alpha, gamma, reduction, weight=None, pos_weight=None, ignore_index=None, include_background=True
):
    """``(x, t, xp, extra)``: ``extra`` is None without the per-class options, else ``(weight, pos_weight, kept,
    full_shape)`` with the weights as (1, C', 1, ...), ``kept`` (ignore_index) a boolean mask or None, and
    ``full_shape`` the input's shape where ``include_background=False`` drops channel 0 of ``x`` and ``t``."""
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = v.as_float_array(input, "input")
    t = v.as_real_like(target, "target", x)
    v.check_reduction(reduction)
    v.check_scalar(alpha, "alpha", high=1.0)
    v.check_scalar(gamma, "gamma", low=0.0)
    include_background = v.check_bool(include_background, "include_background")
    if ignore_index is not None:
        v.check_scalar(ignore_index, "ignore_index", integer=True)
    if weight is None and pos_weight is None and ignore_index is None and include_background:
        t = v.check_unit_interval(t, "target", hint=" (binary labels or soft labels)")
        return x, t, xp, None
    kept = None
    if ignore_index is not None:
        kept = t != ignore_index
        t = xp.where(kept, t, xpa.typed(0.0, t, xp))
    t = v.check_unit_interval(t, "target", hint=" (binary labels or soft labels, or ignore_index)")
    per_class = [
        name
        for name, value in (
            ("weight", weight),
            ("pos_weight", pos_weight),
            ("include_background=False", None if include_background else 1),
        )
        if value is not None
    ]
    if per_class and x.ndim < 2:
        raise ValueError(
            f"{per_class[0]} needs an input with its classes along axis 1, of shape (N, C, ...), "
            f"got shape {tuple(x.shape)}"
        )
    full_shape = None
    if not include_background:
        full_shape = tuple(x.shape)
        if x.shape[1] < 2:
            raise ValueError(
                f"include_background=False needs at least 2 classes along axis 1 (the first is the "
                f"background), got shape {tuple(x.shape)}"
            )
        x, t = x[:, 1:, ...], t[:, 1:, ...]
        kept = None if kept is None else kept[:, 1:, ...]
    weights = [_channel_weight(w, name, x, xp) for w, name in ((weight, "weight"), (pos_weight, "pos_weight"))]
    return x, t, xp, (*weights, kept, full_shape)


def _channel_weight(weight, name: str, x, xp):
    """A (C,) weight along axis 1 of ``x``, >= 0, as (1, C, 1, ...); or None."""
    if weight is None:
        return None
    w = v.check_weight(weight, name, x.shape[1], x.dtype, like=x, xp=xp)

    def non_negative(values, start):
        if xpa.any_true(values < 0):
            raise ValueError(f"{name} must hold values >= 0, got {float(xpa.first_value(values, values < 0))!r}")

    return xp.reshape(xpa.check_values(w, non_negative), (1, x.shape[1]) + (1,) * (x.ndim - 2))


def _with_background(grad, input_shape, xp):
    """The gradient of the scored channels 1..C-1, with a zero channel 0 put back in front."""
    zeros = xpa.full((input_shape[0], 1) + tuple(input_shape[2:]), 0, grad, xp)
    return xpa.concat([zeros, grad], xp, axis=1)


def _q_power(log_q, gamma: float, xp):
    """``q^gamma`` from ``log q``: 1 for gamma = 0 (also at q = 0); a product ``gamma log q`` below the float
    range (float32 logits near its maximum) is -inf, and its exponential 0, without a warning."""
    if gamma == 0:
        return 1
    with np.errstate(over="ignore"):
        return xp.exp(gamma * log_q)


def _sigmoid_focal_parts(x: np.ndarray, t: np.ndarray, alpha: float, xp, pos_weight=None):
    """``(ce, log_q, log_p, log_not_p, alpha_t)`` with ``q = 1 - p_t`` in log space."""
    log_p, log_not_p = log_sigmoid(x), log_sigmoid(-x)
    positive = times(t, log_p, xp) if pos_weight is None else pos_weight * times(t, log_p, xp)
    ce = -(positive + times(1 - t, log_not_p, xp))  # a hard label drops the other term, even at +-inf
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


def _sigmoid_focal_loss_kernel(
    input,
    target,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: v.Reduction = "mean",
    weight=None,
    pos_weight=None,
    ignore_index: int | None = None,
    include_background: bool = True,
):
    if weight is not None or pos_weight is not None or ignore_index is not None or include_background is not True:
        return None
    return _fast.sigmoid_focal(input, target, alpha, gamma, reduction)


@_fast.fused(_sigmoid_focal_loss_kernel)
def sigmoid_focal_loss(
    input,
    target,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: v.Reduction = "mean",
    weight=None,
    pos_weight=None,
    ignore_index: int | None = None,
    include_background: bool = True,
):
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

    The per-class options of MONAI's and kornia's binary focal losses (MONAI 1.6.1's ``FocalLoss``
    with ``use_softmax=False``, kornia 0.9.0's ``binary_focal_loss_with_logits``), for an input
    with its classes along axis 1, (N, C, ...):

    - ``pos_weight`` (C,) >= 0 scales the positive term of each class, as in
      ``BCEWithLogitsLoss``: :math:`\mathrm{CE} = -w^+_c\, t \log p - (1 - t) \log(1 - p)`
      (kornia's ``pos_weight``; MONAI's per-class ``alpha`` sequence is ``alpha=-1,
      pos_weight=alpha``); the gradient's :math:`\sigma(x) - t` becomes
      :math:`(1 - t)\,\sigma(x) - w^+_c\, t\, \sigma(-x)`.
    - ``weight`` (C,) >= 0 multiplies each class's loss (kornia's and MONAI's ``weight``).
    - ``ignore_index``: target entries equal to it contribute 0 and a zero gradient, and stay in
      the 'mean' denominator (kornia's, default -100 there; ``None`` here, torchvision's).
      MONAI's 'mean' divides by the kept pixels instead.
    - ``include_background=False`` drops channel 0 (MONAI's): the unreduced loss is
      (N, C - 1, ...), the gradient of channel 0 is 0.

    For hard labels kornia's and MONAI's values are these; for soft labels kornia weighs the
    terms as :math:`t \alpha (1 - p)^\gamma (-\log p) + (1 - t)(1 - \alpha) p^\gamma (-\log(1 - p))`,
    where losslab keeps torchvision's :math:`\alpha_t\, \mathrm{CE}\, (1 - p_t)^\gamma`.

    Shapes: ``input`` any shape (logits); ``target`` the same shape, values in [0, 1].
    Options: ``alpha`` <= 1 (negative: no weighting), ``gamma`` >= 0.
    Raises ``TypeError`` for a non-float input, ``ValueError`` for a target outside
    [0, 1] or of another shape, a bad option or reduction, a per-class option on an
    input without axis 1 or of another class count.

    >>> import numpy as np
    >>> x, t = np.array([0.0, 2.0, -1e4]), np.array([1.0, 0.0, 0.0])
    >>> sigmoid_focal_loss(x, t, reduction="none").round(6)
    array([0.043322, 1.237559, 0.      ])
    """
    x, t, xp, extra = _sigmoid_focal_setup(
        input, target, alpha, gamma, reduction, weight, pos_weight, ignore_index, include_background
    )
    weight, pos_weight, kept, _ = extra or (None, None, None, None)
    ce, log_q, _, _, alpha_t = _sigmoid_focal_parts(x, t, alpha, xp, pos_weight)
    loss = alpha_t * ce * _q_power(log_q, gamma, xp)
    if weight is not None:
        loss = loss * weight
    if kept is not None:
        loss = xp.where(kept, loss, xpa.typed(0.0, loss, xp))
    return reduce(xpa.astype(loss, x.dtype, xp), reduction)


@_fast.defbackward(sigmoid_focal_loss)
def sigmoid_focal_loss_backward(
    dout,
    input,
    target,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: v.Reduction = "mean",
    weight=None,
    pos_weight=None,
    ignore_index: int | None = None,
    include_background: bool = True,
) -> np.ndarray:
    """Gradient of :func:`sigmoid_focal_loss` with respect to ``input`` (the logits).

    ``alpha_t q^gamma ((sigmoid(x) - t) + gamma (1 - 2t) CE sigmoid(x) sigmoid(-x) / q) * g``.

    >>> import numpy as np
    >>> sigmoid_focal_loss_backward(1.0, np.array([0.0, 2.0]), np.array([1.0, 0.0]),
    ...                             reduction="none").round(6)
    array([-0.074572,  0.807535])
    """
    x, t, xp, extra = _sigmoid_focal_setup(
        input, target, alpha, gamma, reduction, weight, pos_weight, ignore_index, include_background
    )
    weight, pos_weight, kept, full_shape = extra or (None, None, None, None)
    g = upstream(dout, tuple(x.shape), x.dtype, reduction, like=x)
    ce, log_q, log_p, log_not_p, alpha_t = _sigmoid_focal_parts(x, t, alpha, xp, pos_weight)
    # sigmoid(x) sigmoid(-x) / q, in [0, 1]; where q = 0 (x = -+inf on a hard label's side) CE = 0
    # and h only multiplies it: 0 stands in for the 0 / 0
    h = xp.exp(log_p + log_not_p - xp.where(log_q > -math.inf, log_q, 0))
    # CE h -> 0 as |x| -> inf (x e^{-|x|}); grouped so that neither overflows nor meets 0 * inf first
    ce_h = times(h, ce, xp)
    q_gamma = _q_power(log_q, gamma, xp)
    # d CE / dx: sigmoid(x) - t = (1 - t) sigmoid(x) - t sigmoid(-x) (no cancellation at a hard label:
    # -sigmoid(-x) for t = 1), or (1 - t) sigmoid(x) - pos_weight t sigmoid(-x)
    positive = t if pos_weight is None else pos_weight * t
    linear = (1 - t) * xp.exp(log_p) - positive * xp.exp(log_not_p)
    local = alpha_t * q_gamma * (linear + gamma * (1 - 2 * t) * ce_h)
    if weight is not None:
        local = local * weight
    grad = local * g
    if kept is not None:
        grad = xp.where(kept, grad, xpa.typed(0.0, grad, xp))
    if full_shape is not None:
        grad = _with_background(grad, full_shape, xp)
    return xpa.astype(grad, x.dtype, xp)


# --------------------------------------------------------------------------- softmax focal loss


def _focal_parts(lay, w):
    """``(logp, safe, wt, denominator, logp_t, q)`` with ``q = 1 - p_t``."""
    logp = log_softmax_of(lay.x, 1, lay.xp)
    safe, wt, denominator = target_weights(lay, w)
    logp_t = xpa.take_along_axis(logp, safe, 1, lay.xp)
    q = -lay.xp.expm1(logp_t)  # 1 - p_t without cancellation as p_t -> 1 (logp_t <= 0, so q in [0, 1])
    return logp, safe, wt, denominator, logp_t, q


def _without_background(lay, w, include_background):
    """The class weight with class 0 at 0 when ``include_background=False`` (MONAI's option)."""
    if v.check_bool(include_background, "include_background"):
        return w
    if lay.num_classes < 2:
        raise ValueError(
            f"include_background=False needs at least 2 classes (the first is the background), "
            f"got input of shape {lay.in_shape}"
        )
    xp = lay.xp
    ones = xpa.full((lay.num_classes,), 1, lay.x, xp) if w is None else w
    return xp.where(xpa.arange(lay.num_classes, ones, xp) == 0, xpa.typed(0.0, ones, xp), ones)


def _focal_loss_kernel(
    input,
    target,
    *,
    gamma: float = 2.0,
    weight=None,
    ignore_index: int = -100,
    reduction: v.Reduction = "mean",
    include_background=True,  # any value: a non-bool goes to the definition, which refuses it
):
    if include_background is False:  # class 0 weighs 0, as in the definition (which raises below 2 classes)
        if input.__class__ is not np.ndarray or input.ndim != 2 or input.shape[1] < 2 or input.dtype.kind != "f":
            return None
        if weight is None:
            weight = np.ones(input.shape[1], input.dtype)
        elif weight.__class__ is np.ndarray and weight.shape == input.shape[1:] and weight.dtype.kind == "f":
            weight = weight.astype(input.dtype)
        else:
            return None
        weight[0] = 0
    elif include_background is not True:
        return None
    return _fast.focal(input, target, gamma, weight, ignore_index, reduction)


@_fast.fused(_focal_loss_kernel)
def focal_loss(
    input,
    target,
    *,
    gamma: float = 2.0,
    weight=None,
    ignore_index: int = -100,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
):
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
    ``weight`` is kornia 0.9.0's ``focal_loss(weight=...)`` and the per-class :math:`\alpha`
    of MONAI's ``FocalLoss(use_softmax=True, alpha=[...])`` (whose 'mean' divides by
    :math:`N \cdot C` instead). ``include_background=False`` (MONAI's) gives class 0 the weight 0:
    positions of the background class add nothing and leave the 'mean' denominator.

    Shapes: ``input`` (C,), (N, C) or (N, C, d1, ..., dK) logits; ``target`` integer class
    indices of shape (), (N,) or (N, d1, ..., dK). Output: a scalar, or the target's shape
    for ``reduction='none'``. Options: ``gamma`` >= 0, ``weight`` (C,), ``ignore_index`` any int,
    ``include_background``.
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
    w = _without_background(lay, w, include_background)
    xp = lay.xp
    _, _, wt, denominator, logp_t, q = _focal_parts(lay, w)
    loss = xpa.astype(xp.where(lay.valid, -wt * q**gamma * logp_t, 0), lay.x.dtype, xp)
    return reduce(xp.reshape(loss, lay.out_shape), reduction, denominator=denominator)


@_fast.defbackward(focal_loss)
def focal_loss_backward(
    dout,
    input,
    target,
    *,
    gamma: float = 2.0,
    weight=None,
    ignore_index: int = -100,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
) -> np.ndarray:
    """Gradient of :func:`focal_loss` with respect to ``input``: ``w_t F (softmax - onehot) * g``.

    >>> import numpy as np
    >>> focal_loss_backward(1.0, np.array([[0.0, 0.0]]), np.array([0]), reduction="sum").round(6)
    array([[-0.298287,  0.298287]])
    """
    lay, w = setup(input, target, weight, ignore_index, reduction, probs_allowed=False)
    v.check_scalar(gamma, "gamma", low=0.0)
    w = _without_background(lay, w, include_background)
    xp = lay.xp
    logp, safe, wt, denominator, logp_t, q = _focal_parts(lay, w)
    p_t = xp.exp(logp_t)
    ratio = xp.where(q > 0, -logp_t / xp.where(q > 0, q, 1), 1)  # -log p_t / (1 - p_t), -> 1 as p_t -> 1
    factor = q**gamma * (1 + gamma * times(p_t, ratio, xp))  # p_t log p_t -> 0 as p_t -> 0 (logit -inf)
    g = batched_upstream(dout, lay, reduction, denominator)
    onehot = xpa.astype(lay.class_mask(safe), lay.x.dtype, xp)  # NumPy's bool * float, for every library
    a = xpa.astype(onehot * (wt * factor)[:, None, ...], lay.x.dtype, xp)
    prob = xp.exp(logp)
    # all ignored: g = 1 / 0, and 0 * inf on the ignored rows...
    grad = xpa.quietly(operator.mul, xp.sum(a, axis=1, keepdims=True) * prob - a, g)
    grad = xp.where(lay.valid[:, None, ...], grad, 0)  # ...whose gradient is 0
    return xpa.astype(xp.reshape(grad, lay.in_shape), lay.x.dtype, xp)


# --------------------------------------------------------------------------- Poly-1 cross-entropy


def _poly_setup(input, target, epsilon, reduction, where=None, axis=-1):
    """``(x, q, xp, keep, batch_shape, axis)``: logits ``x`` (M, C) with the classes last, the target distribution
    ``q`` (M, C) (0 where ``where`` excludes a class), ``keep`` the (M, C) mask or None, and how to put the
    unreduced loss (``batch_shape``) and the gradient (class ``axis``) back."""
    xp = xpa.namespace(input, target, names=("input", "target"))
    v.check_reduction(reduction)
    v.check_scalar(epsilon, "epsilon")
    v.check_scalar(axis, "axis", integer=True)
    if where is None and axis in (-1, 1) and getattr(input, "ndim", np.ndim(input)) == 2:  # optax's (N, C) layout
        x = logits_2d(input)
        return x, v.as_class_distribution(target, x, xp), xp, None, (x.shape[0],), -1
    x = v.as_float_array(input, "input")
    if x.ndim < 2:
        raise ValueError(
            f"input must be a 2-D array of logits of shape (N, C), or (N, ..., C, ...) with the "
            f"classes along axis, got an array of shape {tuple(x.shape)}"
        )
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must name an axis of the input of shape {tuple(x.shape)}, got {axis}")
    axis %= x.ndim
    if x.shape[axis] == 0:
        raise ValueError(f"input must have at least one class along axis {axis}, got shape {tuple(x.shape)}")
    t = xpa.asarray(target, xp, x)
    moved = xpa.moveaxis(x, axis, -1, xp)
    batch_shape, num_classes = tuple(moved.shape[:-1]), moved.shape[-1]
    x2 = xp.reshape(moved, (-1, num_classes))
    if tuple(t.shape) == tuple(x.shape):
        t = xp.reshape(xpa.moveaxis(t, axis, -1, xp), (-1, num_classes))
    elif tuple(t.shape) == batch_shape:
        t = xp.reshape(t, (-1,))
    else:
        raise ValueError(
            f"target must have shape {batch_shape} (class indices; the input's shape without axis "
            f"{axis}) or the input's shape {tuple(x.shape)} (class probabilities), got {tuple(t.shape)}"
        )
    q = v.as_class_distribution(t, x2, xp)
    keep = None
    if where is not None:
        mask = xpa.asarray(where, xp, x, name="where")
        if not xpa.has_kind(mask, "b", xp):
            raise TypeError(f"where must be a boolean mask, got {xpa.describe(mask)}")
        try:
            mask = xp.broadcast_to(mask, tuple(x.shape))
        except (ValueError, RuntimeError):
            raise ValueError(
                f"where of shape {tuple(mask.shape)} does not broadcast to the input's shape {tuple(x.shape)}"
            ) from None
        keep = xp.reshape(xpa.moveaxis(mask, axis, -1, xp), (-1, num_classes))

        def some_class(values, start):
            empty = ~xp.any(values, axis=1)
            if xpa.any_true(empty):
                raise ValueError("where excludes every class of a row: its softmax is undefined")

        keep = xpa.check_values(keep, some_class)
        x2 = xp.where(keep, x2, xpa.typed(-math.inf, x2, xp))  # an excluded class leaves the softmax
        q = xp.where(keep, q, xpa.typed(0.0, q, xp))  # and both sums
    return x2, q, xp, keep, batch_shape, axis


def _poly1_cross_entropy_kernel(
    input, target, *, epsilon: float = 2.0, reduction: v.Reduction = "mean", where=None, axis: int = -1
):
    if where is not None or axis not in (-1, 1) or axis.__class__ is not int:
        return None
    return _fast.poly1(input, target, epsilon, reduction)


@_fast.fused(_poly1_cross_entropy_kernel)
def poly1_cross_entropy(
    input, target, *, epsilon: float = 2.0, reduction: v.Reduction = "mean", where=None, axis: int = -1
):
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

    optax's ``axis`` and ``where`` (optax 0.2.8): ``axis`` (an int) names the class axis of an
    input of any rank >= 2 (the loss has the input's shape without it; 'mean' averages over
    all of it); ``where``, a boolean mask that broadcasts to the input, leaves the classes it
    excludes out of the softmax and of both sums (their logits and targets play no part, their
    gradient is 0). A row without any class raises (optax's softmax is NaN there).

    Shapes: ``input`` (N, C) logits (or any shape, classes along ``axis``); ``target``
    integer class indices (N,) or class probabilities (N, C) (values >= 0; normalisation
    is not checked, as in optax).
    Output: a scalar, or (N,) for ``reduction='none'``. Raises ``TypeError`` for a
    non-float input or float targets of the index shape,
    :class:`~losslab._validation.ClassIndexError` for a label outside [0, C), and
    ``ValueError`` for shapes, negative probabilities, a bad ``epsilon`` or reduction.

    >>> import numpy as np
    >>> poly1_cross_entropy(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 0]), reduction="none").round(6)
    array([1.693147, 0.365334])
    """
    x, q, xp, _, batch_shape, _ = _poly_setup(input, target, epsilon, reduction, where, axis)
    logp = log_softmax(x, axis=1)
    ce = -weighted_sum(q, logp, 1, xp)  # a class of logit -inf and target 0 adds 0
    one_minus_pt = xp.sum(q * (1 - xp.exp(logp)), axis=1)
    return reduce(xp.reshape(xpa.astype(ce + epsilon * one_minus_pt, x.dtype, xp), batch_shape), reduction)


@_fast.defbackward(poly1_cross_entropy)
def poly1_cross_entropy_backward(
    dout, input, target, *, epsilon: float = 2.0, reduction: v.Reduction = "mean", where=None, axis: int = -1
) -> np.ndarray:
    """Gradient of :func:`poly1_cross_entropy` with respect to ``input``:
    ``(sum y) p - y + eps p (p_t - y)``, times ``g``.

    >>> import numpy as np
    >>> poly1_cross_entropy_backward(1.0, np.array([[0.0, 0.0]]), np.array([0]), reduction="sum")
    array([[-1.,  1.]])
    """
    x, q, xp, keep, batch_shape, axis = _poly_setup(input, target, epsilon, reduction, where, axis)
    g = upstream(dout, batch_shape, x.dtype, reduction, like=x)
    g = xp.reshape(xp.broadcast_to(g, batch_shape), (-1,))[:, None, ...]
    p = xp.exp(log_softmax(x, axis=1))  # 0 on an excluded class
    p_t = xp.sum(q * p, axis=1, keepdims=True)
    local = xp.sum(q, axis=1, keepdims=True) * p - q + epsilon * p * (p_t - q)
    grad = xpa.astype(local * g, x.dtype, xp)
    if keep is None and len(batch_shape) == 1:
        return grad
    grad = xp.reshape(grad, batch_shape + (x.shape[1],))
    return xpa.moveaxis(grad, -1, axis, xp)
