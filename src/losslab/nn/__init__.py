"""Loss objects with PyTorch's class names and options: ``out = L(*inputs)``, ``L.backward(dout)``."""

from ._base import Loss
from .classification import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss,
)
from .regression import (
    GaussianNLLLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, PoissonNLLLoss, SmoothL1Loss,
)
from .margin import (
    HingeEmbeddingLoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss, MultiMarginLoss,
    SoftMarginLoss,
)
from .embedding import (
    CosineEmbeddingLoss, MarginRankingLoss, TripletMarginLoss,
)
from .textbook import (
    MeanSquaredError, SoftmaxWithLoss,
)
from .ctc import (
    CTCLoss,
)
from .metric import (
    ContrastiveLoss, CosineDistance, NTXentLoss, PairwiseDistance, TripletMarginWithDistanceLoss,
)
from .focal import (
    FocalLoss, PolyLoss, SigmoidFocalLoss,
)
from .segmentation import (
    DiceLoss, GeneralizedDiceLoss, TverskyLoss,
)
from .robust import (
    CharbonnierLoss, LogCoshLoss, QuantileLoss,
)
from .sparse import (
    MulticlassHingeLoss, SparsemaxLoss,
)

__all__ = [
    "Loss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss",
    "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss",
    "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss",
    "MultiLabelMarginLoss", "MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
    "SoftmaxWithLoss", "MeanSquaredError", "CTCLoss", "PairwiseDistance", "CosineDistance",
    "TripletMarginWithDistanceLoss", "ContrastiveLoss", "NTXentLoss", "SigmoidFocalLoss",
    "FocalLoss", "PolyLoss", "DiceLoss", "TverskyLoss", "GeneralizedDiceLoss", "LogCoshLoss",
    "QuantileLoss", "CharbonnierLoss", "SparsemaxLoss", "MulticlassHingeLoss",
]
