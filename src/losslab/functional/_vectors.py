"""Vector helpers shared by the embedding and metric-learning families: a second input, p-norms."""

from __future__ import annotations

import math

import numpy as np

from .. import _array_api as xpa
from .. import _validation as v


def second_input(x, name: str, first: np.ndarray, first_name: str) -> np.ndarray:
    """Another differentiable input: a float array of ``first``'s shape, cast to its dtype."""
    arr = v.as_float_array(x, name)
    v.check_same_shape(first, arr, first_name, name)
    return xpa.astype(arr, first.dtype, xpa.namespace(arr))


def pnorm(u: np.ndarray, p: float, xp=None) -> np.ndarray:
    """``||u||_p`` along the last axis, scaled by the largest entry so ``|u|^p`` cannot overflow."""
    xp = xpa.namespace(u) if xp is None else xp
    a = xp.abs(u)
    if p == 1:
        return xp.sum(a, axis=-1)
    if a.shape[-1] == 0:  # the norm of an empty vector is 0
        big = xp.sum(a, axis=-1, keepdims=True)  # zeros of shape (..., 1)
    else:
        big = xp.max(a, axis=-1, keepdims=True)  # |u| >= 0: the max of |u| and 0
    # an infinite entry: divide by 1 instead, and the norm is inf (big * s, s >= 1)
    r = a / xp.where((big > 0) & (big < math.inf), big, 1)
    s = xp.sqrt(xp.sum(r * r, axis=-1)) if p == 2 else (xp.sum(r**p, axis=-1)) ** (1 / p)
    with np.errstate(over="ignore"):  # a norm beyond the float range is inf, its true value
        return big[..., 0] * s


def pnorm_grad(u: np.ndarray, norm: np.ndarray, p: float, xp=None) -> np.ndarray:
    """``d ||u||_p / du = sign(u) (|u| / ||u||_p)^(p-1)``; 0 where the norm is 0 (PyTorch's choice).

    Where the norm is infinite, the limit along ``u``: ``sign(u) k^(1/p - 1)`` on the ``k``
    infinite entries (growing alike), 0 on the finite ones.
    """
    xp = xpa.namespace(u) if xp is None else xp
    if p == 1:
        return xp.sign(u)
    n = norm[..., None]
    infinite = xp.isinf(u)
    count = xp.sum(xpa.astype(infinite, u.dtype, xp), axis=-1, keepdims=True)
    far = xp.where(infinite, xp.sign(u), 0) * xp.where(count > 0, count, 1) ** (1 / p - 1)
    u = xp.where(infinite, 0, u)
    # finite entries whose norm overflows: the gradient (a direction) of u scaled by its largest entry
    overflow = (n == math.inf) & (count == 0)
    if xp is not np or overflow.any():  # (no eager read of a lazy array)
        scale = xp.where(overflow, xp.max(xp.abs(u), axis=-1, keepdims=True), 1)
        u = u / scale
        n = xp.where(overflow, pnorm(u, p, xp)[..., None], n)
    n = xp.where(n < math.inf, n, 1)
    safe = xp.where(n > 0, n, 1)
    if p == 2:
        grad = u / safe
    else:
        r = xp.abs(u) / safe  # in [0, 1]: no overflow
        if p < 1:  # r^(p-1) is infinite at r = 0, where PyTorch puts 0
            grad = xp.where(r > 0, xp.sign(u) * xp.where(r > 0, r, 1) ** (p - 1), 0)
        else:
            grad = xp.sign(u) * r ** (p - 1)
    return xpa.astype(xp.where(count > 0, far, xp.where(n > 0, grad, 0)), u.dtype, xp)


def norm_gap(u: np.ndarray, w: np.ndarray, u_minus_w: np.ndarray, xp) -> np.ndarray:
    """``||u||_2 - ||w||_2`` along the last axis, finite where both norms overflow (two far points
    at a finite distance apart): ``(u - w) . (u + w) / (||u|| + ||w||)``, with ``u + w`` and the
    norms scaled by the largest entry of both, and ``u - w`` given exactly."""
    big = xp.maximum(xp.max(xp.abs(u), axis=-1, keepdims=True), xp.max(xp.abs(w), axis=-1, keepdims=True))
    big = xp.where((big > 0) & (big < math.inf), big, 1)
    ru, rw = u / big, w / big
    return xp.sum(u_minus_w * (ru + rw), axis=-1) / (pnorm(ru, 2, xp) + pnorm(rw, 2, xp))
