"""Loss objects of the robust-regression family: log-cosh, quantile (pinball) and Charbonnier."""

from __future__ import annotations

from .. import _validation as v
from ..functional import robust as F
from ._base import Loss

__all__ = ["LogCoshLoss", "QuantileLoss", "CharbonnierLoss"]

# pytorch-forecasting's QuantileLoss default levels
DEFAULT_QUANTILES = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)


class LogCoshLoss(Loss):
    """``log(cosh(x - t))``, a smooth Huber; see :func:`losslab.functional.log_cosh_loss`."""

    _function = staticmethod(F.log_cosh_loss)
    _backward = staticmethod(F.log_cosh_loss_backward)

    def __init__(self, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"reduction": self.reduction}


class QuantileLoss(Loss):
    """Pinball loss for Q quantile levels, input (N, Q) against target (N,);
    see :func:`losslab.functional.quantile_loss`.

    ``quantiles`` defaults to pytorch-forecasting's seven levels
    (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98); the input then needs 7 columns.
    The levels are checked here; their count against the input's columns when the loss is called.
    """

    _function = staticmethod(F.quantile_loss)
    _backward = staticmethod(F.quantile_loss_backward)

    def __init__(self, quantiles=DEFAULT_QUANTILES, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)
        F._levels(quantiles)
        self.quantiles = quantiles

    def options(self):
        return {"quantiles": self.quantiles, "reduction": self.reduction}


class CharbonnierLoss(Loss):
    """``sqrt((x - t)^2 + eps^2)``, a differentiable L1; see :func:`losslab.functional.charbonnier_loss`."""

    _function = staticmethod(F.charbonnier_loss)
    _backward = staticmethod(F.charbonnier_loss_backward)

    def __init__(self, eps: float = 1e-3, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.eps = v.check_scalar(eps, "eps", low=0.0, low_open=True)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"eps": self.eps, "reduction": self.reduction}
