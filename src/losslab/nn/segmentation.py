"""Loss objects of the segmentation family: Dice, Tversky and generalized Dice.

See :mod:`losslab.functional.segmentation` for the layout (N, C, d1, ..., dK) and the
target forms (masks of the input's shape, or class indices).
"""

from __future__ import annotations

from .. import _validation as v
from ..functional import segmentation as F
from ._base import Loss

__all__ = ["DiceLoss", "TverskyLoss", "GeneralizedDiceLoss"]


class DiceLoss(Loss):
    """Soft Dice loss per sample, averaged over classes; see :func:`losslab.functional.dice_loss`."""

    _function = staticmethod(F.dice_loss)
    _backward = staticmethod(F.dice_loss_backward)

    def __init__(self, *, smooth: float = 1.0, logits: bool = False, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.smooth = v.check_scalar(smooth, "smooth", low=0.0)
        self.logits = v.check_bool(logits, "logits")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"smooth": self.smooth, "logits": self.logits, "reduction": self.reduction}


class TverskyLoss(Loss):
    """Tversky loss (false positives weighted by alpha, false negatives by beta);
    see :func:`losslab.functional.tversky_loss`."""

    _function = staticmethod(F.tversky_loss)
    _backward = staticmethod(F.tversky_loss_backward)

    def __init__(self, *, alpha: float = 0.5, beta: float = 0.5, smooth: float = 1.0, logits: bool = False,
                 reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.alpha = v.check_scalar(alpha, "alpha", low=0.0)
        self.beta = v.check_scalar(beta, "beta", low=0.0)
        self.smooth = v.check_scalar(smooth, "smooth", low=0.0)
        self.logits = v.check_bool(logits, "logits")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"alpha": self.alpha, "beta": self.beta, "smooth": self.smooth, "logits": self.logits,
                "reduction": self.reduction}


class GeneralizedDiceLoss(Loss):
    """Generalized Dice loss, classes weighted by inverse squared volume (MONAI's definition);
    see :func:`losslab.functional.generalized_dice_loss`."""

    _function = staticmethod(F.generalized_dice_loss)
    _backward = staticmethod(F.generalized_dice_loss_backward)

    def __init__(self, *, smooth: float = 1e-5, logits: bool = False, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.smooth = v.check_scalar(smooth, "smooth", low=0.0)
        self.logits = v.check_bool(logits, "logits")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"smooth": self.smooth, "logits": self.logits, "reduction": self.reduction}
