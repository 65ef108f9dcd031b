"""Metric-learning loss objects, and the distance objects that ``TripletMarginWithDistanceLoss`` takes.

A *distance object* is anything with ``forward(x1, x2)``, returning one float distance
per row pair ((N,) for (N, D) inputs, 0-d for (D,) vectors), and ``backward(dout)``,
returning the pair ``(dx1, dx2)``: the gradients of ``sum(dout * distances)`` for its
latest ``forward`` call. :class:`PairwiseDistance` and :class:`CosineDistance` are the
two built in; write your own with the same two methods.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from .._cases import BENCH_FEATURES, Case, Curve, away_from, grid, label, paths_of
from ..functional import metric as F
from ._base import Loss, registered
from ._options import Configurable, checked, flag, reduction, scalar

__all__ = [
    "PairwiseDistance",
    "CosineDistance",
    "TripletMarginWithDistanceLoss",
    "ContrastiveLoss",
    "NTXentLoss",
    "NTXentGroupLoss",
]


class _Distance(Configurable):
    """Options declared in ``_options``; ``forward`` caches its inputs (never copies or modifies them)."""

    _function: staticmethod
    _backward: staticmethod

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cache: tuple | None = None

    def forward(self, x1, x2):
        out = type(self)._function(x1, x2, **self._options_now())
        self._cache = (x1, x2)
        return out

    def __call__(self, x1, x2):
        return self.forward(x1, x2)

    def backward(self, dout=1.0):
        if self._cache is None:
            raise v.BackwardBeforeForwardError(
                f"{type(self).__name__}.backward() was called before forward(): call it on (x1, x2) first"
            )
        return type(self)._backward(dout, *self._cache, **self._options_now())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={val!r}' for k, val in self.options().items())})"


class PairwiseDistance(_Distance):
    """``||x1 - x2 + eps||_p`` per row, ``torch.nn.PairwiseDistance``; see
    :func:`losslab.functional.pairwise_distance`.

    >>> import numpy as np
    >>> d = PairwiseDistance(eps=0.0)
    >>> d(np.array([[3.0, 4.0]]), np.zeros((1, 2))), d.backward()
    (array([5.]), (array([[0.6, 0.8]]), array([[-0.6, -0.8]])))
    """

    _function = staticmethod(F.pairwise_distance)
    _backward = staticmethod(F.pairwise_distance_backward)

    _options = (
        scalar("p", 2.0, positional=True, low=0.0, low_open=True),
        scalar("eps", 1e-6, positional=True, low=0.0),
    )


class CosineDistance(_Distance):
    """``1 - cos(x1, x2)`` per row, with PyTorch's ``cosine_similarity`` eps semantics; see
    :func:`losslab.functional.cosine_distance`.

    >>> import numpy as np
    >>> d = CosineDistance()
    >>> d(np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]])).round(6)
    array([0.04])
    >>> [g.round(6) for g in d.backward()]
    [array([[-0.0448,  0.0336]]), array([[ 0.0336, -0.0448]])]
    """

    _function = staticmethod(F.cosine_distance)
    _backward = staticmethod(F.cosine_distance_backward)

    _options = (scalar("eps", 1e-8, positional=True, low=0.0),)


def _check_distance(distance_function):
    """Refuse a bad distance now, not at the first call; keep what the caller gave."""
    F.distance_pair(distance_function)
    return distance_function


def _triplet_distance_cases(rng) -> list[Case]:
    def draw(shape, opts):
        dist = F.distance_pair(opts.get("distance_function"))
        while True:  # draw until the hinge (and the swap's min) is off its kink
            a, p_, n_ = (rng.normal(0, 1, shape) for _ in range(3))
            d_ap, d_an, d_pn = dist[0](a, p_), dist[0](a, n_), dist[0](p_, n_)
            d_neg = np.minimum(d_an, d_pn) if opts.get("swap") else d_an
            gaps = [opts.get("margin", 1.0) + d_ap - d_neg] + ([d_an - d_pn] if opts.get("swap") else [])
            if min(np.abs(g).min() for g in gaps) > 5e-3:
                return a, p_, n_

    cases = []
    for opts in grid(distance_function=[None, "cosine"], swap=[False, True], margin=[1.0, 0.5]):
        cases.append(Case(label(opts), opts, draw((5, 3), opts)))
    opts = {"distance_function": "pairwise", "margin": 2.0}
    cases.append(Case(label(opts), opts, draw((4, 2), opts)))
    opts = {"distance_function": "cosine", "swap": True}
    cases.append(Case(label(opts, "unbatched"), opts, draw((3,), opts)))
    return cases


def _embeddings_path(rng, b, opts):
    return tuple(rng.normal(0, 1, (b, BENCH_FEATURES)) for _ in range(3))


def _contrastive_path(rng, b, opts):
    return rng.normal(0, 0.7, (b, BENCH_FEATURES)), rng.normal(0, 0.7, (b, BENCH_FEATURES)), rng.integers(0, 2, b)


def _ntxent_path(rng, b, opts):
    """At most 2048 pairs: the loss compares every embedding with every other, (2b)^2 similarities."""
    b = min(b, 2048)
    return rng.normal(0, 1, (b, BENCH_FEATURES)), rng.normal(0, 1, (b, BENCH_FEATURES))


def _ntxent_group_path(rng, b, opts):
    """At most 4096 embeddings in groups of about four (several views of a sample), every one with a positive."""
    b = max(2, min(b, 4096))
    return rng.normal(0, 1, (b, BENCH_FEATURES)), np.arange(b) // 4 if b >= 4 else np.zeros(b, dtype=np.int64)


@registered(
    "max(margin + d(a, p) - d(a, n), 0) with a chosen distance (Euclidean, cosine, custom)",
    _triplet_distance_cases,
    curve=Curve(
        lambda xs: ((xs[:, None], np.zeros((len(xs), 1)), np.ones((len(xs), 1))), {}),
        "anchor position (positive at 0, negative at 1, Euclidean distance)",
        (-2.0, 3.0),
        column=0,
    ),
    array_api=True,
    paths=paths_of(_embeddings_path, distance_function=[None, "cosine"], swap=[False, True]),
)
class TripletMarginWithDistanceLoss(Loss):
    """``max(margin + d(a, p) - d(a, n), 0)`` with a chosen distance (None, ``"pairwise"``,
    ``"cosine"`` or a distance object); see :func:`losslab.functional.triplet_margin_with_distance_loss`."""

    _function = staticmethod(F.triplet_margin_with_distance_loss)
    _backward = staticmethod(F.triplet_margin_with_distance_loss_backward)
    _inputs = ("anchor", "positive", "negative")
    _grad_inputs = ("anchor", "positive", "negative")
    _options = (
        checked("distance_function", None, _check_distance),
        scalar("margin", 1.0, low=0.0, low_open=True),
        flag("swap", False),
        reduction(),
    )


def _contrastive_cases(rng) -> list[Case]:
    cases = []
    for margin in (1.0, 2.0):
        x1, x2 = rng.normal(0, 0.7, (6, 3)), rng.normal(0, 0.7, (6, 3))
        y = np.array([1, 0, 0, 1, 0, 0])
        d = np.linalg.norm(x1 - x2, axis=-1)
        x2 = x1 - (x1 - x2) * (away_from(d, [margin]) / d)[:, None]  # dissimilar hinge off its kink
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x1, x2, y)))
    cases.append(Case("unbatched", {"margin": 1.5}, (rng.normal(0, 0.5, 3), rng.normal(0, 0.5, 3), np.array(0))))
    return cases


@registered(
    "d^2/2 for similar pairs, max(0, margin - d)^2/2 for dissimilar (Hadsell et al. 2006)",
    _contrastive_cases,
    curve=Curve(
        lambda xs: ((xs[:, None], np.zeros((len(xs), 1)), np.zeros(len(xs), dtype=np.int64)), {}),
        "x1 = [x], x2 = [0]: dissimilar pair, margin 1",
        (-2.0, 2.0),
        column=0,
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_contrastive_path, margin=[1.0]),
)
class ContrastiveLoss(Loss):
    """Hadsell-Chopra-LeCun contrastive loss: ``d^2 / 2`` for similar pairs (target 1),
    ``max(0, margin - d)^2 / 2`` for dissimilar ones (target 0); see
    :func:`losslab.functional.contrastive_loss`."""

    _function = staticmethod(F.contrastive_loss)
    _backward = staticmethod(F.contrastive_loss_backward)
    _inputs = ("input1", "input2", "target")
    _grad_inputs = ("input1", "input2")
    _options = (scalar("margin", 1.0, positional=True, low=0.0, low_open=True), reduction())


def _ntxent_cases(rng) -> list[Case]:
    cases = [
        Case(f"temperature={t}", {"temperature": t}, (rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3))))
        for t in (0.07, 0.5, 1.0)
    ]
    cases.append(Case("default-5x2", {}, (rng.normal(0, 1, (5, 2)), rng.normal(0, 1, (5, 2)))))
    return cases


@registered(
    "NT-Xent / InfoNCE of two views (SimCLR), as optax.losses.ntxent",
    _ntxent_cases,
    curve=Curve(
        lambda x: (
            (np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), np.array([[1.0, x], [0.0, 1.0], [-1.0, 0.0]])),
            {"temperature": 0.5},
        ),
        "view 2's first embedding is [1, x]; its positive is [1, 0]",
        (-4.0, 4.0),
        grad_input=1,
        at=(0, 1),
    ),
    torch=False,
    array_api=True,
    paths=paths_of(_ntxent_path, temperature=[0.07]),
)
class NTXentLoss(Loss):
    """NT-Xent / InfoNCE of two views (N, D), as ``optax.losses.ntxent``; gradients for both
    views. See :func:`losslab.functional.nt_xent_loss`."""

    _function = staticmethod(F.nt_xent_loss)
    _backward = staticmethod(F.nt_xent_loss_backward)
    _inputs = ("view1", "view2")
    _grad_inputs = ("view1", "view2")
    _options = (scalar("temperature", 0.07, positional=True, low=0.0, low_open=True), reduction())


def _ntxent_group_cases(rng) -> list[Case]:
    cases = [
        Case(f"views,temperature={t}", {"temperature": t}, (rng.normal(0, 1, (6, 3)), np.array([0, 1, 2, 0, 1, 2])))
        for t in (0.1, 1.0)
    ]
    # three views of one sample, a pair, and an anchor without a positive
    cases.append(Case("groups", {"temperature": 0.5}, (rng.normal(0, 1, (6, 4)), np.array([3, 3, 3, 7, 7, 1]))))
    cases.append(Case("two-groups", {"temperature": 0.5}, (rng.normal(0, 1, (4, 2)), np.array([2, 2, 2, 0]))))
    return cases


@registered(
    "NT-Xent with group labels (supervised contrastive), as optax.losses.ntxent(embeddings, labels)",
    _ntxent_group_cases,
    curve=Curve(
        lambda x: ((np.array([[1.0, x], [1.0, 0.0], [-1.0, 0.0]]), np.array([0, 0, 1])), {"temperature": 0.5}),
        "embedding 0 is [1, x], its positive [1, 0], its negative [-1, 0]",
        (-4.0, 4.0),
        at=(0, 1),
    ),
    torch=False,
    array_api=False,
    paths=paths_of(_ntxent_group_path, temperature=[0.07]),
)
class NTXentGroupLoss(Loss):
    """NT-Xent of embeddings (B, D) whose equal group labels mark the positives, as ``optax.losses.ntxent``;
    see :func:`losslab.functional.nt_xent_group_loss`."""

    _function = staticmethod(F.nt_xent_group_loss)
    _backward = staticmethod(F.nt_xent_group_loss_backward)
    _inputs = ("embeddings", "labels")
    _grad_inputs = ("embeddings",)
    _options = (scalar("temperature", 0.07, positional=True, low=0.0, low_open=True), reduction())
