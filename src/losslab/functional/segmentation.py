"""Overlap losses for binary and multi-class segmentation: Dice, Tversky and generalized Dice.

Layout: ``input`` is (N, C, d1, ..., dK), class axis 1 as in ``cross_entropy``,
holding probabilities (``logits=False``) or logits (``logits=True``: a sigmoid
when C == 1, a softmax over the classes otherwise). ``target`` is either the
same shape (one-hot masks or soft labels in [0, 1]) or integer class indices
(N, d1, ..., dK); with C == 1 an index target holds the labels 0 and 1 (the
foreground mask). Every loss is computed per sample over the spatial axes, so
the unreduced loss has shape (N,) and ``'mean'`` averages over the batch.

Each ``name_backward`` first forms the gradient with respect to the
probabilities, then (``logits=True``) chains it through the sigmoid or softmax.
Every function computes in the array library of its inputs (:mod:`losslab._array_api`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v
from ._reduction import reduce, upstream
from .activation import sigmoid, softmax

__all__ = [
    "dice_loss", "dice_loss_backward",
    "tversky_loss", "tversky_loss_backward",
    "generalized_dice_loss", "generalized_dice_loss_backward",
]

_INPUT_SHAPES = "of shape (N, C) or (N, C, d1, ..., dK)"


class _Seg(NamedTuple):
    x: np.ndarray        # the input as given, (N, C, *d)
    p: np.ndarray        # probabilities, (N, C, *d)
    t: np.ndarray        # target as (N, C, *d) in x's dtype
    axes: tuple          # the spatial axes, summed over
    logits: bool
    xp: Any              # the array namespace


def _seg(input, target, logits, smooth, reduction) -> _Seg:
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = v.as_float_array(input, "input")
    v.check_ndim(x, "input", range(2, 65), _INPUT_SHAPES)
    num_classes = x.shape[1]
    if num_classes == 0:
        raise ValueError(f"input must have at least one class along axis 1, got shape {tuple(x.shape)}")
    logits = v.check_bool(logits, "logits")
    v.check_scalar(smooth, "smooth", low=0.0)
    v.check_reduction(reduction)
    t = xpa.asarray(target, xp, x)
    shape = tuple(x.shape)
    index_shape = shape[:1] + shape[2:]
    if tuple(t.shape) == shape:
        t = v.as_real_like(t, "target", x)
        t = v.check_unit_interval(t, "target", hint=" (one-hot masks or soft labels)")
    elif tuple(t.shape) == index_shape:
        # C == 1: labels 0 / 1 are the foreground mask; otherwise one-hot over the C classes
        labels = v.as_class_indices(t, "target", max(num_classes, 2), shape=index_shape, like=x)
        classes = xp.reshape(xpa.arange(num_classes, labels, xp), (1, -1) + (1,) * (x.ndim - 2))
        t = xpa.astype(xp.expand_dims(labels, axis=1) == (classes + int(num_classes == 1)), x.dtype, xp)
    else:
        raise ValueError(f"target must have the input's shape {shape} (masks or soft labels) or "
                         f"{index_shape} (class indices), got {tuple(t.shape)}")
    if logits:
        p = sigmoid(x) if num_classes == 1 else softmax(x, axis=1)
    else:
        x = v.check_unit_interval(x, "input", hint=" (probabilities; pass logits=True for logits)")
        p = x
    return _Seg(x, p, t, tuple(range(2, x.ndim)), logits, xp)


def _nonzero(denominator: np.ndarray, what: str) -> np.ndarray:
    """``denominator``, checked for a 0 (smooth = 0 and nothing to overlap), an error naming the sample."""
    def nonzero(values, start):
        if xpa.any_true(values == 0):
            n, c = (int(i) + s for i, s in zip(xpa.first_index(values == 0)[:2], start))
            where = f"sample {n}" if what == "generalized dice" else f"sample {n}, class {c}"
            raise ValueError(f"the {what} denominator is 0 for {where}: nothing is predicted or present "
                             f"there; pass smooth > 0")
    return xpa.check_values(denominator, nonzero)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, what: str) -> np.ndarray:
    """``numerator / denominator``; a zero denominator (smooth = 0 and nothing to overlap) is an error."""
    return numerator / _nonzero(denominator, what)


def _to_input(s: _Seg, grad_p: np.ndarray) -> np.ndarray:
    """Chain a gradient with respect to the probabilities through the sigmoid / softmax."""
    if not s.logits:
        return grad_p
    if s.x.shape[1] == 1:
        return grad_p * s.p * (1 - s.p)
    return s.p * (grad_p - s.xp.sum(s.p * grad_p, axis=1, keepdims=True))


def _per_sample(s: _Seg, dout, reduction) -> np.ndarray:
    """The upstream gradient as (N, 1, 1, ...), to scale a (N, C, *d) array."""
    xp, n = s.xp, s.x.shape[0]
    g = upstream(dout, (n,), s.x.dtype, reduction, like=s.x)
    return xp.reshape(xp.broadcast_to(g, (n,)), (n,) + (1,) * (s.x.ndim - 1))


def _spatial(a: np.ndarray, s: _Seg) -> np.ndarray:
    """Sum over the spatial axes, keeping them (so it broadcasts back against (N, C, *d))."""
    if not s.axes and s.xp is not np:  # (N, C) input: nothing to sum (torch would read axis=() as all axes)
        return a
    return s.xp.sum(a, axis=s.axes, keepdims=True)


# --------------------------------------------------------------------------- Dice

def _dice_parts(s: _Seg, smooth):
    intersection = _spatial(s.p * s.t, s)
    denominator = _spatial(s.p, s) + _spatial(s.t, s) + smooth
    return _ratio(2 * intersection + smooth, denominator, "dice"), denominator


def dice_loss(input, target, *, smooth: float = 1.0, logits: bool = False, reduction: v.Reduction = "mean"):
    r"""Soft Dice loss per sample, averaged over classes (Milletari et al. 2016, "V-Net").

    For sample :math:`n` and class :math:`c`, summing over the spatial positions :math:`i`
    with probabilities :math:`p` and target :math:`t`, and :math:`s` = ``smooth``:

    .. math:: D_{nc} = \frac{2 \sum_i p_i t_i + s}{\sum_i p_i + \sum_i t_i + s}, \qquad
              \ell_n = 1 - \frac{1}{C} \sum_c D_{nc}

    .. math:: \frac{\partial \ell_n}{\partial p_{nci}} =
              -\frac{1}{C}\, \frac{2 t_i - D_{nc}}{\sum_i p_i + \sum_i t_i + s}

    (then through the sigmoid / softmax when ``logits=True``). This is the definition of
    MONAI's ``DiceLoss`` with ``smooth_nr = smooth_dr = smooth``, ``batch=False``, whose
    'mean' over (N, C) equals our 'mean' over N, and of ``optax.losses.dice_loss`` up to
    optax 0.2.6 with the same ``smooth`` (classes last there, ``reduction='mean'`` over
    classes). Since optax 0.2.7, optax's ``dice_loss(smooth=s)`` is
    :math:`1 - (2 \sum_i p_i t_i + 2s) / (\sum_i p_i + \sum_i t_i + 2s)`: losslab's
    ``dice_loss(smooth=2 * s)``, or ``tversky_loss(smooth=s)``.

    Shapes: ``input`` (N, C, d1, ..., dK) probabilities in [0, 1] (or logits); ``target`` the
    same shape with values in [0, 1], or integer class indices (N, d1, ..., dK) (labels 0/1
    when C == 1). Output: a scalar, or (N,) for ``reduction='none'``. Options:
    ``smooth`` >= 0, ``logits``. Raises ``TypeError`` for a non-float input or non-integer
    index target, :class:`~losslab._validation.ClassIndexError` for a label out of range,
    ``ValueError`` for probabilities or targets outside [0, 1], shapes, options, the reduction,
    or a zero denominator (``smooth = 0`` with a class absent from prediction and target).

    >>> import numpy as np
    >>> p = np.array([[[0.9, 0.2, 0.6, 0.1]]])   # N = 1, C = 1, four pixels
    >>> t = np.array([[[1.0, 0.0, 1.0, 0.0]]])
    >>> round(float(dice_loss(p, t)), 6)           # 1 - (2 * 1.5 + 1) / (1.8 + 2 + 1)
    0.166667
    """
    s = _seg(input, target, logits, smooth, reduction)
    dice, _ = _dice_parts(s, smooth)
    loss = 1 - s.xp.mean(s.xp.reshape(dice, dice.shape[:2]), axis=1)
    return reduce(xpa.astype(loss, s.x.dtype, s.xp), reduction)


def dice_loss_backward(dout, input, target, *, smooth: float = 1.0, logits: bool = False,
                       reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`dice_loss` with respect to ``input``:
    ``-(2 t - D) / (C (sum p + sum t + s))`` per pixel, times ``g``.

    >>> import numpy as np
    >>> dice_loss_backward(1.0, np.array([[[0.5, 0.5]]]), np.array([[[1.0, 0.0]]]), smooth=0.0)
    array([[[-0.75,  0.25]]])
    """
    s = _seg(input, target, logits, smooth, reduction)
    g = _per_sample(s, dout, reduction)
    dice, denominator = _dice_parts(s, smooth)
    grad_p = -(2 * s.t - dice) / (s.x.shape[1] * denominator) * g
    return xpa.astype(_to_input(s, grad_p), s.x.dtype, s.xp)


