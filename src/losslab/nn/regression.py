"""Loss objects of the regression family, with PyTorch's names and constructor options."""

from __future__ import annotations

from .. import _fast
from .. import _validation as v
from ..functional import regression as F
from ._base import Loss

__all__ = ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss"]


class _Reduced(Loss):
    """A loss whose only option is ``reduction``."""

    def __init__(self, *, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"reduction": self.reduction}


class _Pointwise(_fast.FusedLoss):
    """A loss with a fused path (:func:`losslab._fast.pointwise`): forward also computes the gradient."""

    _kind: str
    _param_name: str | None = None

    def _param(self):
        return None if self._param_name is None else getattr(self, self._param_name)

    def _fused(self, input, target):
        return _fast.pointwise(self._kind, input, target, self.reduction, self._param())

    def _fused_key(self):
        return self.reduction, self._param()


class MSELoss(_Pointwise, _Reduced):
    """Squared error ``(x - t)^2``; see :func:`losslab.functional.mse_loss`."""

    _function = staticmethod(F.mse_loss)
    _backward = staticmethod(F.mse_loss_backward)
    _kind = "mse"


class L1Loss(_Pointwise, _Reduced):
    """Absolute error ``|x - t|``; see :func:`losslab.functional.l1_loss`."""

    _function = staticmethod(F.l1_loss)
    _backward = staticmethod(F.l1_loss_backward)
    _kind = "l1"


class SmoothL1Loss(_Pointwise, Loss):
    """Quadratic below ``beta``, linear above; see :func:`losslab.functional.smooth_l1_loss`."""

    _function = staticmethod(F.smooth_l1_loss)
    _backward = staticmethod(F.smooth_l1_loss_backward)
    _kind, _param_name = "smooth_l1", "beta"

    def __init__(self, *, reduction: v.Reduction = "mean", beta: float = 1.0) -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)
        self.beta = v.check_scalar(beta, "beta", low=0.0)

    def options(self):
        return {"reduction": self.reduction, "beta": self.beta}


class HuberLoss(_Pointwise, Loss):
    """Quadratic below ``delta``, linear above; see :func:`losslab.functional.huber_loss`."""

    _function = staticmethod(F.huber_loss)
    _backward = staticmethod(F.huber_loss_backward)
    _kind, _param_name = "huber", "delta"

    def __init__(self, reduction: v.Reduction = "mean", delta: float = 1.0) -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction)
        self.delta = v.check_scalar(delta, "delta", low=0.0, low_open=True)

    def options(self):
        return {"reduction": self.reduction, "delta": self.delta}


class KLDivLoss(Loss):
    """KL divergence from log-probabilities; see :func:`losslab.functional.kl_div`."""

    _function = staticmethod(F.kl_div)
    _backward = staticmethod(F.kl_div_backward)

    def __init__(self, *, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction, F._KL_REDUCTIONS)
        self.log_target = v.check_bool(log_target, "log_target")

    def options(self):
        return {"reduction": self.reduction, "log_target": self.log_target}


class PoissonNLLLoss(Loss):
    """Poisson negative log-likelihood; see :func:`losslab.functional.poisson_nll_loss`."""

    _function = staticmethod(F.poisson_nll_loss)
    _backward = staticmethod(F.poisson_nll_loss_backward)

    def __init__(self, log_input: bool = True, full: bool = False, *, eps: float = 1e-8,
                 reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.log_input = v.check_bool(log_input, "log_input")
        self.full = v.check_bool(full, "full")
        self.eps = v.check_scalar(eps, "eps", low=0.0)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"log_input": self.log_input, "full": self.full, "eps": self.eps, "reduction": self.reduction}


class GaussianNLLLoss(Loss):
    """Gaussian negative log-likelihood, ``L(input, target, var)``; gradients for input and var.

    See :func:`losslab.functional.gaussian_nll_loss`.
    """

    _function = staticmethod(F.gaussian_nll_loss)
    _backward = staticmethod(F.gaussian_nll_loss_backward)
    _inputs = ("input", "target", "var")
    _grad_inputs = ("input", "var")

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: v.Reduction = "mean") -> None:
        super().__init__()
        self.full = v.check_bool(full, "full")
        self.eps = v.check_scalar(eps, "eps", low=0.0)
        self.reduction = v.check_reduction(reduction)

    def options(self):
        return {"full": self.full, "eps": self.eps, "reduction": self.reduction}
