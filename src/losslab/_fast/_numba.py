"""Fused loss kernels compiled by numba (the optional ``fast`` extra).

Imported only by :mod:`losslab._fast._dispatch`, on the first call that can use it:
importing this module imports numba. Every kernel is ``cache=True`` (the machine code
is stored beside this file, or in numba's user cache directory, and loaded by later
processes) and ``nogil=True`` (the dispatcher runs chunks of one call on several
threads). Kernels are compiled on first use, never on import.

numba has no SVML here, so ``math.exp`` compiles to a scalar libm call that blocks
vectorisation. The kernels therefore use their own ``exp`` of a non-positive
argument, written so that LLVM vectorises it (no calls, no branches): Cody-Waite
range reduction ``x = k ln2 + r``, a polynomial for ``exp(r)`` and ``2^k`` added to
the exponent bits. Results below the smallest normal number are flushed to 0
(an absolute error under 1.2e-38 in float32, 2.3e-308 in float64).

Fast-math flags are given per helper, never to a whole kernel: ``contract`` (FMA)
for the polynomials, ``reassoc`` for the sums (so that they vectorise) and
``nnan``/``nsz`` for the row maximum, whose NaN is caught again by the
exponentials that follow it. A NaN in the input still gives a NaN loss.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}   # numpy: x / 0 is inf, no exception branch
_CONTRACT = {"contract"}
_SUM = {"reassoc", "contract"}
_MAX = {"nnan", "nsz"}

# --------------------------------------------------------------------------- bit casts


@intrinsic
def _f32_to_i32(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _i32_to_f32(typingctx, k):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _f64_to_i64(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _i64_to_f64(typingctx, k):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


# --------------------------------------------------------------------------- exp(x), x <= 0

@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _expneg32(x):
    """exp(x) for float32 x <= 0: Cephes' expf polynomial (about 1.5 ulp)."""
    lo = np.float32(-87.3)                  # exp(-87.3) ~ the smallest normal float32
    xc = x if x > lo else lo                # also maps NaN to a finite number for the int cast
    k = np.floor(xc * np.float32(1.44269504088896341) + np.float32(0.5))
    r = xc - k * np.float32(0.693359375)    # ln 2 in two parts: k * 0.693359375 is exact
    r = r - k * np.float32(-2.12194440e-4)
    p = (((((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)) * r
            + np.float32(8.3334519073e-3)) * r + np.float32(4.1665795894e-2)) * r
          + np.float32(1.6666665459e-1)) * r + np.float32(5.0000001201e-1)) * (r * r) + r + np.float32(1.0)
    y = _i32_to_f32(_f32_to_i32(p) + (np.int32(k) << 23))   # p * 2^k, a normal number here
    return y if x > lo else (np.float32(0.0) if x <= lo else x)   # x <= lo flushes to 0; NaN stays NaN


@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _expneg64(x):
    """exp(x) for float64 x <= 0: Taylor polynomial of degree 13 on |r| <= ln2/2 (about 1 ulp)."""
    lo = -708.3
    xc = x if x > lo else lo
    k = np.floor(xc * 1.4426950408889634 + 0.5)
    r = xc - k * 6.93145751953125e-1
    r = r - k * 1.42860682030941723212e-6
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    y = _i64_to_f64(_f64_to_i64(p) + (np.int64(k) << 52))
    return y if x > lo else (0.0 if x <= lo else x)


def _expneg(x):
    """exp(x) for x <= 0 in x's precision (resolved at compile time)."""


@overload(_expneg, jit_options=_JIT, inline="always")
def _expneg_impl(x):
    if x == types.float32:
        return lambda x: _expneg32(x)
    return lambda x: _expneg64(x)


