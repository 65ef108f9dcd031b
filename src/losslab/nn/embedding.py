"""Loss objects of the embedding family, with PyTorch's names and constructor options."""

from __future__ import annotations

from .. import _validation as v
from ..functional import embedding as F
from ._base import Loss

__all__ = ["MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss"]


class _PairWithMargin(Loss):
    """A loss of two inputs and a +-1 target whose options are ``margin`` and ``reduction``."""

    _inputs = ("input1", "input2", "target")
    _grad_inputs = ("input1", "input2")

    def __init__(self, margin: float = 0.0, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.margin = v.check_scalar(margin, "margin")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"margin": self.margin, "reduction": self.reduction}


class MarginRankingLoss(_PairWithMargin):
    """Hinge on the ranking of two scores, ``max(0, -y (x1 - x2) + margin)``; see
    :func:`losslab.functional.margin_ranking_loss`."""

    _function = staticmethod(F.margin_ranking_loss)
    _backward = staticmethod(F.margin_ranking_loss_backward)


class CosineEmbeddingLoss(_PairWithMargin):
    """``1 - cos`` for similar pairs, ``max(0, cos - margin)`` for dissimilar ones; see
    :func:`losslab.functional.cosine_embedding_loss`."""

    _function = staticmethod(F.cosine_embedding_loss)
    _backward = staticmethod(F.cosine_embedding_loss_backward)


class TripletMarginLoss(Loss):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with a p-norm distance; see
    :func:`losslab.functional.triplet_margin_loss`."""

    _function = staticmethod(F.triplet_margin_loss)
    _backward = staticmethod(F.triplet_margin_loss_backward)
    _inputs = ("anchor", "positive", "negative")
    _grad_inputs = ("anchor", "positive", "negative")

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False, *,
                 reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.margin = v.check_scalar(margin, "margin", low=0.0, low_open=True)
        self.p = v.check_scalar(p, "p", low=0.0, low_open=True)
        self.eps = v.check_scalar(eps, "eps", low=0.0)
        self.swap = v.check_bool(swap, "swap")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"margin": self.margin, "p": self.p, "eps": self.eps, "swap": self.swap,
                "reduction": self.reduction}
