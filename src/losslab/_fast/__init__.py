"""Fused fast paths for the common loss calls: one pass computes the loss and its gradient.

A loss joins a fast path through one contract (:mod:`losslab._fast._contract`):
:func:`fused` attaches a kernel to the loss's pure function and :func:`defbackward`
to its backward, so :mod:`losslab.functional` and :mod:`losslab.nn` both take the
kernel first and fall back to the definitions, which stay the definition of every
result (the tests hold each kernel to them). The kernels themselves, and where they
run, are in :mod:`losslab._fast._dispatch`:

* cross-entropy on ``(N, C)`` logits with class indices (no weight, no label
  smoothing); MSE, L1, smooth L1, Huber, log-cosh, soft margin and BCE-with-logits, any shape;
* cross-entropy and NLL on K-dimensional inputs ``(N, C, d1, ..., dK)`` with every option;
* every other loss whose definition is decorated with :func:`fused` (the registry lists
  them: ``losslab.registry``; ``tests/test_fast_registry.py`` holds each to its definitions),
  and the two output-layer losses, whose one pass calls their kernels directly;
* numba kernels (``pip install losslab[fast]``; compiled on first use and cached
  on disk) when numba imports, else blocked NumPy kernels;
* large calls (about 200,000 elements for the exp-heavy losses, 800,000 for the cheapest) on
  :func:`get_num_threads` threads.

Importing this package imports NumPy only.
"""

from ._contract import Upstream, defbackward, fused, kernel_of, scale_by_dout
from ._dispatch import (
    BCE_LOGITS,
    CHARBONNIER,
    HUBER,
    KINDS,
    L1,
    LOG_COSH,
    MSE,
    PARALLEL_MIN,
    SMOOTH_L1,
    SOFT_MARGIN,
    Pointwise,
    backend,
    bce_logits_weighted,
    cosine_embedding,
    cross_entropy,
    cross_entropy_general,
    cross_entropy_kdim,
    ctc,
    focal,
    gaussian_nll,
    get_num_threads,
    hinge_embedding,
    kl_div,
    multi_margin,
    multiclass_hinge,
    multilabel_margin,
    multilabel_soft_margin,
    nll_kdim,
    overlap,
    pointwise,
    poisson_nll,
    poly1,
    quantile,
    set_num_threads,
    sigmoid_focal,
    sparsemax_loss,
    triplet,
    triplet_cosine,
)

__all__ = [
    "BCE_LOGITS",
    "CHARBONNIER",
    "HUBER",
    "KINDS",
    "L1",
    "LOG_COSH",
    "MSE",
    "PARALLEL_MIN",
    "SMOOTH_L1",
    "Pointwise",
    "backend",
    "SOFT_MARGIN",
    "bce_logits_weighted",
    "cosine_embedding",
    "cross_entropy_general",
    "cross_entropy",
    "cross_entropy_kdim",
    "ctc",
    "nll_kdim",
    "defbackward",
    "focal",
    "gaussian_nll",
    "fused",
    "get_num_threads",
    "hinge_embedding",
    "kl_div",
    "multi_margin",
    "multilabel_margin",
    "multilabel_soft_margin",
    "kernel_of",
    "multiclass_hinge",
    "overlap",
    "pointwise",
    "poisson_nll",
    "poly1",
    "quantile",
    "scale_by_dout",
    "Upstream",
    "set_num_threads",
    "sigmoid_focal",
    "sparsemax_loss",
    "triplet",
    "triplet_cosine",
]

# the overlap kernel's losses (Dice, Tversky, generalized Dice); the metric-learning and pair losses
from ._dispatch import DICE, GENERALIZED_DICE, TVERSKY, contrastive, margin_ranking, ntxent_small

__all__ += ["DICE", "TVERSKY", "GENERALIZED_DICE", "contrastive", "margin_ranking", "ntxent_small"]

# binary cross-entropy on probabilities; cross-entropy of (N, C) logits: small calls, and without numba
from ._dispatch import bce, cross_entropy_dense, cross_entropy_small  # noqa: E402

__all__ += ["bce", "cross_entropy_dense", "cross_entropy_small"]

# the losses of an output layer: the adaptive softmax on a few rows (numba), the linear cross-entropy's rows
from ._dispatch import ASM_SMALL, adaptive_small, ce_weighted_rows, linear_ce_chunk, seq_sum  # noqa: E402

__all__ += ["ASM_SMALL", "adaptive_small", "ce_weighted_rows", "linear_ce_chunk", "seq_sum"]

# the linear cross-entropy of a few rows (numba); ranges of a task on this process's threads
from ._dispatch import LCE_SMALL, linear_ce_small  # noqa: E402
from ._dispatch import _run as run_ranges  # noqa: E402

__all__ += ["LCE_SMALL", "linear_ce_small", "run_ranges"]

# the linear cross-entropy's bounds on its inputs, in one numba call
from ._dispatch import add_bias, linear_ce_spans  # noqa: E402

__all__ += ["add_bias", "linear_ce_spans"]

# a large array of zeros with its pages mapped up front (NLL's gradient, written at the labels only)
from ._dispatch import zeros  # noqa: E402

__all__ += ["zeros"]

# the adaptive softmax: one softmax's values and logits' gradient, in one numba call; a cluster's rows gathered
# and its input gradient's rows added back
from ._dispatch import add_rows, asm_cols, take_rows  # noqa: E402

__all__ += ["add_rows", "asm_cols", "take_rows"]

# the linear cross-entropy's direct rows: bias, rows, their weights and the bias gradient in one numba call
from ._dispatch import linear_ce_rows  # noqa: E402

__all__ += ["linear_ce_rows"]
