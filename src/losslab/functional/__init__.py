"""Pure loss functions and their backward passes.

Each loss ``name(inputs..., *, options)`` has ``name_backward(dout, inputs..., *, options)``
beside it, returning the gradient of ``sum(dout * name(...))`` with respect to
the differentiable inputs.
"""

from .activation import log_sigmoid, log_softmax, sigmoid, softmax, softplus
from .regression import (
    gaussian_nll_loss, gaussian_nll_loss_backward, huber_loss, huber_loss_backward, kl_div,
    kl_div_backward, l1_loss, l1_loss_backward, mse_loss, mse_loss_backward, poisson_nll_loss,
    poisson_nll_loss_backward, smooth_l1_loss, smooth_l1_loss_backward,
)

__all__ = [
    "softmax", "log_softmax", "sigmoid", "log_sigmoid", "softplus",
    "mse_loss", "mse_loss_backward", "l1_loss", "l1_loss_backward",
    "smooth_l1_loss", "smooth_l1_loss_backward", "huber_loss", "huber_loss_backward",
    "kl_div", "kl_div_backward", "poisson_nll_loss", "poisson_nll_loss_backward",
    "gaussian_nll_loss", "gaussian_nll_loss_backward",
]