@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _softplus_parts32(e):
    """``(log(1 + e), 1 / (1 + e))`` for float32 ``e`` in [0, 1], with one division.

    ``log(1 + e) = 2 atanh(z)``, ``z = e / (2 + e) <= 1/3``: the series in ``z^2 <= 1/9``
    (8 terms here, 17 in float64). ``R = 1 / ((1 + e)(2 + e))`` gives both ``z`` and
    ``1 / (1 + e)``; the rounding error of ``z`` is recovered from the exact remainder
    ``e - z (2 + e)`` (an FMA), so the leading term ``2 z`` carries no error of its
    own and only the small tail rounds: about 1 ulp overall.
    """
    one = np.float32(1.0)
    two = np.float32(2.0)
    s1 = one + e
    s2 = two + e
    s2_lo = (two - s2) + e                # 2 + e = s2 + s2_lo exactly
    r = one / (s1 * s2)
    inv2 = s1 * r                         # ~ 1 / (2 + e)
    z = e * inv2
    z_lo = ((e - z * s2) - z * s2_lo) * inv2
    w = z * z
    p = np.float32(1.0 / 15.0)
    p = p * w + np.float32(1.0 / 13.0)
    p = p * w + np.float32(1.0 / 11.0)
    p = p * w + np.float32(1.0 / 9.0)
    p = p * w + np.float32(1.0 / 7.0)
    p = p * w + np.float32(1.0 / 5.0)
    p = p * w + np.float32(1.0 / 3.0)
    return two * z + two * (z * w * p + z_lo), s2 * r


@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _softplus_parts64(e):
    """``(log(1 + e), 1 / (1 + e))`` for float64 ``e`` in [0, 1]; see :func:`_softplus_parts32`."""
    s1 = 1.0 + e
    s2 = 2.0 + e
    s2_lo = (2.0 - s2) + e
    r = 1.0 / (s1 * s2)
    inv2 = s1 * r
    z = e * inv2
    z_lo = ((e - z * s2) - z * s2_lo) * inv2
    w = z * z
    p = 1.0 / 33.0
    p = p * w + 1.0 / 31.0
    p = p * w + 1.0 / 29.0
    p = p * w + 1.0 / 27.0
    p = p * w + 1.0 / 25.0
    p = p * w + 1.0 / 23.0
    p = p * w + 1.0 / 21.0
    p = p * w + 1.0 / 19.0
    p = p * w + 1.0 / 17.0
    p = p * w + 1.0 / 15.0
    p = p * w + 1.0 / 13.0
    p = p * w + 1.0 / 11.0
    p = p * w + 1.0 / 9.0
    p = p * w + 1.0 / 7.0
    p = p * w + 1.0 / 5.0
    p = p * w + 1.0 / 3.0
    return 2.0 * z + 2.0 * (z * w * p + z_lo), s2 * r


def _softplus_parts(e):
    """``(log(1 + e), 1 / (1 + e))`` for ``e`` in [0, 1], in e's precision."""


@overload(_softplus_parts, jit_options=_JIT, inline="always")
def _softplus_parts_impl(e):
    if e == types.float32:
        return lambda e: _softplus_parts32(e)
    return lambda e: _softplus_parts64(e)


def _log1p_unit(e):
    """log(1 + e) for e in [0, 1] in e's precision."""


@overload(_log1p_unit, jit_options=_JIT, inline="always")
def _log1p_unit_impl(e):
    if e == types.float32:
        return lambda e: _softplus_parts32(e)[0]
    return lambda e: _softplus_parts64(e)[0]


# --------------------------------------------------------------------------- row helpers

@numba.njit(inline="always", **_JIT)
def _ordered32(k):
    """float32 bits -> int32 in the floats' order, and back (the map is its own inverse)."""
    return k ^ ((k >> np.int32(31)) & np.int32(0x7FFFFFFF))


@numba.njit(inline="always", **_JIT)
def _ordered64(k):
    return k ^ ((k >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF))


@numba.njit(**_JIT)
def _row_max32(row):
    mk = np.int32(-2147483648)
    for j in range(row.size):
        k = _ordered32(_f32_to_i32(row[j]))
        mk = k if k > mk else mk
    return _i32_to_f32(_ordered32(mk))


@numba.njit(**_JIT)
def _row_max64(row):
    mk = np.int64(-9223372036854775808)
    for j in range(row.size):
        k = _ordered64(_f64_to_i64(row[j]))
        mk = k if k > mk else mk
    return _i64_to_f64(_ordered64(mk))


def _row_max(row):
    """The maximum of a non-empty row, as an integer reduction over order-preserving bit patterns.

    numba puts no fast-math flags on comparisons, so a float max reduction stays
    scalar; an integer one vectorises. A positive NaN is the maximum (NaN out); a
    negative NaN is passed over, and ``exp(NaN - max)`` then makes the loss NaN all the same.
    """


@overload(_row_max, jit_options=_JIT)
def _row_max_impl(row):
    if row.dtype == types.float32:
        return lambda row: _row_max32(row)
    return lambda row: _row_max64(row)


@numba.njit(fastmath=_SUM, **_JIT)
def _row_sum(row):
    """The sum in float64 (vectorised: the flags let it reassociate)."""
    s = 0.0
    for j in range(row.size):
        s += float(row[j])
    return s


