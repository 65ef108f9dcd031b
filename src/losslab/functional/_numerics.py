"""Products whose zero factor wins: the limits that keep an infinite entry from turning a sum into NaN.

A class of probability 0, a one-hot zero or a vanishing weight multiplies a log-probability or
a logit that may be infinite (a masked class, logit ``-inf``); IEEE's ``0 * inf`` is NaN, while
the term's limit is 0. These helpers take that limit, for arrays of any library.
"""

from __future__ import annotations

import math

import numpy as np


def times(w, z, xp):
    """``w * z``, with 0 where ``w`` is 0 even against an infinite ``z`` (the term drops out).

    Elsewhere it is exactly ``w * z``, signed zeros included.
    """
    return w * xp.where((w == 0) & xp.isinf(z), xp.zeros_like(z), z)


def weighted_sum(w, z, axis: int, xp) -> np.ndarray:
    """``sum(w * z, axis)`` where the entries of zero weight contribute 0 whatever ``z`` holds."""
    return xp.sum(times(w, z, xp), axis=axis)


def finite_or_definition(fused):
    """A fused result whose reduced value is not finite is left to the definition, which takes the
    limits (a mean whose sum overflows, an infinite residual)."""
    if fused is not None and fused[0].ndim == 0 and not math.isfinite(fused[0]):
        return None
    return fused
