"""The CTC loss object, with PyTorch's name and constructor options."""

from __future__ import annotations

from .. import _validation as v
from ..functional import ctc as F
from ._base import Loss

__all__ = ["CTCLoss"]


class CTCLoss(Loss):
    """Connectionist temporal classification, called as ``CTCLoss()(log_probs, targets, input_lengths,
    target_lengths)``; ``backward`` returns the gradient for ``log_probs``. See
    :func:`losslab.functional.ctc_loss`."""

    _function = staticmethod(F.ctc_loss)
    _backward = staticmethod(F.ctc_loss_backward)
    _inputs = ("log_probs", "targets", "input_lengths", "target_lengths")
    _grad_inputs = ("log_probs",)

    def __init__(self, blank: int = 0, reduction: v.Reduction = "mean", zero_infinity: bool = False) -> None:
        super().__init__()
        self.blank = v.check_scalar(blank, "blank", low=0, integer=True)
        self.reduction = v.check_reduction(reduction)
        self.zero_infinity = v.check_bool(zero_infinity, "zero_infinity")

    def options(self):
        return {"blank": self.blank, "reduction": self.reduction, "zero_infinity": self.zero_infinity}