@numba.njit(fastmath=_SUM, **_JIT)
def _row_sum_below_one(row):
    """``sum(row) - 1`` for a row of ``exp(x - max)``, without rounding ``1 + sum``.

    The entries equal to 1 (the maximum, and its ties) are counted apart and the
    rest summed, so the sum of the others keeps its low bits: ``log1p`` of it is
    the loss to full relative precision even when the loss is tiny.
    """
    s = 0.0
    ones = 0
    for j in range(row.size):
        v = float(row[j])
        one = v == 1.0
        s += 0.0 if one else v            # a NaN is summed, so it propagates
        ones += 1 if one else 0
    return s + float(ones - 1)


@numba.njit(fastmath=_CONTRACT, **_JIT)
def _exp_inplace(a):
    for k in range(a.size):
        a[k] = _expneg(a[k])


@numba.njit(fastmath=_CONTRACT, **_JIT)
def _exp_shifted(x, m, out):
    for k in range(x.size):
        out[k] = _expneg(x[k] - m)


# --------------------------------------------------------------------------- cross-entropy

_CE_BLOCK = 4096   # elements per block of narrow rows: the block of g stays in L1 between passes
_CE_WIDE = 64      # rows at least this wide are handled one at a time


@numba.njit(**_JIT)
def ce_count(t, num_classes, ignore_index):
    """The number of labels that are not ``ignore_index``; -1 if any is outside [0, C)."""
    valid = 0
    for i in range(t.size):
        ti = t[i]
        if ti == ignore_index:
            continue
        if ti < 0 or ti >= num_classes:
            return -1
        valid += 1
    return valid


@numba.njit(**_JIT)
def ce_rows(x, t, ignore_index, scale, g, out, lo, hi):
    """Rows ``lo:hi`` of the fused cross-entropy: gradient into ``g``, float64 row losses into ``out`` if sized.

    ``g = scale (softmax(x) - onehot(t))`` row by row; returns the sum of the row
    losses ``log1p(sum exp(x - m) - 1) - (x[t] - m)`` (``m`` the row maximum) in row order,
    in float64. Ignored rows get a zero loss and a zero gradient row. ``t`` must
    have passed :func:`ce_count`. A wide row makes four passes while it sits in L1:
    maximum, ``exp(x - max)`` into ``g``, sum, scale. Narrow rows go by blocks: shift
    each row by its maximum, exponentiate the contiguous block at once (vectorised
    even for a handful of classes), then sum and scale each row.
    """
    num_classes = x.shape[1]
    keep = out.size > 0
    rows = 1 if num_classes >= _CE_WIDE else _CE_BLOCK // num_classes
    m = np.empty(min(rows, hi - lo), x.dtype)
    acc = 0.0
    for r0 in range(lo, hi, rows):
        r1 = min(r0 + rows, hi)
        if rows == 1:                           # wide rows: one pass of exp(x - max) per row
            m[0] = _row_max(x[r0])
            _exp_shifted(x[r0], m[0], g[r0])
        else:                                   # narrow rows: shift row by row, exp the whole block
            for i in range(r0, r1):
                xi = x[i]
                gi = g[i]
                mi = _row_max(xi)
                m[i - r0] = mi
                for j in range(num_classes):
                    gi[j] = xi[j] - mi
            _exp_inplace(g[r0:r1].reshape(-1))
        for i in range(r0, r1):
            ti = t[i]
            gi = g[i]
            if ti == ignore_index:
                gi[:] = 0
                if keep:
                    out[i] = 0
                continue
            rest = _row_sum_below_one(gi)       # sum of exp(x - max) is 1 + rest
            loss = math.log1p(rest) - float(x[i, ti] - m[i - r0])
            r = x.dtype.type(scale / (1.0 + rest))
            for j in range(num_classes):
                gi[j] *= r
            gi[ti] -= scale
            if keep:
                out[i] = loss
            acc += loss
    return acc


@numba.njit(**_JIT)
def ce_small(x, t, ignore_index, mean, g, out):
    """The whole fused cross-entropy in one call: ``(valid count or -1, sum of the row losses)``.

    The sum is the one :func:`seq_sum` gives over the row losses: the order never changes.
    """
    valid = ce_count(t, x.shape[1], ignore_index)
    if valid <= 0:
        return valid, 0.0
    one = x.dtype.type(1)
    scale = one / x.dtype.type(valid) if mean else one
    return valid, ce_rows(x, t, ignore_index, scale, g, out, 0, x.shape[0])


