"""Overlap losses for binary and multi-class segmentation: Dice, Tversky and generalized Dice.

Layout: ``input`` is (N, C, d1, ..., dK), class axis 1 as in ``cross_entropy`` (another
axis with ``class_axis``, e.g. -1 for optax's classes-last layout), holding probabilities
or, with an activation, scores: ``logits=True`` (a sigmoid when C == 1, a softmax over the
classes otherwise, as optax's ``apply_softmax``), or MONAI's ``sigmoid=True`` (per class),
``softmax=True`` or ``other_act=(act, act_derivative)``. ``target`` is either the same shape
(one-hot masks or soft labels in [0, 1]) or integer class indices (N, d1, ..., dK); with
C == 1 an index target holds the labels 0 and 1 (the foreground mask), and index targets
equal to ``ignore_index`` leave the sums. Every loss is computed per sample over the
spatial axes (over the batch too with ``batch=True``), so the unreduced loss has shape (N,)
((1,) with ``batch=True``; (N, C) per class with ``per_class=True``) and ``'mean'``
averages over it.

All three share one core: per (sample, class) the sums :math:`TP = \\sum_i p_i t_i`,
:math:`P = \\sum_i p_i` and :math:`G = \\sum_i t_i` (MONAI's ``compute_tp_fp_fn``:
:math:`FP = P - TP`, :math:`FN = G - TP`), a ratio :math:`R(TP, P, G)` and its partial
derivatives, and the gradient
:math:`\\partial R / \\partial p_i = R_{TP}\\, \\partial TP / \\partial p_i + R_P\\, \\partial P / \\partial p_i`,
then chained through the masking, the dropped background and the activation.
Every function computes in the array library of its inputs (:mod:`losslab._array_api`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._reduction import reduce, upstream
from .activation import sigmoid as _sigmoid
from .activation import softmax as _softmax

__all__ = [
    "dice_loss",
    "dice_loss_backward",
    "tversky_loss",
    "tversky_loss_backward",
    "generalized_dice_loss",
    "generalized_dice_loss_backward",
]

_INPUT_SHAPES = "of shape (N, C) or (N, C, d1, ..., dK)"
W_TYPES = ("square", "simple", "uniform")
AVERAGES = ("macro", "micro")


class _Opts(NamedTuple):
    """The options shared by the three losses, checked."""

    act: str  # "none" | "auto" (logits) | "sigmoid" | "softmax" | "other"
    other_act: Any  # (act, derivative), or None
    include_background: bool
    batch: bool
    nr: float  # smooth_nr
    dr: float  # smooth_dr
    soft_label: bool
    squared_pred: bool
    jaccard: bool
    average: str
    per_class: bool
    ignore_index: int
    class_axis: int


def check_other_act(other_act) -> tuple | None:
    """``other_act``: ``None`` or a pair ``(act, act_derivative)`` of elementwise callables."""
    if other_act is None:
        return None
    if not isinstance(other_act, tuple) or len(other_act) != 2 or not all(callable(f) for f in other_act):
        raise TypeError(
            f"other_act must be None or a pair (act, act_derivative) of elementwise callables "
            f"(the derivative gives the analytic backward), got {other_act!r}"
        )
    return other_act


def check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _options(
    smooth,
    logits,
    reduction,
    *,
    include_background=True,
    sigmoid=False,
    softmax=False,
    other_act=None,
    squared_pred=False,
    jaccard=False,
    batch=False,
    smooth_nr=None,
    smooth_dr=None,
    soft_label=False,
    average="macro",
    per_class=False,
    ignore_index=-100,
    class_axis=1,
) -> _Opts:
    v.check_scalar(smooth, "smooth", low=0.0)
    v.check_reduction(reduction)
    flags = {
        name: v.check_bool(value, name)
        for name, value in (
            ("logits", logits),
            ("sigmoid", sigmoid),
            ("softmax", softmax),
            ("include_background", include_background),
            ("squared_pred", squared_pred),
            ("jaccard", jaccard),
            ("batch", batch),
            ("soft_label", soft_label),
            ("per_class", per_class),
        )
    }
    other_act = check_other_act(other_act)
    chosen = [name for name in ("logits", "sigmoid", "softmax") if flags[name]] + (["other_act"] if other_act else [])
    if len(chosen) > 1:
        raise ValueError(
            f"at most one activation may be chosen among logits, sigmoid, softmax and other_act, "
            f"got {', '.join(chosen)}"
        )
    act = {"logits": "auto", "sigmoid": "sigmoid", "softmax": "softmax", "other_act": "other"}.get(
        chosen[0] if chosen else "", "none"
    )
    nr = smooth if smooth_nr is None else v.check_scalar(smooth_nr, "smooth_nr", low=0.0)
    dr = smooth if smooth_dr is None else v.check_scalar(smooth_dr, "smooth_dr", low=0.0)
    check_choice(average, "average", AVERAGES)
    if average == "micro" and flags["per_class"]:
        raise ValueError("per_class=True needs average='macro' (a 'micro' ratio sums over the classes)")
    v.check_scalar(ignore_index, "ignore_index", integer=True)
    v.check_scalar(class_axis, "class_axis", integer=True)
    return _Opts(
        act,
        other_act,
        flags["include_background"],
        flags["batch"],
        nr,
        dr,
        flags["soft_label"],
        flags["squared_pred"],
        flags["jaccard"],
        average,
        flags["per_class"],
        int(ignore_index),
        int(class_axis),
    )


class _Seg(NamedTuple):
    x: Any  # the input with its class axis at 1, (N, C, *d)
    p: Any  # probabilities of every class, (N, C, *d)
    q: Any  # probabilities of the scored classes, ignored pixels 0, (N, C', *d)
    t: Any  # target of the scored classes, ignored pixels 0, (N, C', *d), in x's dtype
    mask: Any  # (N, 1, *d): 1 where a pixel is scored, 0 where its label is ignore_index; or None
    axes: tuple  # the axes summed: the spatial ones, and 0 with batch=True
    o: _Opts
    xp: Any  # the array namespace


def _class_axis(o: _Opts, ndim: int) -> int:
    a = o.class_axis
    if not -ndim <= a < ndim or a % ndim == 0:
        raise ValueError(
            f"class_axis must name an axis of the input other than the batch axis 0 "
            f"(1 to {ndim - 1}, or -{ndim - 1} to -1), got {a}"
        )
    return a % ndim


def _activate(x, o: _Opts, xp):
    num_classes = x.shape[1]
    if o.act == "auto":
        return _sigmoid(x) if num_classes == 1 else _softmax(x, axis=1)
    if o.act == "sigmoid":
        return _sigmoid(x)
    if o.act == "softmax":
        if num_classes == 1:
            raise ValueError(
                "softmax=True needs at least 2 classes along the class axis, got 1 "
                "(pass sigmoid=True for one foreground channel)"
            )
        return _softmax(x, axis=1)
    if o.act == "other":
        p = o.other_act[0](x)
        if tuple(getattr(p, "shape", ())) != tuple(x.shape):
            raise ValueError(
                f"other_act must map the input elementwise: it returned shape "
                f"{tuple(getattr(p, 'shape', ()))} "
                f"for an input of shape {tuple(x.shape)}"
            )
        return xpa.astype(p, x.dtype, xp)
    return v.check_unit_interval(x, "input", hint=" (probabilities; pass logits=True for logits)")


def _seg(input, target, o: _Opts) -> _Seg:
    xp = xpa.namespace(input, target, names=("input", "target"))
    x = v.as_float_array(input, "input")
    v.check_ndim(x, "input", range(2, 65), _INPUT_SHAPES)
    axis = _class_axis(o, x.ndim)
    t = xpa.asarray(target, xp, x)
    dense = tuple(t.shape) == tuple(x.shape)
    if axis != 1:
        x = xpa.moveaxis(x, axis, 1, xp)
        if dense:
            t = xpa.moveaxis(t, axis, 1, xp)
    num_classes = x.shape[1]
    if num_classes == 0:
        raise ValueError(f"input must have at least one class along its class axis, got shape {tuple(input.shape)}")
    shape = tuple(x.shape)
    index_shape = shape[:1] + shape[2:]
    mask = None
    if dense:
        t = v.as_real_like(t, "target", x)
        t = v.check_unit_interval(t, "target", hint=" (one-hot masks or soft labels)")
    elif tuple(t.shape) == index_shape:
        # C == 1: labels 0 / 1 are the foreground mask; otherwise one-hot over the C classes
        labels = v.as_class_indices(
            t, "target", max(num_classes, 2), ignore_index=o.ignore_index, shape=index_shape, like=x
        )
        kept = labels != o.ignore_index
        labels = xp.where(kept, labels, 0)
        classes = xp.reshape(xpa.arange(num_classes, labels, xp), (1, -1) + (1,) * (x.ndim - 2))
        t = xpa.astype(xp.expand_dims(labels, axis=1) == (classes + int(num_classes == 1)), x.dtype, xp)
        mask = xpa.astype(xp.expand_dims(kept, axis=1), x.dtype, xp)
    else:
        raise ValueError(
            f"target must have the input's shape {tuple(input.shape)} (masks or soft labels) or "
            f"{index_shape} (class indices), got {tuple(t.shape)}"
        )
    p = _activate(x, o, xp)
    q = p
    if not o.include_background:
        if num_classes == 1:
            raise ValueError(
                "include_background=False needs at least 2 classes along the class axis "
                "(the first is the background), got 1"
            )
        q, t = q[:, 1:, ...], t[:, 1:, ...]
    if mask is not None:
        q, t = q * mask, t * mask
    axes = ((0,) if o.batch else ()) + tuple(range(2, x.ndim))
    return _Seg(x, p, q, t, mask, axes, o, xp)


def _sum(a, s: _Seg):
    """Sum over the summed axes, keeping them (so it broadcasts back against (N, C', *d))."""
    if not s.axes and s.xp is not np:  # (N, C) input: nothing to sum (torch would read axis=() as all axes)
        return a
    return s.xp.sum(a, axis=s.axes, keepdims=True)


class _Stats(NamedTuple):
    """Per (sample, class) sums, shape (N or 1, C', 1, ...), and their derivatives with respect to q."""

    tp: Any
    pred: Any  # P: sum q (sum q^2 with squared_pred)
    ground: Any  # G: sum t (sum t^2 with squared_pred)
    d_tp: Any  # dTP / dq, per pixel
    d_pred: Any  # dP / dq, per pixel (or the scalar 1)


def _stats(s: _Seg) -> _Stats:
    """MONAI's ``compute_tp_fp_fn``: ``TP = sum q t`` (with ``soft_label``, ``(P + G - sum |q - t|) / 2``,
    which is ``sum min(q, t)`` and agrees with ``sum q t`` on hard labels); ``squared_pred`` squares q and t
    in P and G (there TP is ``sum q t`` again: MONAI's order-2 norms give exactly that)."""
    xp, q, t = s.xp, s.q, s.t
    if s.o.squared_pred:
        return _Stats(_sum(q * t, s), _sum(q * q, s), _sum(t * t, s), t, 2 * q)
    pred, ground = _sum(q, s), _sum(t, s)
    if s.o.soft_label:
        tp = (pred + ground - _sum(xp.abs(q - t), s)) / 2
        return _Stats(tp, pred, ground, (1 - xp.sign(q - t)) / 2, 1)
    return _Stats(_sum(q * t, s), pred, ground, t, 1)


def _nonzero(denominator, s: _Seg, what: str, per_class: bool = True):
    """``denominator``, checked for a 0 (smooth_dr = 0 and nothing to overlap), an error naming the sample."""
    batch = s.o.batch

    def nonzero(values, start):
        if xpa.any_true(values == 0):
            n, c = (int(i) + j for i, j in zip(xpa.first_index(values == 0)[:2], start[:2], strict=True))
            where = "the batch" if batch else f"sample {n}"
            where += f", class {c + int(not s.o.include_background)}" if per_class else ""
            raise ValueError(
                f"the {what} denominator is 0 for {where}: nothing is predicted or present "
                f"there; pass smooth > 0 (or smooth_dr > 0)"
            )

    return xpa.check_values(denominator, nonzero)


def _dice_ratio(st: _Stats, s: _Seg, per_class: bool = True):
    """``(R, dR/dTP, dR/dP)``: Dice ``(2 TP + nr) / (P + G + dr)``, or with ``jaccard``
    ``(2 TP + nr) / (2 (P + G - TP) + dr)`` (MONAI's soft IoU, twice the usual Jaccard's smoothing)."""
    o = s.o
    if o.jaccard:
        den = _nonzero(2 * (st.pred + st.ground - st.tp) + o.dr, s, "Jaccard", per_class)
        r = (2 * st.tp + o.nr) / den
        return r, (2 + 2 * r) / den, -2 * r / den
    den = _nonzero(st.pred + st.ground + o.dr, s, "dice", per_class)
    r = (2 * st.tp + o.nr) / den
    return r, 2 / den, -r / den


def _class_weight(weight, s: _Seg):
    """The per-class ``weight`` of the scored classes as (1, C', 1, ...), checked (>= 0), or None."""
    if weight is None:
        return None
    xp, c = s.xp, s.q.shape[1]
    what = "" if s.o.include_background else " (include_background=False: the background class has no weight)"
    try:
        w = v.check_weight(weight, "weight", c, s.x.dtype, like=s.x, xp=xp)
    except ValueError as error:
        raise ValueError(f"{error}{what}") from None

    def non_negative(values, start):
        if xpa.any_true(values < 0):
            raise ValueError(f"weight must hold values >= 0, got {float(xpa.first_value(values, values < 0))!r}")

    w = xpa.check_values(w, non_negative)
    return xp.reshape(w, (1, c) + (1,) * (s.x.ndim - 2))


def _pooled(st: _Stats, w, xp) -> _Stats:
    """The sums over the classes, each class's terms scaled by ``w`` ('micro' averaging, generalized Dice)."""

    def total(a):
        return a if w is None else a * w

    tp, pred, ground = (xp.sum(total(a), axis=1, keepdims=True) for a in (st.tp, st.pred, st.ground))
    return _Stats(tp, pred, ground, None, None)


def _loss(s: _Seg, r, w, micro: bool):
    """The unreduced loss from the ratio ``r``: ``1 - R`` per sample ('micro', generalized Dice), or the class
    mean of ``w_c (1 - R_c)`` ((N, C') with ``per_class``)."""
    xp = s.xp
    f = 1 - r
    if micro:
        return xp.reshape(f, (f.shape[0],))
    if w is not None:
        f = f * w
    f = xp.reshape(f, tuple(f.shape[:2]))
    return f if s.o.per_class else xp.mean(f, axis=1)


def _input_grad(s: _Seg, st: _Stats, a, b, coef, dout, reduction, out_shape):
    """``-coef (a dTP/dq + b dP/dq) g``, chained back to the input: ``a``, ``b`` the ratio's partial derivatives,
    ``coef`` the weight of each class's ratio in the loss, ``g`` the upstream gradient of the (out_shape) loss."""
    xp, x, o = s.xp, s.x, s.o
    g = upstream(dout, out_shape, x.dtype, reduction, like=x)
    g = xp.reshape(xp.broadcast_to(g, out_shape), out_shape + (1,) * (x.ndim - len(out_shape)))
    grad = -(a * st.d_tp + b * st.d_pred) * (coef * g)
    if s.mask is not None:
        grad = grad * s.mask
    grad = xp.broadcast_to(grad, tuple(s.q.shape))
    if not o.include_background:
        zeros = xpa.full((x.shape[0], 1) + tuple(x.shape[2:]), 0, grad, xp)
        grad = xpa.concat([zeros, grad], xp, axis=1)
    p, num_classes = s.p, x.shape[1]
    if o.act == "sigmoid" or (o.act == "auto" and num_classes == 1):
        grad = grad * p * (1 - p)
    elif o.act in ("softmax", "auto"):
        grad = p * (grad - xp.sum(p * grad, axis=1, keepdims=True))
    elif o.act == "other":
        grad = grad * xpa.astype(o.other_act[1](x), x.dtype, xp)
    if o.class_axis % x.ndim != 1:
        grad = xpa.moveaxis(grad, 1, o.class_axis % x.ndim, xp)
    return xpa.astype(grad, x.dtype, xp)


def _macro_or_micro(s: _Seg, ratio, weight):
    """``(loss, R, dR/dTP, dR/dP, coef, stats)`` of Dice or Tversky, 'macro' or 'micro'."""
    st = _stats(s)
    w = _class_weight(weight, s)
    micro = s.o.average == "micro"
    r, a, b = ratio(_pooled(st, w, s.xp) if micro else st, s, not micro)
    coef = 1 if w is None else w
    if not micro and not s.o.per_class:
        coef = coef / s.q.shape[1]
    return _loss(s, r, w, micro), a, b, coef, st


def _out_shape(s: _Seg) -> tuple[int, ...]:
    n = 1 if s.o.batch else s.x.shape[0]
    if s.o.per_class and s.o.average == "macro":
        return (n, s.q.shape[1])
    return (n,)


# --------------------------------------------------------------------------- Dice


def _plain(include_background, other_act, weight, class_axis, flags, nr, dr) -> bool:
    """The options of the fused overlap kernels: MONAI's defaults but for the activation (see :func:`_act`)."""
    if not (
        include_background is True
        and other_act is None
        and weight is None
        and class_axis.__class__ is int
        and class_axis == 1
        and nr is None
        and dr is None
    ):
        return False
    for flag in flags:  # a loop, not all(...): this runs on every call
        if flag is not False:
            return False
    return True


def _act(logits, sigmoid, softmax) -> str | None:
    """The fused kernels' activation: ``"none"``, ``"auto"`` (``logits``), ``"sigmoid"`` or ``"softmax"``;
    ``None`` (the definitions answer) for flags that are not booleans or more than one chosen."""
    if sigmoid is False and softmax is False:
        return "none" if logits is False else ("auto" if logits is True else None)
    if logits is False and (sigmoid is True) != (softmax is True) and (sigmoid is False or softmax is False):
        return "sigmoid" if sigmoid is True else "softmax"
    return None


def _dice_loss_kernel(
    input,
    target,
    *,
    smooth: float = 1.0,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act=None,
    squared_pred: bool = False,
    jaccard: bool = False,
    batch: bool = False,
    smooth_nr=None,
    smooth_dr=None,
    weight=None,
    soft_label: bool = False,
    average="macro",
    per_class: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
):
    flags = (squared_pred, jaccard, batch, soft_label, per_class)
    act = _act(logits, sigmoid, softmax)
    if (
        act is None
        or average != "macro"
        or not _plain(include_background, other_act, weight, class_axis, flags, smooth_nr, smooth_dr)
    ):
        return None
    return _fast.overlap(input, target, _fast.DICE, smooth, act, 0.0, 0.0, ignore_index, reduction)


@_fast.fused(_dice_loss_kernel)
def dice_loss(
    input,
    target,
    *,
    smooth: float = 1.0,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: tuple[Callable, Callable] | None = None,
    squared_pred: bool = False,
    jaccard: bool = False,
    batch: bool = False,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    weight=None,
    soft_label: bool = False,
    average: Literal["macro", "micro"] = "macro",
    per_class: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
):
    r"""Soft Dice loss per sample, averaged over classes (Milletari et al. 2016, "V-Net").

    For sample :math:`n` and class :math:`c`, summing over the spatial positions :math:`i`
    with probabilities :math:`p` and target :math:`t`, :math:`s_n` = ``smooth_nr`` and
    :math:`s_d` = ``smooth_dr`` (both ``smooth`` unless given), :math:`w_c` = ``weight``
    (1 unless given) and :math:`C` the number of scored classes:

    .. math:: D_{nc} = \frac{2 \sum_i p_i t_i + s_n}{\sum_i p_i + \sum_i t_i + s_d}, \qquad
              \ell_n = \frac{1}{C} \sum_c w_c (1 - D_{nc})

    .. math:: \frac{\partial \ell_n}{\partial p_{nci}} =
              -\frac{w_c}{C}\, \frac{2 t_i - D_{nc}}{\sum_i p_i + \sum_i t_i + s_d}

    (then through the activation). The options are MONAI's (``monai.losses.DiceLoss``,
    MONAI 1.6.1), with the same names and meaning:

    - ``include_background=False`` drops class 0 after the activation (C >= 2 needed;
      MONAI ignores it with a warning at C == 1).
    - ``sigmoid`` (per class), ``softmax`` (C >= 2), ``other_act=(act, act_derivative)``
      (MONAI takes ``act`` alone; the derivative gives the analytic backward), or losslab's
      ``logits`` (sigmoid at C == 1, softmax otherwise: optax's ``apply_softmax``); at most one.
    - ``squared_pred``: :math:`\sum p^2` and :math:`\sum t^2` in the denominator (the
      gradient's :math:`D` term doubles to :math:`2 p_i D`).
    - ``jaccard``: :math:`J = (2 \sum p t + s_n) / (2 (\sum p + \sum t - \sum p t) + s_d)`.
    - ``batch``: the sums run over the batch too, one ratio per class for the whole batch; the
      unreduced loss then has shape (1,) (MONAI's (C,) is ``per_class=True``'s (1, C)).
    - ``soft_label``: :math:`\sum p t` becomes :math:`(\sum p + \sum t - \sum |p - t|)/2
      = \sum \min(p, t)`, exact for soft labels, equal for hard ones.
    - ``weight`` (C,) >= 0, one per scored class (without the background when
      ``include_background=False``), multiplies each class's loss before the class mean. MONAI
      applies it only when more than one class is scored; here it applies at C == 1 as well.
    - ``ignore_index``: index-target pixels with this label leave every sum (MONAI's and kornia's
      ``ignore_index``; the default -100 of ``CrossEntropyLoss`` and kornia; masks have none).

    Mapping the peers' reductions and layouts: MONAI's 'mean' is over (N, C), as ours over N
    of the class mean; MONAI's defaults ``smooth_nr = smooth_dr = 1e-5`` are ``smooth=1e-5``.
    ``per_class=True`` keeps the class axis: the unreduced loss is (N, C) (optax's
    ``reduction='none'``, MONAI's 'none' without its trailing axes), and 'mean' / 'sum'
    reduce over all of it. ``class_axis`` names the input's class axis (optax's layout is
    ``class_axis=-1``). This is ``optax.losses.dice_loss`` up to optax 0.2.6 with the same
    ``smooth`` (its 'mean' over classes). Since optax 0.2.7, optax's ``dice_loss(smooth=s)`` is
    :math:`1 - (2 \sum_i p_i t_i + 2s) / (\sum_i p_i + \sum_i t_i + 2s)`: losslab's
    ``dice_loss(smooth=2 * s)``, or ``tversky_loss(smooth=s)``; optax 0.2.8's
    ``dice_loss(smooth=s, class_weights=w, ignore_background=True)`` is ``tversky_loss(smooth=s,
    weight=w[1:], include_background=False, logits=True, class_axis=-1)``, ``reduction='none'``
    per sample. kornia 0.9.0's
    ``dice_loss(average='micro', eps=e, weight=w)`` is ``average='micro', smooth_nr=0,
    smooth_dr=e, weight=w, logits=True`` (C >= 2): one ratio per sample with each class's
    terms weighted, :math:`1 - (2 \sum_c w_c \sum_i p t + s_n) / (\sum_c w_c \sum_i (p + t) + s_d)`;
    kornia's 'macro' averages only the classes present in the sample and is not offered.

    Shapes: ``input`` (N, C, d1, ..., dK) probabilities in [0, 1] (or scores, with an
    activation); ``target`` the same shape with values in [0, 1], or integer class indices
    (N, d1, ..., dK) (labels 0/1 when C == 1). Output: a scalar, or for ``reduction='none'``
    (N,), (1,) with ``batch``, (N, C) with ``per_class``. Raises ``TypeError`` for a non-float
    input, a non-integer index target or a bad option type,
    :class:`~losslab._validation.ClassIndexError` for a label out of range, ``ValueError`` for
    probabilities or targets outside [0, 1], shapes, options, the reduction, or a zero
    denominator (``smooth_dr = 0`` with a class absent from prediction and target).

    >>> import numpy as np
    >>> p = np.array([[[0.9, 0.2, 0.6, 0.1]]])   # N = 1, C = 1, four pixels
    >>> t = np.array([[[1.0, 0.0, 1.0, 0.0]]])
    >>> round(float(dice_loss(p, t)), 6)           # 1 - (2 * 1.5 + 1) / (1.8 + 2 + 1)
    0.166667
    >>> round(float(dice_loss(p, t, jaccard=True, smooth=0.0)), 6)   # 1 - 1.5 / (1.8 + 2 - 1.5)
    0.347826
    """
    o = _options(
        smooth,
        logits,
        reduction,
        include_background=include_background,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        squared_pred=squared_pred,
        jaccard=jaccard,
        batch=batch,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        soft_label=soft_label,
        average=average,
        per_class=per_class,
        ignore_index=ignore_index,
        class_axis=class_axis,
    )
    s = _seg(input, target, o)
    loss = _macro_or_micro(s, _dice_ratio, weight)[0]
    return reduce(xpa.astype(loss, s.x.dtype, s.xp), reduction)


@_fast.defbackward(dice_loss)
def dice_loss_backward(
    dout,
    input,
    target,
    *,
    smooth: float = 1.0,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: tuple[Callable, Callable] | None = None,
    squared_pred: bool = False,
    jaccard: bool = False,
    batch: bool = False,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    weight=None,
    soft_label: bool = False,
    average: Literal["macro", "micro"] = "macro",
    per_class: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
) -> np.ndarray:
    """Gradient of :func:`dice_loss` with respect to ``input``:
    ``-w (2 t - D) / (C (sum p + sum t + s))`` per pixel, times ``g``.

    >>> import numpy as np
    >>> dice_loss_backward(1.0, np.array([[[0.5, 0.5]]]), np.array([[[1.0, 0.0]]]), smooth=0.0)
    array([[[-0.75,  0.25]]])
    """
    o = _options(
        smooth,
        logits,
        reduction,
        include_background=include_background,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        squared_pred=squared_pred,
        jaccard=jaccard,
        batch=batch,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        soft_label=soft_label,
        average=average,
        per_class=per_class,
        ignore_index=ignore_index,
        class_axis=class_axis,
    )
    s = _seg(input, target, o)
    _, a, b, coef, st = _macro_or_micro(s, _dice_ratio, weight)
    return _input_grad(s, st, a, b, coef, dout, reduction, _out_shape(s))


# --------------------------------------------------------------------------- Tversky


def _tversky_ratio(alpha, beta):
    def ratio(st: _Stats, s: _Seg, per_class: bool = True):
        """``(R, dR/dTP, dR/dP)``: ``(TP + nr) / (TP + alpha FP + beta FN + dr)``."""
        o = s.o
        if o.soft_label:
            fp, fn = st.pred - st.tp, st.ground - st.tp
        else:  # summed directly, as MONAI's TverskyLoss (no cancellation in P - TP)
            fp, fn = _sum(s.q * (1 - s.t), s), _sum((1 - s.q) * s.t, s)
        den = _nonzero(st.tp + alpha * fp + beta * fn + o.dr, s, "Tversky", per_class)
        r = (st.tp + o.nr) / den
        return r, (1 - r * (1 - alpha - beta)) / den, -alpha * r / den

    return ratio


def _tversky_loss_kernel(
    input,
    target,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act=None,
    batch: bool = False,
    smooth_nr=None,
    smooth_dr=None,
    weight=None,
    soft_label: bool = False,
    per_class: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
):
    act = _act(logits, sigmoid, softmax)
    flags = (batch, soft_label, per_class)
    if act is None or not _plain(include_background, other_act, weight, class_axis, flags, smooth_nr, smooth_dr):
        return None
    return _fast.overlap(input, target, _fast.TVERSKY, smooth, act, alpha, beta, ignore_index, reduction)


@_fast.fused(_tversky_loss_kernel)
def tversky_loss(
    input,
    target,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: tuple[Callable, Callable] | None = None,
    batch: bool = False,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    weight=None,
    soft_label: bool = False,
    per_class: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
):
    r"""Tversky loss per sample, averaged over classes (Salehi et al. 2017, "Tversky loss function
    for image segmentation using 3D fully convolutional deep networks").

    With :math:`TP = \sum_i p_i t_i`, :math:`FP = \sum_i p_i (1 - t_i)`,
    :math:`FN = \sum_i (1 - p_i) t_i` per sample and class, :math:`s_n`, :math:`s_d` =
    ``smooth_nr``, ``smooth_dr`` (both ``smooth`` unless given), :math:`w_c` = ``weight``:

    .. math:: T_{nc} = \frac{TP + s_n}{TP + \alpha\, FP + \beta\, FN + s_d}, \qquad
              \ell_n = \frac{1}{C} \sum_c w_c (1 - T_{nc})

    .. math:: \frac{\partial \ell_n}{\partial p_{nci}} = -\frac{w_c}{C}\,
              \frac{t_i - T_{nc} \left(t_i + \alpha (1 - t_i) - \beta t_i\right)}{TP + \alpha FP + \beta FN + s_d}

    ``alpha`` weighs false positives, ``beta`` false negatives. This is MONAI's
    ``TverskyLoss`` (MONAI 1.6.1; its 'mean' over (N, C) equals ours over N), with MONAI's
    options as in :func:`dice_loss` (``include_background``, ``sigmoid``, ``softmax``,
    ``other_act``, ``batch``, ``smooth_nr``, ``smooth_dr``, ``soft_label``: :math:`FP = \sum p - TP`,
    :math:`FN = \sum t - TP` with :math:`TP = \sum \min(p, t)`), and optax 0.2.8's
    ``dice_loss(alpha, beta, smooth, class_weights, ignore_background)``: ``logits=True``
    (its ``apply_softmax``), ``class_axis=-1``, ``weight`` = its ``class_weights`` without the
    background entry when ``include_background=False``, ``per_class=True`` for its 'none'.
    With ``alpha = beta = 0.5`` the denominator is :math:`(\sum p + \sum t)/2 + s`, so
    ``tversky_loss(smooth=s)`` equals ``dice_loss(smooth=2 s)`` exactly.

    Shapes, the other options and errors as :func:`dice_loss`; ``alpha``, ``beta`` >= 0.

    >>> import numpy as np
    >>> p = np.array([[[0.9, 0.2, 0.6, 0.1]]])
    >>> t = np.array([[[1.0, 0.0, 1.0, 0.0]]])
    >>> round(float(tversky_loss(p, t, alpha=0.3, beta=0.7)), 6)   # 1 - 2.5 / (1.5 + 0.09 + 0.35 + 1)
    0.14966
    """
    v.check_scalar(alpha, "alpha", low=0.0)
    v.check_scalar(beta, "beta", low=0.0)
    o = _options(
        smooth,
        logits,
        reduction,
        include_background=include_background,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        batch=batch,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        soft_label=soft_label,
        per_class=per_class,
        ignore_index=ignore_index,
        class_axis=class_axis,
    )
    s = _seg(input, target, o)
    loss = _macro_or_micro(s, _tversky_ratio(alpha, beta), weight)[0]
    return reduce(xpa.astype(loss, s.x.dtype, s.xp), reduction)


@_fast.defbackward(tversky_loss)
def tversky_loss_backward(
    dout,
    input,
    target,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: tuple[Callable, Callable] | None = None,
    batch: bool = False,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    weight=None,
    soft_label: bool = False,
    per_class: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
) -> np.ndarray:
    """Gradient of :func:`tversky_loss` with respect to ``input``.

    >>> import numpy as np
    >>> tversky_loss_backward(1.0, np.array([[[0.5, 0.5]]]), np.array([[[1.0, 0.0]]]), smooth=0.0)
    array([[[-0.75,  0.25]]])
    """
    v.check_scalar(alpha, "alpha", low=0.0)
    v.check_scalar(beta, "beta", low=0.0)
    o = _options(
        smooth,
        logits,
        reduction,
        include_background=include_background,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        batch=batch,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        soft_label=soft_label,
        per_class=per_class,
        ignore_index=ignore_index,
        class_axis=class_axis,
    )
    s = _seg(input, target, o)
    _, a, b, coef, st = _macro_or_micro(s, _tversky_ratio(alpha, beta), weight)
    return _input_grad(s, st, a, b, coef, dout, reduction, _out_shape(s))


# --------------------------------------------------------------------------- generalized Dice


def _generalized_parts(s: _Seg, w_type: str):
    """``(loss, R, dR/dTP, dR/dP, w, stats)``: the class weights ``w`` (N or 1, C', 1, ...) from the target
    volumes, and one Dice ratio of the weighted sums per sample."""
    xp = s.xp
    st = _stats(s)
    volume = st.ground
    absent = volume == 0
    if w_type == "uniform":
        w = xp.ones_like(volume)
    else:
        safe = xp.where(absent, 1, volume)
        w = 1 / (safe * safe if w_type == "square" else safe)
        # MONAI: a class absent from a sample's target takes the largest weight of that sample's
        # present classes (0 if none is present), instead of an infinite weight
        largest = xp.max(xp.where(absent, 0, w), axis=1, keepdims=True)
        w = xp.where(absent, largest, w)
    pooled = _pooled(st, w, xp)
    den = _nonzero(pooled.pred + pooled.ground + s.o.dr, s, "generalized dice", per_class=False)
    r = (2 * pooled.tp + s.o.nr) / den
    return _loss(s, r, None, True), r, 2 / den, -r / den, w, st


def _generalized_dice_loss_kernel(
    input,
    target,
    *,
    smooth: float = 1e-5,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act=None,
    w_type="square",
    batch: bool = False,
    smooth_nr=None,
    smooth_dr=None,
    soft_label: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
):
    act = _act(logits, sigmoid, softmax)
    if act is None or not _plain(
        include_background, other_act, None, class_axis, (batch, soft_label), smooth_nr, smooth_dr
    ):
        return None
    kind = _fast.GENERALIZED_DICE
    return _fast.overlap(input, target, kind, smooth, act, 0.0, 0.0, ignore_index, reduction, w_type)


@_fast.fused(_generalized_dice_loss_kernel)
def generalized_dice_loss(
    input,
    target,
    *,
    smooth: float = 1e-5,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: tuple[Callable, Callable] | None = None,
    w_type: Literal["square", "simple", "uniform"] = "square",
    batch: bool = False,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    soft_label: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
):
    r"""Generalized Dice loss per sample (Sudre et al. 2017, "Generalised Dice overlap as a deep learning
    loss function for highly unbalanced segmentations").

    One ratio over all classes, each weighted by its inverse squared target volume
    :math:`w_c = 1 / (\sum_i t_{ci})^2` (``w_type='square'``; ``'simple'``: :math:`1 / \sum_i t_{ci}`;
    ``'uniform'``: 1; computed from the target only, a constant for the gradient),
    :math:`s_n`, :math:`s_d` = ``smooth_nr``, ``smooth_dr`` (both ``smooth`` unless given):

    .. math:: \ell_n = 1 - \frac{A}{B}, \quad A = 2 \sum_c w_c \sum_i p_{ci} t_{ci} + s_n, \quad
              B = \sum_c w_c \sum_i (p_{ci} + t_{ci}) + s_d

    .. math:: \frac{\partial \ell_n}{\partial p_{ci}} = \frac{w_c}{B} \left(\frac{A}{B} - 2 t_{ci}\right)

    This is MONAI's ``GeneralizedDiceLoss`` (MONAI 1.6.1; defaults ``w_type='square'``,
    ``smooth_nr = smooth_dr = 1e-5``), with its options ``include_background``, ``sigmoid``,
    ``softmax``, ``other_act``, ``w_type``, ``batch`` (the sums and the weights over the whole
    batch: one ratio, an unreduced loss of shape (1,)) and ``soft_label`` as in :func:`dice_loss`,
    including its rule for a class absent from a sample's target (an infinite weight): it gets
    the largest weight among that sample's present classes (0 if none is present, making the
    loss 0 when ``smooth > 0``). MONAI computes the weights in float32; here they keep the
    input's dtype.

    Shapes, ``logits``, ``ignore_index``, ``class_axis`` and errors as :func:`dice_loss`.

    >>> import numpy as np
    >>> p = np.array([[[0.9, 0.2, 0.6, 0.1], [0.1, 0.8, 0.4, 0.9]]])   # C = 2
    >>> # w = 1/2^2 for both classes: 1 - 2 (0.25 * 1.5 + 0.25 * 1.7) / (0.25 * (3.8 + 4.2))
    >>> round(float(generalized_dice_loss(p, np.array([[0, 1, 0, 1]]), smooth=0.0)), 6)
    0.2
    """
    check_choice(w_type, "w_type", W_TYPES)
    o = _options(
        smooth,
        logits,
        reduction,
        include_background=include_background,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        batch=batch,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        soft_label=soft_label,
        ignore_index=ignore_index,
        class_axis=class_axis,
    )
    s = _seg(input, target, o)
    loss = _generalized_parts(s, w_type)[0]
    return reduce(xpa.astype(loss, s.x.dtype, s.xp), reduction)


@_fast.defbackward(generalized_dice_loss)
def generalized_dice_loss_backward(
    dout,
    input,
    target,
    *,
    smooth: float = 1e-5,
    logits: bool = False,
    reduction: v.Reduction = "mean",
    include_background: bool = True,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: tuple[Callable, Callable] | None = None,
    w_type: Literal["square", "simple", "uniform"] = "square",
    batch: bool = False,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    soft_label: bool = False,
    ignore_index: int = -100,
    class_axis: int = 1,
) -> np.ndarray:
    """Gradient of :func:`generalized_dice_loss` with respect to ``input``: ``w_c / B (A / B - 2 t)``, times ``g``.

    >>> import numpy as np
    >>> generalized_dice_loss_backward(1.0, np.array([[[0.5, 0.5]]]), np.array([[[1.0, 0.0]]]), smooth=0.0)
    array([[[-0.75,  0.25]]])
    """
    check_choice(w_type, "w_type", W_TYPES)
    o = _options(
        smooth,
        logits,
        reduction,
        include_background=include_background,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        batch=batch,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        soft_label=soft_label,
        ignore_index=ignore_index,
        class_axis=class_axis,
    )
    s = _seg(input, target, o)
    _, _, a, b, w, st = _generalized_parts(s, w_type)
    return _input_grad(s, st, a, b, w, dout, reduction, _out_shape(s))
