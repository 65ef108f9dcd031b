"""Loss objects of the embedding family, with PyTorch's names and constructor options."""

from __future__ import annotations

import numpy as np

from .._cases import BENCH_FEATURES, Case, Curve, away_from, col, grid, label, paths_of, pm1
from ..functional import embedding as F
from ._base import Loss, registered
from ._options import flag, reduction, scalar

__all__ = ["MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss"]


class _PairWithMargin(Loss):
    """A loss of two inputs and a +-1 target whose options are ``margin`` and ``reduction``."""

    _inputs = ("input1", "input2", "target")
    _grad_inputs = ("input1", "input2")
    _options = (scalar("margin", 0.0, positional=True), reduction())


def _margin_ranking_cases(rng) -> list[Case]:
    cases = []
    for margin in (0.0, 0.5):
        x1, x2, y = rng.normal(0, 1, 6), rng.normal(0, 1, 6), pm1(rng, 6)
        d = away_from(-y * (x1 - x2) + margin, [0.0])
        x1 = x2 - (d - margin) / y
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x1, x2, y)))
    return cases


def _margin_ranking_path(rng, b, opts):
    return rng.normal(0, 1, b), rng.normal(0, 1, b), pm1(rng, b)


def _cosine_embedding_path(rng, b, opts):
    return rng.normal(0, 1, (b, BENCH_FEATURES)), rng.normal(0, 1, (b, BENCH_FEATURES)), pm1(rng, b)


def _triplet_path(rng, b, opts):
    return tuple(rng.normal(0, 1, (b, BENCH_FEATURES)) for _ in range(3))


@registered(
    "hinge on the ranking of two scores",
    _margin_ranking_cases,
    curve=Curve(
        lambda xs: ((xs, np.zeros_like(xs), np.ones_like(xs)), {"margin": 0.5}),
        "score1 - score2 (target 1, margin 0.5)",
    ),
    array_api=True,
    paths=paths_of(_margin_ranking_path, margin=[0.0, 0.5]),
)
class MarginRankingLoss(_PairWithMargin):
    """Hinge on the ranking of two scores, ``max(0, -y (x1 - x2) + margin)``; see
    :func:`losslab.functional.margin_ranking_loss`."""

    _function = staticmethod(F.margin_ranking_loss)
    _backward = staticmethod(F.margin_ranking_loss_backward)


def _cosine_embedding_cases(rng) -> list[Case]:
    cases = []
    for margin in (0.0, 0.3):
        x1, x2 = rng.normal(0, 1, (5, 3)), rng.normal(0, 1, (5, 3))
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x1, x2, pm1(rng, 5))))
    cases.append(Case("unbatched", {"margin": 0.1}, (rng.normal(0, 1, 3), rng.normal(0, 1, 3), np.array(-1.0))))
    return cases


@registered(
    "1 - cos for similar pairs, max(0, cos - margin) for dissimilar",
    _cosine_embedding_cases,
    curve=Curve(
        lambda xs: (
            (
                col(np.ones_like(xs), 0.0) + col(np.zeros_like(xs), 1.0) * xs[:, None],
                col(np.ones_like(xs), 0.0),
                np.ones_like(xs),
            ),
            {},
        ),
        "second coordinate of x1 = [1, x] (x2 = [1, 0], similar pair)",
        column=1,
    ),
    array_api=True,
    paths=paths_of(_cosine_embedding_path, margin=[0.0, 0.3]),
)
class CosineEmbeddingLoss(_PairWithMargin):
    """``1 - cos`` for similar pairs, ``max(0, cos - margin)`` for dissimilar ones; see
    :func:`losslab.functional.cosine_embedding_loss`."""

    _function = staticmethod(F.cosine_embedding_loss)
    _backward = staticmethod(F.cosine_embedding_loss_backward)


def _triplet_cases(rng) -> list[Case]:
    cases = []
    for opts in grid(margin=[1.0, 0.5], p=[2.0, 1.0, 3.0], swap=[False, True]):
        a, p_, n_ = (rng.normal(0, 1, (5, 3)) for _ in range(3))
        cases.append(Case(label(opts), opts, (a, p_, n_)))
    cases.append(Case("unbatched", {}, tuple(rng.normal(0, 1, 3) for _ in range(3))))
    return cases


@registered(
    "max(d(a, p) - d(a, n) + margin, 0) with p-norm distance",
    _triplet_cases,
    curve=Curve(
        lambda xs: ((xs[:, None], np.zeros((len(xs), 1)), np.ones((len(xs), 1))), {}),
        "anchor position (positive at 0, negative at 1)",
        (-2.0, 3.0),
        column=0,
    ),
    array_api=True,
    paths=paths_of(_triplet_path, p=[2.0, 1.0], swap=[False, True], margin=[1.0]),
)
class TripletMarginLoss(Loss):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with a p-norm distance; see
    :func:`losslab.functional.triplet_margin_loss`."""

    _function = staticmethod(F.triplet_margin_loss)
    _backward = staticmethod(F.triplet_margin_loss_backward)
    _inputs = ("anchor", "positive", "negative")
    _grad_inputs = ("anchor", "positive", "negative")
    _options = (
        scalar("margin", 1.0, positional=True, low=0.0, low_open=True),
        scalar("p", 2.0, positional=True, low=0.0, low_open=True),
        scalar("eps", 1e-6, positional=True, low=0.0),
        flag("swap", False, positional=True),
        reduction(),
    )
