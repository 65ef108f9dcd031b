"""The CTC loss object, with PyTorch's name and constructor options."""

from __future__ import annotations

import numpy as np

from .._cases import Case, Curve, label, paths_of
from ..functional import ctc as F
from ._base import Loss, registered
from ._options import flag, reduction, scalar

__all__ = ["CTCLoss"]


def ctc_log_probs(rng, shape):
    """Log-softmax outputs over the last axis (the numerical check still perturbs each entry freely)."""
    x = rng.normal(0, 1.5, shape)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _ctc_cases(rng) -> list[Case]:
    i64 = np.int64
    cases = []
    il, tl = np.array([6, 4, 5], dtype=i64), np.array([3, 2, 0], dtype=i64)
    padded = np.array([[1, 3, 3], [2, 1, 0], [0, 0, 0]], dtype=i64)  # 0-padding (the blank) is ignored
    for zero_infinity in (False, True):
        opts = {"zero_infinity": zero_infinity}
        cases.append(Case(label(opts, "padded"), opts, (ctc_log_probs(rng, (6, 3, 4)), padded, il, tl)))
    concatenated = np.array([1, 3, 3, 2, 1], dtype=i64)
    cases.append(Case("concatenated", {}, (ctc_log_probs(rng, (6, 3, 4)), concatenated, il, tl)))
    repeats = np.array([[1, 1, 2], [2, 2, 2]], dtype=i64)  # 'a a' needs a blank between; '2 2 2' in 5 frames
    cases.append(
        Case(
            "repeats",
            {},
            (ctc_log_probs(rng, (7, 2, 3)), repeats, np.array([7, 5], dtype=i64), np.array([3, 3], dtype=i64)),
        )
    )
    cases.append(
        Case(
            "blank=2",
            {"blank": 2},
            (
                ctc_log_probs(rng, (5, 2, 4)),
                np.array([[0, 3], [3, 1]], dtype=i64),
                np.array([5, 3], dtype=i64),
                np.array([2, 1], dtype=i64),
            ),
        )
    )
    cases.append(
        Case(
            "unbatched",
            {},
            (ctc_log_probs(rng, (5, 3)), np.array([1, 2], dtype=i64), np.array(5, dtype=i64), np.array(2, dtype=i64)),
        )
    )
    impossible = np.array([[1, 1], [2, 1], [1, 2]], dtype=i64)  # '1 1' cannot fit 2 frames: loss inf -> 0
    cases.append(
        Case(
            "zero_infinity-impossible",
            {"zero_infinity": True},
            (ctc_log_probs(rng, (4, 3, 3)), impossible, np.array([2, 4, 3], dtype=i64), np.array([2, 2, 1], dtype=i64)),
        )
    )
    return cases


def _ctc_path(rng, b, opts):
    """T = 50 frames, C = 20 classes, targets of S <= 10 labels, max(1, b // 64) sequences (padded targets)."""
    n, t_len, c, s = max(1, b // 64), 50, 20, 10
    tl = rng.integers(s // 2, s + 1, n).astype(np.int64)
    targets = rng.integers(1, c, (n, s)).astype(np.int64)
    il = np.full(n, t_len, dtype=np.int64) if opts["lengths"] == "full" else rng.integers(30, t_len + 1, n)
    opts = {k: val for k, val in opts.items() if k != "lengths"}
    return (ctc_log_probs(rng, (t_len, n, c)), targets, il.astype(np.int64), tl), opts


@registered(
    "connectionist temporal classification: -log of the sum over alignments",
    _ctc_cases,
    curve=Curve(
        lambda x: (
            (
                np.array([[[0.0, 0.0, 0.0]], [[0.0, x, 0.0]], [[0.0, 0.0, 0.0]]]),
                np.array([[1]]),
                np.array([3]),
                np.array([1]),
            ),
            {},
        ),
        "score of label 1 at frame 2 of 3 (target [1])",
        (-6.0, 6.0),
        at=(1, 0, 1),
    ),
    array_api=True,
    paths=paths_of(_ctc_path, lengths=["full", "ragged"], zero_infinity=[False, True]),
)
class CTCLoss(Loss):
    """Connectionist temporal classification, called as ``CTCLoss()(log_probs, targets, input_lengths,
    target_lengths)``; ``backward`` returns the gradient for ``log_probs``. See
    :func:`losslab.functional.ctc_loss`."""

    _function = staticmethod(F.ctc_loss)
    _backward = staticmethod(F.ctc_loss_backward)
    _inputs = ("log_probs", "targets", "input_lengths", "target_lengths")
    _grad_inputs = ("log_probs",)
    _options = (
        scalar("blank", 0, positional=True, low=0, integer=True),
        reduction(positional=True),
        flag("zero_infinity", False, positional=True),
    )