# --------------------------------------------------------------------------- Tversky

def _tversky_parts(s: _Seg, alpha, beta, smooth):
    tp = _spatial(s.p * s.t, s)
    fp = _spatial(s.p * (1 - s.t), s)
    fn = _spatial((1 - s.p) * s.t, s)
    denominator = tp + alpha * fp + beta * fn + smooth
    return _ratio(tp + smooth, denominator, "Tversky"), denominator


def tversky_loss(input, target, *, alpha: float = 0.5, beta: float = 0.5, smooth: float = 1.0,
                 logits: bool = False, reduction: v.Reduction = "mean"):
    r"""Tversky loss per sample, averaged over classes (Salehi et al. 2017, "Tversky loss function
    for image segmentation using 3D fully convolutional deep networks").

    With :math:`TP = \sum_i p_i t_i`, :math:`FP = \sum_i p_i (1 - t_i)`,
    :math:`FN = \sum_i (1 - p_i) t_i` per sample and class, :math:`s` = ``smooth``:

    .. math:: T_{nc} = \frac{TP + s}{TP + \alpha\, FP + \beta\, FN + s}, \qquad
              \ell_n = 1 - \frac{1}{C} \sum_c T_{nc}

    .. math:: \frac{\partial \ell_n}{\partial p_{nci}} = -\frac{1}{C}\,
              \frac{t_i - T_{nc} \left(t_i + \alpha (1 - t_i) - \beta t_i\right)}{TP + \alpha FP + \beta FN + s}

    ``alpha`` weighs false positives, ``beta`` false negatives. This is MONAI's
    ``TverskyLoss`` with ``smooth_nr = smooth_dr = smooth``, ``batch=False`` (its 'mean'
    over (N, C) equals ours over N). With ``alpha = beta = 0.5`` the denominator is
    :math:`(\sum p + \sum t)/2 + s`, so ``tversky_loss(smooth=s)`` equals
    ``dice_loss(smooth=2 s)`` exactly (and the two agree at ``smooth = 0``).

    Shapes, ``logits`` and errors as :func:`dice_loss`; ``alpha``, ``beta`` >= 0.

    >>> import numpy as np
    >>> p = np.array([[[0.9, 0.2, 0.6, 0.1]]])
    >>> t = np.array([[[1.0, 0.0, 1.0, 0.0]]])
    >>> round(float(tversky_loss(p, t, alpha=0.3, beta=0.7)), 6)   # 1 - 2.5 / (1.5 + 0.09 + 0.35 + 1)
    0.14966
    """
    s = _seg(input, target, logits, smooth, reduction)
    v.check_scalar(alpha, "alpha", low=0.0)
    v.check_scalar(beta, "beta", low=0.0)
    index, _ = _tversky_parts(s, alpha, beta, smooth)
    loss = 1 - s.xp.mean(s.xp.reshape(index, index.shape[:2]), axis=1)
    return reduce(xpa.astype(loss, s.x.dtype, s.xp), reduction)


