"""Fused fast paths for the common loss calls: one pass computes the loss and its gradient.

The public functions in :mod:`losslab.functional` and the loss objects in
:mod:`losslab.nn` call :func:`cross_entropy` or :func:`pointwise` first; a
``None`` answer sends them to the reference implementation, which stays the
definition of every result (the tests hold each fast path to it). What is fused,
and where it runs, is decided in :mod:`losslab._fast._dispatch`:

* cross-entropy on ``(N, C)`` logits with class indices (no weight, no label
  smoothing); MSE, L1, smooth L1, Huber and BCE-with-logits (no weights), any shape;
* numba kernels (``pip install losslab[fast]``; compiled on first use and cached
  on disk) when numba imports, else blocked NumPy kernels;
* large calls (2^18 elements for the exp-heavy losses, 2^20 for the others) on
  :func:`get_num_threads` threads.

Importing this package imports NumPy only.
"""

from ._dispatch import (
    KINDS, PARALLEL_MIN, backend, cross_entropy, get_num_threads, pointwise, pointwise_backward, scale_by_dout,
    set_num_threads,
)
from ._loss import FusedLoss

__all__ = [
    "KINDS", "PARALLEL_MIN", "FusedLoss", "backend", "cross_entropy", "get_num_threads", "pointwise",
    "pointwise_backward", "scale_by_dout", "set_num_threads",
]
