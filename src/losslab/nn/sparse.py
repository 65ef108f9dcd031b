"""Loss objects with sparse gradients: the sparsemax loss and the Crammer-Singer multi-class hinge."""

from __future__ import annotations

from .. import _validation as v
from ..functional import sparse as F
from ._base import Loss

__all__ = ["SparsemaxLoss", "MulticlassHingeLoss"]


class SparsemaxLoss(Loss):
    """The sparsemax (Fenchel-Young) loss, gradient ``sparsemax(z) - y``;
    see :func:`losslab.functional.sparsemax_loss`."""

    _function = staticmethod(F.sparsemax_loss)
    _backward = staticmethod(F.sparsemax_loss_backward)

    def __init__(self, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"reduction": self.reduction}


class MulticlassHingeLoss(Loss):
    """Crammer-Singer hinge ``max_j (s_j + 1 - y_j) - s_label``;
    see :func:`losslab.functional.multiclass_hinge_loss`."""

    _function = staticmethod(F.multiclass_hinge_loss)
    _backward = staticmethod(F.multiclass_hinge_loss_backward)

    def __init__(self, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"reduction": self.reduction}
