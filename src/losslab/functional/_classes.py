"""The multi-class layout shared by the classification and focal families.

The class dimension is axis 1 of a batched input ``(N, C)`` or ``(N, C, d1, ..., dK)``,
and axis 0 of an unbatched ``(C,)`` input. An unbatched call gets a batch axis of 1,
so every helper here sees ``(N, C, *d)``. Also the 2-D logits check of the focal and
sparse families.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v
from ._reduction import upstream

INPUT_SHAPES = "of shape (C,), (N, C) or (N, C, d1, ..., dK)"


class Layout(NamedTuple):
    """A multi-class call in batched form."""

    x: np.ndarray  # input as (N, C, *d)
    target: np.ndarray  # int64 indices (N, *d), or probabilities (N, C, *d) in x's dtype
    probs: bool  # True for class-probability targets
    valid: np.ndarray  # (N, *d): False where the target equals ignore_index
    out_shape: tuple[int, ...]  # the unreduced loss's shape: () unbatched, else (N, *d)
    in_shape: tuple[int, ...]  # the input's shape (the gradient's)
    xp: Any  # the array namespace of the call

    @property
    def num_classes(self) -> int:
        return self.x.shape[1]

    def class_view(self, w: np.ndarray) -> np.ndarray:
        """A per-class vector shaped to broadcast along axis 1 of ``x``."""
        return self.xp.reshape(w, (1, -1) + (1,) * (self.x.ndim - 2))

    def class_mask(self, labels) -> np.ndarray:
        """The one-hot of ``labels`` ``(N, *d)``, classes on axis 1: ``(N, C, *d)`` booleans."""
        return xpa.class_mask(labels, self.num_classes, 1, self.xp)


def layout(input, target, ignore_index, xp, *, probs_allowed: bool) -> Layout:
    x = v.as_float_array(input, "input")
    v.check_ndim(x, "input", range(1, 65), INPUT_SHAPES)
    shape = tuple(x.shape)
    class_axis = 0 if x.ndim == 1 else 1
    if shape[class_axis] == 0:
        raise ValueError(f"input must have at least one class along axis {class_axis}, got shape {shape}")
    v.check_scalar(ignore_index, "ignore_index", integer=True)
    num_classes = shape[class_axis]
    index_shape = shape[:class_axis] + shape[class_axis + 1 :]
    t = xpa.asarray(target, xp, x)
    probs = probs_allowed and tuple(t.shape) == shape
    if probs:
        t = v.as_real_like(v.as_float_array(t, "target"), "target", x)
        if ignore_index >= 0:  # as PyTorch: ignore_index applies to class indices only
            raise ValueError(
                f"ignore_index must be negative (the default -100) with class-probability targets, "
                f"got ignore_index={ignore_index}; ignore_index applies to class-index targets only"
            )
    else:
        if probs_allowed and tuple(t.shape) != index_shape:
            raise ValueError(
                f"target must have shape {index_shape} (class indices) or the input's shape "
                f"{shape} (class probabilities), got {tuple(t.shape)}"
            )
        t = v.as_class_indices(t, "target", num_classes, ignore_index=ignore_index, shape=index_shape, like=x)
    if x.ndim == 1:  # unbatched: add the batch axis
        x, t = x[None, ...], t[None, ...]
    if probs:
        valid = xpa.full(tuple(x.shape[:1] + x.shape[2:]), True, x, xp, dtype=xp.bool)
    else:
        valid = t != ignore_index
    return Layout(x, t, probs, valid, index_shape, shape, xp)


def target_weights(lay: Layout, w: np.ndarray | None):
    """``(safe, wt, denominator)`` of index targets: labels with ignored ones set to 0,
    ``w[t]`` (0 where ignored), and the 'mean' denominator ``sum(wt)`` (the count if no weight:
    a Python int for NumPy, a 0-d array elsewhere, so a lazy count stays lazy)."""
    xp, dtype = lay.xp, lay.x.dtype
    safe = xp.where(lay.valid, lay.target, 0)
    if w is None:
        wt = xpa.astype(lay.valid, dtype, xp)
        return safe, wt, int(lay.valid.sum()) if xp is np else xp.sum(wt)
    wt = xpa.astype(xp.where(lay.valid, xpa.gather(w, safe, xp), 0), dtype, xp)
    return safe, wt, xp.sum(wt, dtype=dtype)


def coefficients(lay: Layout, w: np.ndarray | None, label_smoothing: float):
    """``(a, denominator)`` with the per-position loss ``-sum_c a[n, c] * logp[n, c]``.

    Index targets: ``a = (1 - ls) w_t onehot(t) + (ls / C) w`` (zero rows where ignored);
    probability targets: ``a = w * (t (1 - ls) + ls / C)``. ``denominator`` is the
    'mean' divisor (None: the number of positions).
    """
    ls = label_smoothing
    num_classes = lay.num_classes
    xp, dtype = lay.xp, lay.x.dtype
    if lay.probs:
        p = lay.target * (1 - ls) + ls / num_classes if ls > 0 else lay.target
        return (p if w is None else p * lay.class_view(w)), None
    safe, wt, denominator = target_weights(lay, w)
    # a float one-hot times the weight: NumPy's bool * float, written for every library
    a = xpa.astype(lay.class_mask(safe), dtype, xp) * wt[:, None, ...]
    if ls > 0:
        per_class = lay.class_view(xpa.full((num_classes,), 1, lay.x, xp) if w is None else w)
        a = (1 - ls) * a + (ls / num_classes) * per_class * xpa.astype(lay.valid[:, None, ...], dtype, xp)
    return xpa.astype(a, dtype, xp), denominator


def batched_upstream(dout, lay: Layout, reduction: str, denominator) -> np.ndarray:
    """``upstream`` broadcast to the batched loss shape ``(N, 1, *d)``, ready to scale a class axis."""
    xp = lay.xp
    g = upstream(dout, lay.out_shape, lay.x.dtype, reduction, denominator=denominator, like=lay.x)
    g = xp.reshape(xp.broadcast_to(g, lay.out_shape), tuple(lay.valid.shape))
    return g[:, None, ...]


def setup(input, target, weight, ignore_index, reduction, probs_allowed):
    xp = xpa.namespace(input, target, weight, names=("input", "target", "weight"))
    lay = layout(input, target, ignore_index, xp, probs_allowed=probs_allowed)
    v.check_reduction(reduction)
    w = v.check_weight(weight, "weight", lay.num_classes, lay.x.dtype, like=lay.x, xp=lay.xp)
    return lay, w


# --------------------------------------------------------------------------- cross-entropy


def logits_2d(input) -> np.ndarray:
    """``input`` as a float array of 2-D logits ``(N, C)`` with at least one class."""
    x = v.as_float_array(input, "input")
    v.check_ndim(x, "input", (2,), "a 2-D array of logits of shape (N, C)")
    if x.shape[1] == 0:
        raise ValueError(f"input must have at least one class along axis 1, got shape {x.shape}")
    return x
