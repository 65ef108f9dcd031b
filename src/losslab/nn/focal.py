"""Loss objects of the focal family: sigmoid and softmax focal loss, Poly-1 cross-entropy.

None is in ``torch.nn``; the constructor options follow the pure functions in
:mod:`losslab.functional.focal` (``weight`` first and positional in ``FocalLoss``, as in
``CrossEntropyLoss``). Array options are validated when the loss is called.
"""

from __future__ import annotations

from .. import _validation as v
from ..functional import focal as F
from ._base import Loss

__all__ = ["SigmoidFocalLoss", "FocalLoss", "PolyLoss"]


class SigmoidFocalLoss(Loss):
    """Binary focal loss on logits (torchvision's definition); see :func:`losslab.functional.sigmoid_focal_loss`."""

    _function = staticmethod(F.sigmoid_focal_loss)
    _backward = staticmethod(F.sigmoid_focal_loss_backward)

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.alpha = v.check_scalar(alpha, "alpha", high=1.0)
        self.gamma = v.check_scalar(gamma, "gamma", low=0.0)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"alpha": self.alpha, "gamma": self.gamma, "reduction": self.reduction}


class FocalLoss(Loss):
    """Softmax focal loss with class-index targets; see :func:`losslab.functional.focal_loss`."""

    _function = staticmethod(F.focal_loss)
    _backward = staticmethod(F.focal_loss_backward)

    def __init__(self, weight=None, *, gamma: float = 2.0, ignore_index: int = -100,
                 reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.weight = weight
        self.gamma = v.check_scalar(gamma, "gamma", low=0.0)
        self.ignore_index = v.check_scalar(ignore_index, "ignore_index", integer=True)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"gamma": self.gamma, "weight": self.weight, "ignore_index": self.ignore_index,
                "reduction": self.reduction}


class PolyLoss(Loss):
    """Poly-1 cross-entropy, CE + epsilon (1 - p_t) (optax's definition); see
    :func:`losslab.functional.poly1_cross_entropy`."""

    _function = staticmethod(F.poly1_cross_entropy)
    _backward = staticmethod(F.poly1_cross_entropy_backward)

    def __init__(self, epsilon: float = 2.0, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.epsilon = v.check_scalar(epsilon, "epsilon")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"epsilon": self.epsilon, "reduction": self.reduction}
