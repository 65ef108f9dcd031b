"""Limits of products with infinite or overflowing entries, for the losses of a linear output layer.

An infinite entry of an input, a weight or a bias is taken as ``+-s`` with ``s -> inf`` (one rate for
every infinite entry: the limit along the diagonal, which is *the* limit when a single entry is
infinite). A product ``x @ W.T + b`` is then a polynomial in ``s``, held here as its coefficients
(a list, index = power of ``s``), each a finite array scaled by a power of two so that a sum beyond
the float range (``1e308 * 2``) is still exact: ``(mantissa, exponent)`` is ``mantissa * 2**exponent``.
A logit's limit is decided by its leading nonzero coefficient; a softmax over such logits puts its
mass on the classes whose coefficients are lexicographically largest, shared by their finite parts
(:func:`log_softmax_limit`). NaN stays NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .activation import log_softmax_of

# (mantissa, exponent, bound): the coefficient mantissa * 2**exponent, known to within bound * 2**exponent (the
# rounding of the products that made it: a coefficient within its bound of 0 is 0, e.g. a softmax gradient's row sum)
Level = tuple[np.ndarray, int, Any]
Poly = list[Level]  # coefficients of s**0, s**1, ...


def exact(a: np.ndarray) -> Poly:
    """A finite array as a polynomial of degree 0, without rounding."""
    return [(a, 0, 0.0)]


def rounded(a: np.ndarray) -> Poly:
    """A finite array computed as a difference of terms of about its rows' largest size (a softmax gradient,
    whose entries may be rounding for 0): known to within a few ulps of that size."""
    eps = float(np.finfo(a.dtype).eps)
    size = np.max(np.abs(a), axis=-1, keepdims=True, initial=0) if a.ndim else np.abs(a)
    return [(a, 0, np.broadcast_to(size * (16 * eps), a.shape))]


def split(a: np.ndarray) -> Poly:
    """``a`` as a polynomial in ``s``: its finite part, and (where it has any) the sign of its infinite entries."""
    inf = np.isinf(a)
    if not inf.any():
        return exact(a)
    zero = np.zeros((), a.dtype)
    return [(np.where(inf, zero, a), 0, 0.0), (np.where(inf, np.sign(a), zero), 0, 0.0)]


def _exponent(a: np.ndarray) -> int:
    """The power of two that brings the largest finite magnitude of ``a`` to at most 1."""
    top = np.max(np.abs(np.where(np.isfinite(a), a, 0)), initial=0)
    return int(np.frexp(top)[1])


def _scaled(a, e: int):
    with np.errstate(over="ignore"):  # only to shrink (e > 0) or to give the final, possibly infinite, value
        return np.ldexp(a, -e) if e else a


def _matmul(a: Level, b: Level) -> Level:
    (ma, ea, ba), (mb, eb, bb) = a, b
    with np.errstate(over="ignore", invalid="ignore"):  # inf, or inf - inf: computed again, scaled
        out = ma @ mb
    if not np.isfinite(out).all():  # beyond the range: again, the operands brought to at most 1 (NaN stays NaN)
        sa, sb = _exponent(ma), _exponent(mb)
        ma, mb, ba, bb = _scaled(ma, sa), _scaled(mb, sb), _scaled(ba, sa), _scaled(bb, sb)
        ea, eb = ea + sa, eb + sb
        out = ma @ mb
    eps = float(np.finfo(out.dtype).eps)
    abs_a, abs_b = np.abs(ma), np.abs(mb)
    with np.errstate(over="ignore"):
        bound = (abs_a @ abs_b) * ((ma.shape[-1] + 2) * eps)  # this product's rounding, and its factors' carried
        if np.ndim(ba):
            bound = bound + ba @ abs_b
        if np.ndim(bb):
            bound = bound + abs_a @ bb
    return out, ea + eb, bound


def _add(a: Level, b: Level) -> Level:
    (ma, ea, ba), (mb, eb, bb) = a, b
    e = max(ea, eb)
    for extra in (0, 1):  # two finite terms: halving both keeps their sum in range
        with np.errstate(over="ignore"):
            out = _scaled(ma, e + extra - ea) + _scaled(mb, e + extra - eb)
        if not np.isinf(out).any():
            break
    eps = float(np.finfo(out.dtype).eps)
    bound = _scaled(ba, e + extra - ea) + _scaled(bb, e + extra - eb) + eps * np.abs(out)
    return out, e + extra, bound


def add(p: Poly, q: Poly) -> Poly:
    """``p + q`` (broadcasting)."""
    shape = np.broadcast_shapes(*(m.shape for m, _, _ in p + q))
    out = []
    for d in range(max(len(p), len(q))):
        m, e, bound = _add(p[d], q[d]) if d < len(p) and d < len(q) else (p[d] if d < len(p) else q[d])
        out.append((np.broadcast_to(m, shape), e, bound))
    return out


def matmul(p: Poly, q: Poly) -> Poly:
    """``p @ q``."""
    out: list[Level | None] = [None] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            term = _matmul(a, b)
            prev = out[i + j]
            out[i + j] = term if prev is None else _add(prev, term)
    return [level for level in out if level is not None]


def transpose(p: Poly) -> Poly:
    return [(m.T, e, np.transpose(bound)) for m, e, bound in p]


def rows(p: Poly, index) -> Poly:
    """The rows ``index`` of each coefficient."""
    return [(m[index], e, bound[index] if np.ndim(bound) else bound) for m, e, bound in p]


def reshape(p: Poly, shape: tuple[int, ...]) -> Poly:
    return [(m.reshape(shape), e, np.reshape(bound, shape) if np.ndim(bound) else bound) for m, e, bound in p]


def _nonzero(level: Level) -> tuple[np.ndarray, np.ndarray]:
    m, _, bound = level
    return (m > bound), (m < -bound)


def is_nan(p: Poly) -> np.ndarray:
    nan = np.isnan(p[0][0])
    for m, _, _ in p[1:]:
        nan = nan | np.isnan(m)
    return nan


def value(p: Poly) -> np.ndarray:
    """The limit of each entry: +-inf where a power of ``s`` leads, else the finite part (inf beyond the range)."""
    m, e, _ = p[0]
    out = np.array(_scaled(m, -e), copy=True)
    inf = np.array(math.inf, dtype=out.dtype)
    for level in p[1:]:  # the highest nonzero power decides
        up, down = _nonzero(level)
        out = np.where(up, inf, np.where(down, -inf, out))
    out[is_nan(p)] = math.nan
    return out


def log_softmax_limit(p: Poly, axis: int) -> np.ndarray:
    """The limit of ``log_softmax`` along ``axis`` of logits given as a polynomial in ``s``.

    The classes whose coefficients of ``s**k`` (k >= 1) are lexicographically largest (to within their
    rounding) share the mass by their finite parts (log-probabilities finite); every other class falls
    infinitely behind (``-inf``). A NaN anywhere along the axis makes the whole slice NaN.
    """
    ninf = -math.inf
    live = None
    for m, _, bound in reversed(p[1:]):
        cand = m if live is None else np.where(live, m, ninf)
        hit = cand + 2 * bound >= cand.max(axis=axis, keepdims=True)
        live = hit if live is None else live & hit
    m0, e0, _ = p[0]
    z = m0 if live is None else np.where(live, m0, ninf)
    if e0:  # differences to the largest live logit, back at their size (beyond the range: -inf, weight 0)
        with np.errstate(invalid="ignore"):  # a NaN slice
            z = _scaled(z - z.max(axis=axis, keepdims=True), -e0)
    logp = log_softmax_of(z, axis, np)
    nan = is_nan(p).any(axis=axis, keepdims=True)
    return np.where(nan, np.array(math.nan, dtype=logp.dtype), logp)