# --------------------------------------------------------------------------- pointwise losses
# Each ``*_chunk`` maps flat contiguous slices elementwise (vectorised, FMA allowed):
# the gradient into ``g`` (times ``gscale``) and the per-element loss into ``q``.
# ``*_chunks`` drives chunks lo:hi of CHUNK elements, sums each chunk's ``q`` with
# :func:`_row_sum`, stores that sum in ``partials`` and returns the sum of the sums in
# chunk order, so a total never depends on how the chunks were shared among threads.
# ``out`` is the caller's per-element loss ('none') or empty; ``q`` is then scratch.

@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _mse_chunk(x, t, g, q, gscale):
    for i in range(x.size):
        d = x[i] - t[i]
        q[i] = d * d
        g[i] = d * gscale


@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _l1_chunk(x, t, g, q, gscale):
    for i in range(x.size):
        d = x[i] - t[i]
        q[i] = abs(d)
        g[i] = gscale if d > 0 else (-gscale if d < 0 else d)   # sign(d) gscale; 0 and NaN pass through


@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _huber_chunk(x, t, g, q, gscale, delta, lscale):
    """Huber with ``delta``, loss times ``lscale`` (1, or 1/beta for smooth L1 with beta = delta)."""
    half = x.dtype.type(0.5)
    for i in range(x.size):
        d = x[i] - t[i]
        a = abs(d)
        q[i] = (half * a * a if a <= delta else delta * (a - half * delta)) * lscale
        c = delta if d > delta else d          # clip(d, -delta, delta); NaN passes through
        c = -delta if c < -delta else c
        g[i] = c * gscale


@numba.njit(fastmath=_CONTRACT, inline="always", **_JIT)
def _bce_logits_chunk(x, t, g, q, gscale):
    """loss = (1 - t) x + softplus(-x), grad = (1 - t) - sigmoid(-x), with e = exp(-|x|) <= 1."""
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    for i in range(x.size):
        xi = x[i]
        u = one - t[i]
        e = _expneg(-abs(xi))
        lp, inv = _softplus_parts(e)                     # log(1 + e), 1 / (1 + e)
        sig_neg = inv if xi < zero else e * inv          # sigmoid(-x)
        q[i] = u * xi + ((-xi if xi < zero else zero) + lp)
        g[i] = (u - sig_neg) * gscale


CHUNK = 1 << 14   # elements per chunk: x, t, g and q of a chunk stay in L2


@numba.njit(**_JIT)
def _chunk(c, n, out, scratch):
    """Bounds of chunk ``c`` and the loss buffer it writes."""
    a = c * CHUNK
    b = min(a + CHUNK, n)
    return a, b, (out[a:b] if out.size else scratch[:b - a])


@numba.njit(**_JIT)
def _scratch(x, out):
    return np.empty(0 if out.size else min(CHUNK, x.size), x.dtype)


@numba.njit(fastmath=_CONTRACT, **_JIT)
def mse_chunks(x, t, g, out, gscale, lo, hi, partials):
    scratch = _scratch(x, out)
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        _mse_chunk(x[a:b], t[a:b], g[a:b], q, gscale)
        partials[c] = s = _row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=_CONTRACT, **_JIT)
def l1_chunks(x, t, g, out, gscale, lo, hi, partials):
    scratch = _scratch(x, out)
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        _l1_chunk(x[a:b], t[a:b], g[a:b], q, gscale)
        partials[c] = s = _row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=_CONTRACT, **_JIT)
def huber_chunks(x, t, g, out, gscale, delta, lscale, lo, hi, partials):
    scratch = _scratch(x, out)
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        _huber_chunk(x[a:b], t[a:b], g[a:b], q, gscale, delta, lscale)
        partials[c] = s = _row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=_CONTRACT, **_JIT)
def bce_logits_chunks(x, t, g, out, gscale, lo, hi, partials):
    scratch = _scratch(x, out)
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        _bce_logits_chunk(x[a:b], t[a:b], g[a:b], q, gscale)
        partials[c] = s = _row_sum(q)
        acc += s
    return acc


@numba.njit(**_JIT)
def seq_sum(a):
    """Left-to-right float64 sum: what the kernels' running totals are, whatever the threads."""
    acc = 0.0
    for i in range(a.size):
        acc += a[i]
    return acc