def tversky_loss_backward(dout, input, target, *, alpha: float = 0.5, beta: float = 0.5, smooth: float = 1.0,
                          logits: bool = False, reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`tversky_loss` with respect to ``input``.

    >>> import numpy as np
    >>> tversky_loss_backward(1.0, np.array([[[0.5, 0.5]]]), np.array([[[1.0, 0.0]]]), smooth=0.0)
    array([[[-0.75,  0.25]]])
    """
    s = _seg(input, target, logits, smooth, reduction)
    v.check_scalar(alpha, "alpha", low=0.0)
    v.check_scalar(beta, "beta", low=0.0)
    g = _per_sample(s, dout, reduction)
    index, denominator = _tversky_parts(s, alpha, beta, smooth)
    d_denominator = s.t + alpha * (1 - s.t) - beta * s.t
    grad_p = -(s.t - index * d_denominator) / (s.x.shape[1] * denominator) * g
    return xpa.astype(_to_input(s, grad_p), s.x.dtype, s.xp)


# --------------------------------------------------------------------------- generalized Dice

def _generalized_parts(s: _Seg, smooth):
    """``(weights, A, B)``: class weights (N, C, 1, ...), and the ratio A / B per sample (N, 1, 1, ...)."""
    xp = s.xp
    volume = _spatial(s.t, s)
    absent = volume == 0
    w = 1 / xp.where(absent, 1, volume) ** 2
    # MONAI: a class absent from a sample's target takes the largest weight of that sample's
    # present classes (0 if none is present), instead of an infinite weight
    largest = xp.max(xp.where(absent, 0, w), axis=1, keepdims=True)
    w = xp.where(absent, largest, w)
    a = 2 * xp.sum(w * _spatial(s.p * s.t, s), axis=1, keepdims=True) + smooth
    b = xp.sum(w * (_spatial(s.p, s) + volume), axis=1, keepdims=True) + smooth
    return w, a, _nonzero(b, "generalized dice")


def generalized_dice_loss(input, target, *, smooth: float = 1e-5, logits: bool = False,
                          reduction: v.Reduction = "mean"):
    r"""Generalized Dice loss per sample (Sudre et al. 2017, "Generalised Dice overlap as a deep learning
    loss function for highly unbalanced segmentations").

    One ratio over all classes, each weighted by its inverse squared target volume
    :math:`w_c = 1 / (\sum_i t_{ci})^2` (computed from the target only, a constant for the
    gradient), :math:`s` = ``smooth``:

    .. math:: \ell_n = 1 - \frac{A}{B}, \quad A = 2 \sum_c w_c \sum_i p_{ci} t_{ci} + s, \quad
              B = \sum_c w_c \sum_i (p_{ci} + t_{ci}) + s

    .. math:: \frac{\partial \ell_n}{\partial p_{ci}} = \frac{w_c}{B} \left(\frac{A}{B} - 2 t_{ci}\right)

    This is MONAI's ``GeneralizedDiceLoss`` (``w_type='square'``, ``batch=False``,
    ``smooth_nr = smooth_dr = smooth``, default 1e-5), including its rule for a class absent
    from a sample's target (an infinite weight): it gets the largest weight among that
    sample's present classes (0 if none is present, making the loss 0 when ``smooth > 0``).
    MONAI computes the weights in float32; here they keep the input's dtype.

    Shapes, ``logits`` and errors as :func:`dice_loss`.

    >>> import numpy as np
    >>> p = np.array([[[0.9, 0.2, 0.6, 0.1], [0.1, 0.8, 0.4, 0.9]]])   # C = 2
    >>> # w = 1/2^2 for both classes: 1 - 2 (0.25 * 1.5 + 0.25 * 1.7) / (0.25 * (3.8 + 4.2))
    >>> round(float(generalized_dice_loss(p, np.array([[0, 1, 0, 1]]), smooth=0.0)), 6)
    0.2
    """
    s = _seg(input, target, logits, smooth, reduction)
    _, a, b = _generalized_parts(s, smooth)
    loss = 1 - s.xp.reshape(a / b, (-1,))
    return reduce(xpa.astype(loss, s.x.dtype, s.xp), reduction)


def generalized_dice_loss_backward(dout, input, target, *, smooth: float = 1e-5, logits: bool = False,
                                   reduction: v.Reduction = "mean") -> np.ndarray:
    """Gradient of :func:`generalized_dice_loss` with respect to ``input``: ``w_c / B (A / B - 2 t)``, times ``g``.

    >>> import numpy as np
    >>> generalized_dice_loss_backward(1.0, np.array([[[0.5, 0.5]]]), np.array([[[1.0, 0.0]]]), smooth=0.0)
    array([[[-0.75,  0.25]]])
    """
    s = _seg(input, target, logits, smooth, reduction)
    g = _per_sample(s, dout, reduction)
    w, a, b = _generalized_parts(s, smooth)
    grad_p = w / b * (a / b - 2 * s.t) * g
    return xpa.astype(_to_input(s, grad_p), s.x.dtype, s.xp)
