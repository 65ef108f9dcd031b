"""Metric-learning loss objects, and the distance objects that ``TripletMarginWithDistanceLoss`` takes.

A *distance object* is anything with ``forward(x1, x2)``, returning one float distance
per row pair ((N,) for (N, D) inputs, 0-d for (D,) vectors), and ``backward(dout)``,
returning the pair ``(dx1, dx2)``: the gradients of ``sum(dout * distances)`` for its
latest ``forward`` call. :class:`PairwiseDistance` and :class:`CosineDistance` are the
two built in; write your own with the same two methods.
"""

from __future__ import annotations

from .. import _validation as v
from ..functional import metric as F
from ._base import Loss

__all__ = ["PairwiseDistance", "CosineDistance", "TripletMarginWithDistanceLoss", "ContrastiveLoss", "NTXentLoss"]


class _Distance:
    """Options in ``__init__``; ``forward`` caches its inputs (never copies or modifies them)."""

    _function: staticmethod
    _backward: staticmethod

    def __init__(self) -> None:
        self._cache: tuple | None = None

    def options(self) -> dict:
        raise NotImplementedError

    def forward(self, x1, x2):
        out = type(self)._function(x1, x2, **self.options())
        self._cache = (x1, x2)
        return out

    def __call__(self, x1, x2):
        return self.forward(x1, x2)

    def backward(self, dout=1.0):
        if self._cache is None:
            raise v.BackwardBeforeForwardError(
                f"{type(self).__name__}.backward() was called before forward(): call it on (x1, x2) first")
        return type(self)._backward(dout, *self._cache, **self.options())

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

    def __init__(self, p: float = 2.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = v.check_scalar(p, "p", low=0.0, low_open=True)
        self.eps = v.check_scalar(eps, "eps", low=0.0)

    def options(self):
        return {"p": self.p, "eps": self.eps}


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

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = v.check_scalar(eps, "eps", low=0.0)

    def options(self):
        return {"eps": self.eps}


class TripletMarginWithDistanceLoss(Loss):
    """``max(margin + d(a, p) - d(a, n), 0)`` with a chosen distance (None, ``"pairwise"``,
    ``"cosine"`` or a distance object); see :func:`losslab.functional.triplet_margin_with_distance_loss`."""

    _function = staticmethod(F.triplet_margin_with_distance_loss)
    _backward = staticmethod(F.triplet_margin_with_distance_loss_backward)
    _inputs = ("anchor", "positive", "negative")
    _grad_inputs = ("anchor", "positive", "negative")

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: v.Reduction = "mean") -> None:
        super().__init__()
        F._distance(distance_function)  # refuse a bad distance now, not at the first call
        self.distance_function = distance_function
        self.margin = v.check_scalar(margin, "margin", low=0.0, low_open=True)
        self.swap = v.check_bool(swap, "swap")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"distance_function": self.distance_function, "margin": self.margin, "swap": self.swap,
                "reduction": self.reduction}


class ContrastiveLoss(Loss):
    """Hadsell-Chopra-LeCun contrastive loss: ``d^2 / 2`` for similar pairs (target 1),
    ``max(0, margin - d)^2 / 2`` for dissimilar ones (target 0); see
    :func:`losslab.functional.contrastive_loss`."""

    _function = staticmethod(F.contrastive_loss)
    _backward = staticmethod(F.contrastive_loss_backward)
    _inputs = ("input1", "input2", "target")
    _grad_inputs = ("input1", "input2")

    def __init__(self, margin: float = 1.0, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.margin = v.check_scalar(margin, "margin", low=0.0, low_open=True)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"margin": self.margin, "reduction": self.reduction}


class NTXentLoss(Loss):
    """NT-Xent / InfoNCE of two views (N, D), as ``optax.losses.ntxent``; gradients for both
    views. See :func:`losslab.functional.nt_xent_loss`."""

    _function = staticmethod(F.nt_xent_loss)
    _backward = staticmethod(F.nt_xent_loss_backward)
    _inputs = ("view1", "view2")
    _grad_inputs = ("view1", "view2")

    def __init__(self, temperature: float = 0.07, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.temperature = v.check_scalar(temperature, "temperature", low=0.0, low_open=True)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"temperature": self.temperature, "reduction": self.reduction}
