"""Loss objects of the classification family, with PyTorch's names and constructor options.

``weight`` stays the first positional option, as in PyTorch; the rest are keyword-only.
Array options (``weight``, ``pos_weight``) are validated when the loss is called, once
the number of classes and the input's shape are known.
"""

from __future__ import annotations

from .. import _fast
from .. import _validation as v
from ..functional import classification as F
from ._base import Loss

__all__ = ["CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss"]


class CrossEntropyLoss(_fast.FusedLoss, Loss):
    """Softmax cross-entropy on logits; see :func:`losslab.functional.cross_entropy`.

    On the fused path (2-D logits, class indices, no weight or label smoothing) the
    forward pass also computes the gradient, which ``backward`` then scales by ``dout``.
    """

    _function = staticmethod(F.cross_entropy)
    _backward = staticmethod(F.cross_entropy_backward)
    _rows = True

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: v.Reduction = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.weight = weight
        self.ignore_index = v.check_scalar(ignore_index, "ignore_index", integer=True)
        self.reduction = v.check_reduction(reduction)
        self.label_smoothing = v.check_scalar(label_smoothing, "label_smoothing", low=0.0, high=1.0)

    def options(self):
        return {"weight": self.weight, "ignore_index": self.ignore_index, "reduction": self.reduction,
                "label_smoothing": self.label_smoothing}

    def _fused(self, input, target):
        return _fast.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                                   self.label_smoothing)

    def _fused_key(self):
        return self.weight is None, self.ignore_index, self.reduction, self.label_smoothing


class NLLLoss(Loss):
    """Negative log-likelihood of log-probabilities; see :func:`losslab.functional.nll_loss`."""

    _function = staticmethod(F.nll_loss)
    _backward = staticmethod(F.nll_loss_backward)

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.weight = weight
        self.ignore_index = v.check_scalar(ignore_index, "ignore_index", integer=True)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"weight": self.weight, "ignore_index": self.ignore_index, "reduction": self.reduction}


class BCELoss(Loss):
    """Binary cross-entropy on probabilities; see :func:`losslab.functional.binary_cross_entropy`."""

    _function = staticmethod(F.binary_cross_entropy)
    _backward = staticmethod(F.binary_cross_entropy_backward)

    def __init__(self, weight=None, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.weight = weight
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"weight": self.weight, "reduction": self.reduction}


class BCEWithLogitsLoss(_fast.FusedLoss, Loss):
    """Binary cross-entropy on logits; see :func:`losslab.functional.binary_cross_entropy_with_logits`.

    Without ``weight`` and ``pos_weight`` the forward pass also computes the gradient (fused path).
    """

    _function = staticmethod(F.binary_cross_entropy_with_logits)
    _backward = staticmethod(F.binary_cross_entropy_with_logits_backward)

    def __init__(self, weight=None, *, reduction: v.Reduction = "mean", pos_weight=None) -> None:
        super().__init__()
        self.weight = weight
        self.reduction = v.check_reduction(reduction)
        self.pos_weight = pos_weight

    def options(self):
        return {"weight": self.weight, "reduction": self.reduction, "pos_weight": self.pos_weight}

    def _fused(self, input, target):
        if self.weight is not None or self.pos_weight is not None:
            return None
        return _fast.pointwise("bce_logits", input, target, self.reduction)

    def _fused_key(self):
        return self.weight is None and self.pos_weight is None, self.reduction
