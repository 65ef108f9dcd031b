"""Loss objects of the margin family, with PyTorch's names and constructor options."""

from __future__ import annotations

import math

from .. import _array_api as xpa
from .. import _validation as v
from ..functional import margin as F
from ._base import Loss

__all__ = ["HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
           "MultiLabelMarginLoss"]


def _class_weight(weight):
    """A per-class weight before the number of classes is known: ``None`` or any 1-D real array (of any library)."""
    if weight is None:
        return None
    arr = xpa.asarray(weight, xpa.namespace(weight))
    return v.check_weight(arr, "weight", math.prod(arr.shape), arr.dtype)


class HingeEmbeddingLoss(Loss):
    """``x`` if ``y = 1``, ``max(0, margin - x)`` if ``y = -1``; see :func:`losslab.functional.hinge_embedding_loss`."""

    _function = staticmethod(F.hinge_embedding_loss)
    _backward = staticmethod(F.hinge_embedding_loss_backward)

    def __init__(self, margin: float = 1.0, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.margin = v.check_scalar(margin, "margin")
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"margin": self.margin, "reduction": self.reduction}


class SoftMarginLoss(Loss):
    """Logistic loss ``log(1 + exp(-y x))`` on +-1 labels; see :func:`losslab.functional.soft_margin_loss`."""

    _function = staticmethod(F.soft_margin_loss)
    _backward = staticmethod(F.soft_margin_loss_backward)

    def __init__(self, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"reduction": self.reduction}


class MultiLabelSoftMarginLoss(Loss):
    """Per-class logistic loss averaged over classes; see :func:`losslab.functional.multilabel_soft_margin_loss`."""

    _function = staticmethod(F.multilabel_soft_margin_loss)
    _backward = staticmethod(F.multilabel_soft_margin_loss_backward)

    def __init__(self, weight=None, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.weight = _class_weight(weight)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"weight": self.weight, "reduction": self.reduction}


class MultiMarginLoss(Loss):
    """Multi-class hinge loss (p = 1 or 2); see :func:`losslab.functional.multi_margin_loss`."""

    _function = staticmethod(F.multi_margin_loss)
    _backward = staticmethod(F.multi_margin_loss_backward)

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.p = F._check_p(p)
        self.margin = v.check_scalar(margin, "margin")
        self.weight = _class_weight(weight)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"p": self.p, "margin": self.margin, "weight": self.weight, "reduction": self.reduction}


class MultiLabelMarginLoss(Loss):
    """Multi-label hinge over listed and unlisted classes; see :func:`losslab.functional.multilabel_margin_loss`."""

    _function = staticmethod(F.multilabel_margin_loss)
    _backward = staticmethod(F.multilabel_margin_loss_backward)

    def __init__(self, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"reduction": self.reduction}
