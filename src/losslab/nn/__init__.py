"""Loss objects with PyTorch's class names and options: ``out = L(*inputs)``, ``L.backward(dout)``."""

from ._base import Loss
from .classification import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
from .embedding import CosineEmbeddingLoss, MarginRankingLoss, TripletMarginLoss
from .margin import (
    HingeEmbeddingLoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, SoftMarginLoss,
)
from .regression import (
    GaussianNLLLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, PoissonNLLLoss, SmoothL1Loss,
)
from .textbook import MeanSquaredError, SoftmaxWithLoss

__all__ = [
    "Loss",
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
    "MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
    "SoftmaxWithLoss", "MeanSquaredError",
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss",
]
