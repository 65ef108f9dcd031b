"""Loss objects with sparse gradients: the sparsemax loss and the Crammer-Singer multi-class hinge."""

from __future__ import annotations

import numpy as np

from .._cases import BENCH_CLASSES, Case, Curve, col, paths_of
from ..functional import sparse as F
from ._base import Loss, registered
from ._options import reduction

__all__ = ["SparsemaxLoss", "MulticlassHingeLoss"]


def _sparse_scores(rng, n, c):
    """Scores whose sparsemax is known and every entry at least 0.05 from the support's edge."""
    z = np.empty((n, c))
    for row in z:
        k = rng.integers(1, c + 1)
        support = rng.permutation(c)[:k]
        p = 0.05 + (1 - 0.05 * k) * rng.dirichlet(np.ones(k))
        tau = rng.normal(0, 1)
        row[:] = tau - rng.uniform(0.05, 1.5, c)
        row[support] = tau + p
    return z


def _sparsemax_loss_cases(rng) -> list[Case]:
    return [
        Case("index", {}, (_sparse_scores(rng, 6, 4), rng.integers(0, 4, 6))),
        Case("probs", {}, (_sparse_scores(rng, 5, 4), rng.dirichlet(np.ones(4), size=5))),
        Case("index-6-classes", {}, (_sparse_scores(rng, 4, 6), rng.integers(0, 6, 4))),
    ]


def _sparsemax_path(rng, b, opts):
    c = BENCH_CLASSES
    x = rng.normal(0, 2, (b, c))
    if opts.pop("target") == "probs":
        return (x, rng.dirichlet(np.ones(c), size=b)), opts
    return (x, rng.integers(0, c, b)), opts


def _hinge_path(rng, b, opts):
    return rng.normal(0, 1, (b, BENCH_CLASSES)), rng.integers(0, BENCH_CLASSES, b)


@registered(
    "Fenchel-Young loss of sparsemax; gradient sparsemax - y",
    _sparsemax_loss_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
        "score of the true class (2 others at 0)",
        column=0,
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_sparsemax_path, target=["index", "probs"]),
)
class SparsemaxLoss(Loss):
    """The sparsemax (Fenchel-Young) loss, gradient ``sparsemax(z) - y``;
    see :func:`losslab.functional.sparsemax_loss`."""

    _function = staticmethod(F.sparsemax_loss)
    _backward = staticmethod(F.sparsemax_loss_backward)
    _options = (reduction(),)


def _hinge_scores(rng, n, c, labels):
    """Scores whose augmented maximum max_j (s_j + 1 - y_j) leads the runner-up by >= 0.05."""
    x = rng.normal(0, 1, (n, c))
    augmented = x + 1 - np.eye(c)[labels]
    top = np.sort(augmented, axis=1)
    near = top[:, -1] - top[:, -2] < 0.05
    x[near, np.argmax(augmented[near], axis=1)] += 0.1
    return x


def _multiclass_hinge_cases(rng) -> list[Case]:
    cases = []
    for n, c in ((6, 4), (5, 3)):
        labels = rng.integers(0, c, n)
        cases.append(Case(f"{n}x{c}", {}, (_hinge_scores(rng, n, c, labels), labels)))
    return cases


@registered(
    "Crammer-Singer hinge max_j (s_j + 1 - y_j) - s_label",
    _multiclass_hinge_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
        "score of the true class (2 others at 0)",
        column=0,
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_hinge_path),
)
class MulticlassHingeLoss(Loss):
    """Crammer-Singer hinge ``max_j (s_j + 1 - y_j) - s_label``;
    see :func:`losslab.functional.multiclass_hinge_loss`."""

    _function = staticmethod(F.multiclass_hinge_loss)
    _backward = staticmethod(F.multiclass_hinge_loss_backward)
    _options = (reduction(),)
