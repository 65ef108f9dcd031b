"""Loss objects of the margin family, with PyTorch's names and constructor options."""

from __future__ import annotations

import math

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v
from .._cases import BENCH_CLASSES, Case, Curve, away_from, col, elementwise, grid, label, paths_of, pm1
from ..functional import margin as F
from ._base import Loss, registered
from ._options import checked, reduction, scalar

__all__ = [
    "HingeEmbeddingLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "MultiLabelMarginLoss",
]


def _class_weight(weight):
    """A per-class weight before the number of classes is known: ``None`` or any 1-D real array (of any library)."""
    if weight is None:
        return None
    arr = xpa.asarray(weight, xpa.namespace(weight))
    return v.check_weight(arr, "weight", math.prod(arr.shape), arr.dtype)


def _hinge_embedding_cases(rng) -> list[Case]:
    cases = []
    for margin in (1.0, 2.0):
        x = away_from(rng.normal(margin / 2, 1.5, (4, 3)), [margin])
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x, pm1(rng, (4, 3)))))
    return cases


def _scores(rng, b, c=BENCH_CLASSES):
    return rng.normal(0, 2, (b, c))


def _pm1_path(rng, b, opts):
    return _scores(rng, b), pm1(rng, (b, BENCH_CLASSES))


def _weighted(rng, opts, c=BENCH_CLASSES):
    return {k: rng.uniform(0.5, 2.0, c) if isinstance(val, str) and val == "array" else val for k, val in opts.items()}


def _multilabel_soft_margin_path(rng, b, opts):
    return (_scores(rng, b), rng.integers(0, 2, (b, BENCH_CLASSES)).astype(float)), _weighted(rng, opts)


def _multi_margin_path(rng, b, opts):
    return (_scores(rng, b), rng.integers(0, BENCH_CLASSES, b)), _weighted(rng, opts)


def _multilabel_margin_path(rng, b, opts):
    """C = 20 classes; each row lists 1 to 5 target classes, then -1."""
    c = 20
    y = np.full((b, c), -1, dtype=np.int64)
    for row, k in zip(y, rng.integers(1, 6, b), strict=True):
        row[:k] = rng.permutation(c)[:k]
    return _scores(rng, b, c), y


@registered(
    "x for similar pairs, max(0, margin - x) for dissimilar",
    _hinge_embedding_cases,
    curve=elementwise(-1.0, "distance x (dissimilar pair, margin 1)", (-1.0, 3.0)),
    array_api=True,
    paths=paths_of(_pm1_path, margin=[1.0, 2.0]),
)
class HingeEmbeddingLoss(Loss):
    """``x`` if ``y = 1``, ``max(0, margin - x)`` if ``y = -1``; see :func:`losslab.functional.hinge_embedding_loss`."""

    _function = staticmethod(F.hinge_embedding_loss)
    _backward = staticmethod(F.hinge_embedding_loss_backward)
    _options = (scalar("margin", 1.0, positional=True), reduction())


def _soft_margin_cases(rng) -> list[Case]:
    return [
        Case("2d", {}, (rng.normal(0, 2, (4, 3)), pm1(rng, (4, 3)))),
        Case("1d", {}, (rng.normal(0, 2, 5), pm1(rng, 5))),
    ]


@registered(
    "logistic loss log(1 + exp(-y x)) on labels +-1",
    _soft_margin_cases,
    curve=elementwise(1.0, "score (label +1)", (-6.0, 6.0)),
    array_api=True,
    paths=paths_of(_pm1_path),
)
class SoftMarginLoss(Loss):
    """Logistic loss ``log(1 + exp(-y x))`` on +-1 labels; see :func:`losslab.functional.soft_margin_loss`."""

    _function = staticmethod(F.soft_margin_loss)
    _backward = staticmethod(F.soft_margin_loss_backward)
    _options = (reduction(),)


def _multilabel_soft_margin_cases(rng) -> list[Case]:
    cases = []
    for weight in (None, rng.uniform(0.5, 2.0, 4)):
        opts = {"weight": weight}
        x = rng.normal(0, 2, (5, 4))
        cases.append(Case(label(opts), opts, (x, rng.integers(0, 2, (5, 4)).astype(float))))
    return cases


@registered(
    "per-class logistic loss averaged over classes",
    _multilabel_soft_margin_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0), col(np.ones_like(xs), 0.0)), {}), "logit of a positive label", (-6.0, 6.0), column=0
    ),
    array_api=True,
    paths=paths_of(_multilabel_soft_margin_path, weight=[None, "array"]),
)
class MultiLabelSoftMarginLoss(Loss):
    """Per-class logistic loss averaged over classes; see :func:`losslab.functional.multilabel_soft_margin_loss`."""

    _function = staticmethod(F.multilabel_soft_margin_loss)
    _backward = staticmethod(F.multilabel_soft_margin_loss_backward)
    _options = (checked("weight", None, _class_weight, positional=True), reduction())


def _multi_margin_cases(rng) -> list[Case]:
    cases = []
    n, c = 5, 4
    for opts in grid(p=[1, 2], margin=[1.0, 0.5], weight=[None, rng.uniform(0.5, 2.0, c)]):
        while True:  # draw until every hinge margin - x[y] + x[j] is off its kink
            x, t = rng.normal(0, 1, (n, c)), rng.integers(0, c, n)
            z = opts["margin"] - x[np.arange(n), t][:, None] + x
            z[np.arange(n), t] = 1.0
            if np.abs(z).min() > 5e-3:
                break
        cases.append(Case(label(opts), opts, (x, t)))
    cases.append(Case("unbatched", {}, (rng.normal(0, 1, c), np.array(2))))
    return cases


@registered(
    "multi-class hinge (p = 1 or 2)",
    _multi_margin_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
        "score of the true class (2 others at 0)",
        column=0,
    ),
    array_api=True,
    paths=paths_of(_multi_margin_path, p=[1, 2], margin=[1.0], weight=[None, "array"]),
)
class MultiMarginLoss(Loss):
    """Multi-class hinge loss (p = 1 or 2); see :func:`losslab.functional.multi_margin_loss`."""

    _function = staticmethod(F.multi_margin_loss)
    _backward = staticmethod(F.multi_margin_loss_backward)
    _options = (
        checked("p", 1, F.check_p, positional=True),
        scalar("margin", 1.0, positional=True),
        checked("weight", None, _class_weight, positional=True),
        reduction(),
    )


def _multilabel_margin_cases(rng) -> list[Case]:
    y = np.array([[3, 0, -1, 1], [1, 2, 3, -1], [2, -1, 0, 0], [0, 1, 2, 3]])
    return [
        Case("2d", {}, (rng.normal(0, 1, (4, 4)), y)),
        Case("unbatched", {}, (rng.normal(0, 1, 4), np.array([2, 0, -1, 1]))),
    ]


@registered(
    "multi-label hinge over target and non-target classes",
    _multilabel_margin_cases,
    curve=Curve(
        lambda xs: ((col(xs, 0.0, 0.0), np.tile(np.array([0, -1, -1]), (len(xs), 1))), {}),
        "score of the target class (2 others at 0)",
        column=0,
    ),
    array_api=True,
    paths=paths_of(_multilabel_margin_path),
)
class MultiLabelMarginLoss(Loss):
    """Multi-label hinge over listed and unlisted classes; see :func:`losslab.functional.multilabel_margin_loss`."""

    _function = staticmethod(F.multilabel_margin_loss)
    _backward = staticmethod(F.multilabel_margin_loss_backward)
    _options = (reduction(),)
