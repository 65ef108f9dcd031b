"""Pure loss functions and their backward passes.

Each loss ``name(inputs..., *, options)`` has ``name_backward(dout, inputs..., *, options)``
beside it, returning the gradient of ``sum(dout * name(...))`` with respect to
the differentiable inputs. Grouped by family: classification, regression, margin,
embedding, metric learning, sequence (CTC), focal, segmentation, robust regression,
sparse (sparsemax), and the textbook's functions.
"""

from .activation import (
    log_sigmoid, log_softmax, sigmoid, softmax, softplus,
)
from .classification import (
    binary_cross_entropy, binary_cross_entropy_backward, binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward, cross_entropy, cross_entropy_backward, nll_loss,
    nll_loss_backward,
)
from .regression import (
    gaussian_nll_loss, gaussian_nll_loss_backward, huber_loss, huber_loss_backward, kl_div,
    kl_div_backward, l1_loss, l1_loss_backward, mse_loss, mse_loss_backward, poisson_nll_loss,
    poisson_nll_loss_backward, smooth_l1_loss, smooth_l1_loss_backward,
)
from .margin import (
    hinge_embedding_loss, hinge_embedding_loss_backward, multi_margin_loss,
    multi_margin_loss_backward, multilabel_margin_loss, multilabel_margin_loss_backward,
    multilabel_soft_margin_loss, multilabel_soft_margin_loss_backward, soft_margin_loss,
    soft_margin_loss_backward,
)
from .embedding import (
    cosine_embedding_loss, cosine_embedding_loss_backward, margin_ranking_loss,
    margin_ranking_loss_backward, triplet_margin_loss, triplet_margin_loss_backward,
)
from .textbook import (
    cross_entropy_error, cross_entropy_error_backward, mean_squared_error,
    mean_squared_error_backward,
)
from .ctc import (
    ctc_loss, ctc_loss_backward,
)
from .metric import (
    contrastive_loss, contrastive_loss_backward, cosine_distance, cosine_distance_backward,
    nt_xent_loss, nt_xent_loss_backward, pairwise_distance, pairwise_distance_backward,
    triplet_margin_with_distance_loss, triplet_margin_with_distance_loss_backward,
)
from .focal import (
    focal_loss, focal_loss_backward, poly1_cross_entropy, poly1_cross_entropy_backward,
    sigmoid_focal_loss, sigmoid_focal_loss_backward,
)
from .segmentation import (
    dice_loss, dice_loss_backward, generalized_dice_loss, generalized_dice_loss_backward,
    tversky_loss, tversky_loss_backward,
)
from .robust import (
    charbonnier_loss, charbonnier_loss_backward, log_cosh_loss, log_cosh_loss_backward,
    quantile_loss, quantile_loss_backward,
)
from .sparse import (
    multiclass_hinge_loss, multiclass_hinge_loss_backward, sparsemax, sparsemax_backward,
    sparsemax_loss, sparsemax_loss_backward,
)

__all__ = [
    "softmax", "log_softmax", "sigmoid", "log_sigmoid", "softplus", "cross_entropy",
    "cross_entropy_backward", "nll_loss", "nll_loss_backward", "binary_cross_entropy",
    "binary_cross_entropy_backward", "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward", "mse_loss", "mse_loss_backward", "l1_loss",
    "l1_loss_backward", "smooth_l1_loss", "smooth_l1_loss_backward", "huber_loss",
    "huber_loss_backward", "kl_div", "kl_div_backward", "poisson_nll_loss",
    "poisson_nll_loss_backward", "gaussian_nll_loss", "gaussian_nll_loss_backward",
    "hinge_embedding_loss", "hinge_embedding_loss_backward", "soft_margin_loss",
    "soft_margin_loss_backward", "multilabel_soft_margin_loss",
    "multilabel_soft_margin_loss_backward", "multi_margin_loss", "multi_margin_loss_backward",
    "multilabel_margin_loss", "multilabel_margin_loss_backward", "margin_ranking_loss",
    "margin_ranking_loss_backward", "cosine_embedding_loss", "cosine_embedding_loss_backward",
    "triplet_margin_loss", "triplet_margin_loss_backward", "mean_squared_error",
    "mean_squared_error_backward", "cross_entropy_error", "cross_entropy_error_backward",
    "ctc_loss", "ctc_loss_backward", "pairwise_distance", "pairwise_distance_backward",
    "cosine_distance", "cosine_distance_backward", "triplet_margin_with_distance_loss",
    "triplet_margin_with_distance_loss_backward", "contrastive_loss", "contrastive_loss_backward",
    "nt_xent_loss", "nt_xent_loss_backward", "sigmoid_focal_loss", "sigmoid_focal_loss_backward",
    "focal_loss", "focal_loss_backward", "poly1_cross_entropy", "poly1_cross_entropy_backward",
    "dice_loss", "dice_loss_backward", "tversky_loss", "tversky_loss_backward",
    "generalized_dice_loss", "generalized_dice_loss_backward", "log_cosh_loss",
    "log_cosh_loss_backward", "quantile_loss", "quantile_loss_backward", "charbonnier_loss",
    "charbonnier_loss_backward", "sparsemax", "sparsemax_backward", "sparsemax_loss",
    "sparsemax_loss_backward", "multiclass_hinge_loss", "multiclass_hinge_loss_backward",
]
