"""The book's cross-entropy on rows, shared by :mod:`losslab.functional.textbook` and the
``SoftmaxWithLoss`` layer of :mod:`losslab.nn.textbook`: targets as rows, the guarded log, the scalar."""

from __future__ import annotations

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v

DELTA = 1e-7  # the book's guard inside log(y + delta)


def book_scalar(value, like, xp):
    """The loss as the library's scalar: a NumPy scalar of ``like``'s dtype, a 0-d array elsewhere."""
    return like.dtype.type(value) if xp is np else value


def targets(t, like, like_name: str):
    """The target as rows ``(B, C)`` of probabilities, plus the class indices when it was given as such.

    ``like`` is the (B, C) or (C,) array the target refers to. A target of ``like``'s
    shape is one-hot rows or probabilities (any real dtype, cast to ``like``'s);
    a target of ``like``'s shape without its last dimension holds class indices.
    Returns ``(rows, indices or None, B)``; ``rows`` is (B, C), with B = 1 for 1-D ``like``.
    """
    xp = xpa.namespace(t, like, names=("t", like_name))
    arr = xpa.asarray(t, xp, like)
    shape, batch_shape = tuple(like.shape), tuple(like.shape[:-1])
    rows_shape = (1, shape[0]) if like.ndim == 1 else shape
    if tuple(arr.shape) == shape:
        rows = v.as_real_like(arr, "t", like, like_name)
        rows = v.check_unit_interval(rows, "t", "one-hot rows or class probabilities")
        return xp.reshape(rows, rows_shape), None, rows_shape[0]
    if tuple(arr.shape) != batch_shape:
        raise ValueError(
            f"t must be one-hot rows of {like_name}'s shape {shape} or class indices of shape "
            f"{batch_shape}, got an array of shape {tuple(arr.shape)}"
        )
    idx = xp.reshape(v.as_class_indices(arr, "t", shape[-1], like=like), (-1,))
    rows = xpa.astype(xpa.one_hot(idx, shape[-1], xp), like.dtype, xp)
    return rows, idx, rows_shape[0]


def as_rows(p, rows):
    """``p`` in the (B, C) shape of ``rows``."""
    return xpa.namespace(p).reshape(p, tuple(rows.shape))


def cross_entropy_rows(p, rows, idx, batch: int):
    """``-(1/B) sum t log(p + delta)`` for (B, C) probabilities ``p``, as the book computes it."""
    xp = xpa.namespace(p)
    delta = xpa.typed(DELTA, p, xp)
    if idx is not None:  # class indices: only the labelled probability enters
        total = xp.sum(xp.log(xpa.take_along_last(p, idx, xp) + delta))
    else:
        total = xp.sum(rows * xp.log(p + delta))
    return book_scalar(-total / batch, p, xp)
