"""Loss objects with PyTorch's class names and options: ``out = L(*inputs)``, ``L.backward(dout)``."""

from ._base import Loss
from .regression import (
    GaussianNLLLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, PoissonNLLLoss, SmoothL1Loss,
)

__all__ = [
    "Loss",
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss",
]
