"""Vectorisable math for the numba kernels: ``exp`` of x <= 0, ``log1p`` on [0, 1], row max and sums.

numba has no SVML here, so ``math.exp`` and ``math.log1p`` compile to scalar libm
calls that keep LLVM from vectorising a loop. These replacements have no calls and
no branches, so a loop over them vectorises (16 float32 lanes with AVX-512):

* ``exp(x)``, ``x <= 0``: Cody-Waite range reduction ``x = k ln2 + r``, a polynomial
  for ``exp(r)``, and ``k`` added to the exponent bits. Results below the smallest
  normal number are flushed to 0 (an absolute error under 1.2e-38 in float32, 2.3e-308
  in float64); a NaN stays NaN.
* ``log(1 + e)`` and ``1 / (1 + e)``, ``e`` in [0, 1] (softplus and sigmoid of ``-|x|``):
  ``2 atanh(e / (2 + e))`` as a short series, with one division for both.
* the row maximum as an integer reduction over order-preserving bit patterns (numba
  puts no fast-math flags on comparisons, so a float max reduction stays scalar).

Fast-math flags are given per function: ``contract`` (FMA) for the polynomials,
``reassoc`` for the sums, so that they vectorise. Helpers marked ``inline="always"``
are inlined into numba IR and take their caller's flags, so every caller of them is
compiled with ``contract`` only. Imported only through :mod:`losslab._fast._numba`.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

JIT = {"cache": True, "nogil": True, "error_model": "numpy"}  # numpy: x / 0 is inf, no exception branch
CONTRACT = {"contract"}
SUM = {"reassoc", "contract"}

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


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _expneg32(x):
    """exp(x) for float32 x <= 0: Cephes' expf polynomial (about 1.5 ulp)."""
    lo = np.float32(-87.3)  # exp(-87.3) ~ the smallest normal float32
    xc = x if x > lo else lo  # also maps NaN to a finite number for the int cast
    k = np.floor(xc * np.float32(1.44269504088896341) + np.float32(0.5))
    r = xc - k * np.float32(0.693359375)  # ln 2 in two parts: k * 0.693359375 is exact
    r = r - k * np.float32(-2.12194440e-4)
    p = (
        (
            (
                (
                    ((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)) * r + np.float32(8.3334519073e-3))
                    * r
                    + np.float32(4.1665795894e-2)
                )
                * r
                + np.float32(1.6666665459e-1)
            )
            * r
            + np.float32(5.0000001201e-1)
        )
        * (r * r)
        + r
        + np.float32(1.0)
    )
    y = _i32_to_f32(_f32_to_i32(p) + (np.int32(k) << 23))  # p * 2^k, a normal number here
    return y if x > lo else (np.float32(0.0) if x <= lo else x)  # x <= lo flushes to 0; NaN stays NaN


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _expneg64(x):
    """exp(x) for float64 x <= 0: Taylor polynomial of degree 13 on |r| <= ln2/2 (about 1 ulp).

    The polynomial is evaluated by Estrin's scheme (independent pairs, then powers
    of ``r``): a Horner chain of 13 dependent FMAs would leave the loop waiting on latency.
    """
    lo = -708.3
    xc = x if x > lo else lo
    k = np.floor(xc * 1.4426950408889634 + 0.5)
    r = xc - k * 6.93145751953125e-1
    r = r - k * 1.42860682030941723212e-6
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    a0 = 1.0 + r
    a1 = 1.0 / 2 + r * (1.0 / 6)
    a2 = 1.0 / 24 + r * (1.0 / 120)
    a3 = 1.0 / 720 + r * (1.0 / 5040)
    a4 = 1.0 / 40320 + r * (1.0 / 362880)
    a5 = 1.0 / 3628800 + r * (1.0 / 39916800)
    a6 = 1.0 / 479001600 + r * (1.0 / 6227020800)
    b0 = a0 + r2 * a1
    b1 = a2 + r2 * a3
    b2 = a4 + r2 * a5
    p = b0 + r4 * b1 + r8 * (b2 + r4 * a6)
    y = _i64_to_f64(_f64_to_i64(p) + (np.int64(k) << 52))
    return y if x > lo else (0.0 if x <= lo else x)


def expneg(x):
    """exp(x) for x <= 0 in x's precision (resolved at compile time)."""


@overload(expneg, jit_options=JIT, inline="always")
def _expneg_impl(x):
    if x == types.float32:
        return lambda x: _expneg32(x)
    return lambda x: _expneg64(x)


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _softplus_parts32(e):
    """``(log(1 + e), 1 / (1 + e))`` for float32 ``e`` in [0, 1], with one division.

    ``log(1 + e) = 2 atanh(z)``, ``z = e / (2 + e) <= 1/3``: the series in ``z^2 <= 1/9``
    (8 terms here, 17 in float64), evaluated by Estrin's scheme (short dependency
    chains). ``R = 1 / ((1 + e)(2 + e))`` gives both ``z`` and ``1 / (1 + e)``; the
    rounding error of ``z`` is recovered from the exact remainder
    ``e - z (2 + e)`` (an FMA), so the leading term ``2 z`` carries no error of its
    own and only the small tail rounds: about 1 ulp overall.
    """
    one = np.float32(1.0)
    two = np.float32(2.0)
    s1 = one + e
    s2 = two + e
    s2_lo = (two - s2) + e  # 2 + e = s2 + s2_lo exactly
    r = one / (s1 * s2)
    inv2 = s1 * r  # ~ 1 / (2 + e)
    z = e * inv2
    z_lo = ((e - z * s2) - z * s2_lo) * inv2
    w = z * z  # tail: w (1/3 + w/5 + ... + w^6/15), by Estrin's scheme
    w2 = w * w
    w4 = w2 * w2
    p = (
        (np.float32(1.0 / 3.0) + w * np.float32(1.0 / 5.0))
        + w2 * (np.float32(1.0 / 7.0) + w * np.float32(1.0 / 9.0))
        + w4 * ((np.float32(1.0 / 11.0) + w * np.float32(1.0 / 13.0)) + w2 * np.float32(1.0 / 15.0))
    )
    return two * z + two * (z * w * p + z_lo), s2 * r


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _softplus_parts64(e):
    """``(log(1 + e), 1 / (1 + e))`` for float64 ``e`` in [0, 1]; see :func:`_softplus_parts32`."""
    s1 = 1.0 + e
    s2 = 2.0 + e
    s2_lo = (2.0 - s2) + e
    r = 1.0 / (s1 * s2)
    inv2 = s1 * r
    z = e * inv2
    z_lo = ((e - z * s2) - z * s2_lo) * inv2
    w = z * z  # tail: w (1/3 + w/5 + ... + w^15/33), by Estrin's scheme
    w2 = w * w
    w4 = w2 * w2
    w8 = w4 * w4
    c0 = (1.0 / 3 + w * (1.0 / 5)) + w2 * (1.0 / 7 + w * (1.0 / 9))
    c1 = (1.0 / 11 + w * (1.0 / 13)) + w2 * (1.0 / 15 + w * (1.0 / 17))
    c2 = (1.0 / 19 + w * (1.0 / 21)) + w2 * (1.0 / 23 + w * (1.0 / 25))
    c3 = (1.0 / 27 + w * (1.0 / 29)) + w2 * (1.0 / 31 + w * (1.0 / 33))
    p = (c0 + w4 * c1) + w8 * (c2 + w4 * c3)
    return 2.0 * z + 2.0 * (z * w * p + z_lo), s2 * r


def softplus_parts(e):
    """``(log(1 + e), 1 / (1 + e))`` for ``e`` in [0, 1], in e's precision."""


@overload(softplus_parts, jit_options=JIT, inline="always")
def _softplus_parts_impl(e):
    if e == types.float32:
        return lambda e: _softplus_parts32(e)
    return lambda e: _softplus_parts64(e)


def log1p_unit(e):
    """log(1 + e) for e in [0, 1] in e's precision."""


@overload(log1p_unit, jit_options=JIT, inline="always")
def _log1p_unit_impl(e):
    if e == types.float32:
        return lambda e: _softplus_parts32(e)[0]
    return lambda e: _softplus_parts64(e)[0]


@numba.njit(fastmath=CONTRACT, **JIT)
def log1p_inplace(v):
    """``v = log(1 + v)`` for float64 ``v >= 0`` (inf and NaN stay), within about 1 ulp.

    ``u = 1 + v = 2^k m`` with ``m`` in [sqrt(1/2), sqrt(2)) from the bits; ``log m =
    2 atanh(s)``, ``s = (m - 1) / (m + 1)``, ``|s| <= 0.172``, a series of 11 terms in
    ``s^2`` with the rounding of ``s`` recovered by FMA; the rounding of ``1 + v`` is
    added back as ``(v - (u - 1)) / u``. Vectorises, unlike ``math.log1p``.
    """
    for i in range(v.size):
        x = v[i]
        u = 1.0 + x
        c = (x - (u - 1.0)) / u  # 1 + x = u (1 + c) to first order
        bits = _f64_to_i64(u)
        k = (bits >> np.int64(52)) - np.int64(1023)
        m = _i64_to_f64((bits & np.int64(0xFFFFFFFFFFFFF)) | np.int64(0x3FF0000000000000))  # [1, 2)
        big = m > 1.4142135623730951
        m = 0.5 * m if big else m
        k = k + (np.int64(1) if big else np.int64(0))
        f = m - 1.0  # exact
        s2 = 2.0 + f
        s2_lo = (2.0 - s2) + f  # 2 + f = s2 + s2_lo exactly (|f| <= 2)
        s = f / s2
        s_lo = ((f - s * s2) - s * s2_lo) / s2
        w = s * s
        w2 = w * w
        w4 = w2 * w2
        w8 = w4 * w4
        p = (
            ((1.0 / 3 + w * (1.0 / 5)) + w2 * (1.0 / 7 + w * (1.0 / 9)))
            + w4 * ((1.0 / 11 + w * (1.0 / 13)) + w2 * (1.0 / 15 + w * (1.0 / 17)))
            + w8 * ((1.0 / 19 + w * (1.0 / 21)) + w2 * (1.0 / 23))
        )
        kf = float(k)
        y = kf * 6.93147180369123816490e-01 + (
            2.0 * s + (kf * 1.90821492927058770002e-10 + 2.0 * (s * w * p + s_lo) + c)
        )
        v[i] = y if x < np.inf else x  # +inf and NaN pass through


# --------------------------------------------------------------------------- row helpers


@numba.njit(inline="always", **JIT)
def _ordered32(k):
    """float32 bits -> int32 in the floats' order, and back (the map is its own inverse)."""
    return k ^ ((k >> np.int32(31)) & np.int32(0x7FFFFFFF))


@numba.njit(inline="always", **JIT)
def _ordered64(k):
    return k ^ ((k >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF))


@numba.njit(**JIT)
def _row_max32(row):
    mk = np.int32(-2147483648)
    for j in range(row.size):
        k = _ordered32(_f32_to_i32(row[j]))
        mk = k if k > mk else mk
    return _i32_to_f32(_ordered32(mk))


@numba.njit(**JIT)
def _row_max64(row):
    mk = np.int64(-9223372036854775808)
    for j in range(row.size):
        k = _ordered64(_f64_to_i64(row[j]))
        mk = k if k > mk else mk
    return _i64_to_f64(_ordered64(mk))


def row_max(row):
    """The maximum of a non-empty row, as an integer reduction over order-preserving bit patterns.

    numba puts no fast-math flags on comparisons, so a float max reduction stays
    scalar; an integer one vectorises. A positive NaN is the maximum (NaN out); a
    negative NaN is passed over, and ``exp(NaN - max)`` then makes the loss NaN all the same.
    """


@overload(row_max, jit_options=JIT)
def _row_max_impl(row):
    if row.dtype == types.float32:
        return lambda row: _row_max32(row)
    return lambda row: _row_max64(row)


@numba.njit(fastmath=SUM, **JIT)
def row_sum(row):
    """The sum in float64 (vectorised: the flags let it reassociate)."""
    s = 0.0
    for j in range(row.size):
        s += float(row[j])
    return s


@numba.njit(fastmath=SUM, **JIT)
def row_sum_below_one(row):
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
        s += 0.0 if one else v  # a NaN is summed, so it propagates
        ones += 1 if one else 0
    return s + float(ones - 1)


@numba.njit(fastmath=CONTRACT, **JIT)
def exp_inplace(a):
    for k in range(a.size):
        a[k] = expneg(a[k])


@numba.njit(fastmath=CONTRACT, **JIT)
def exp_shifted(x, m, out):
    for k in range(x.size):
        out[k] = expneg(x[k] - m)


# --------------------------------------------------------------------------- log(x), every float
# ``x = 2^k m`` with ``m`` in [sqrt(1/2), sqrt(2)) from the bits (a subnormal ``x`` is scaled by 2^52, or
# 2^23 in float32, first), ``f = m - 1`` (exact), ``log m = 2 atanh(s)``, ``s = f / (2 + f)``, ``|s| <= 0.172``:
# a series in ``s^2`` (4 terms past ``2 s`` in float32, 11 in float64) with the rounding of ``s`` recovered by
# FMA, and ``k ln 2`` in two parts (its high part times ``k`` is exact). Within 1 ulp of ``np.log`` for
# positive finite ``x`` (normal or subnormal); 0 gives -inf, +inf gives +inf, a negative number or NaN gives
# NaN, as ``np.log`` does, by selects at the end: no branch and no call, so a loop over it vectorises.
# ``log`` is inlined into numba's IR (LLVM would not inline the float64 one): a function inlines it at most
# once (twice trips numba's SSA pass, a NumbaIRAssumptionWarning), so a second log goes through ``log_into``.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _log32(x):
    """log(x) in float32; see the section's comment."""
    one = np.float32(1.0)
    two = np.float32(2.0)
    tiny = x < np.float32(1.17549435e-38)  # subnormal (or 0, negative, selected away below)
    xs = x * np.float32(8388608.0) if tiny else x  # 2^23
    bits = _f32_to_i32(xs)
    k = (bits >> np.int32(23)) - (np.int32(150) if tiny else np.int32(127))
    m = _i32_to_f32((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000))  # [1, 2)
    big = m > np.float32(1.41421356)
    m = np.float32(0.5) * m if big else m
    k = k + (np.int32(1) if big else np.int32(0))
    f = m - one  # exact
    s2 = two + f
    s2_lo = (two - s2) + f  # 2 + f = s2 + s2_lo exactly
    r = one / s2
    s = f * r
    s_lo = ((f - s * s2) - s * s2_lo) * r  # the exact remainder (FMA), so s + s_lo is f / (2 + f) to 2 ulp^2
    w = s * s
    w2 = w * w
    p = (np.float32(1.0 / 3.0) + w * np.float32(1.0 / 5.0)) + w2 * (
        np.float32(1.0 / 7.0) + w * (np.float32(1.0 / 9.0) + w * np.float32(1.0 / 11.0))
    )
    kf = np.float32(k)
    y = kf * np.float32(0.693359375) + (two * s + (kf * np.float32(-2.12194440e-4) + two * (s * w * p + s_lo)))
    ok = (x > np.float32(0.0)) & (x < np.float32(np.inf))
    special = x if x > np.float32(0.0) else np.float32(np.nan)  # +inf, or NaN for a negative number or NaN
    return y if ok else (np.float32(-np.inf) if x == np.float32(0.0) else special)


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _log64(x):
    """log(x) in float64; see the section's comment."""
    tiny = x < 2.2250738585072014e-308
    xs = x * 4503599627370496.0 if tiny else x  # 2^52
    bits = _f64_to_i64(xs)
    k = (bits >> np.int64(52)) - (np.int64(1075) if tiny else np.int64(1023))
    m = _i64_to_f64((bits & np.int64(0xFFFFFFFFFFFFF)) | np.int64(0x3FF0000000000000))  # [1, 2)
    big = m > 1.4142135623730951
    m = 0.5 * m if big else m
    k = k + (np.int64(1) if big else np.int64(0))
    f = m - 1.0  # exact
    s2 = 2.0 + f
    s2_lo = (2.0 - s2) + f
    r = 1.0 / s2
    s = f * r
    s_lo = ((f - s * s2) - s * s2_lo) * r
    w = s * s
    w2 = w * w
    w4 = w2 * w2
    w8 = w4 * w4
    p = (
        ((1.0 / 3 + w * (1.0 / 5)) + w2 * (1.0 / 7 + w * (1.0 / 9)))
        + w4 * ((1.0 / 11 + w * (1.0 / 13)) + w2 * (1.0 / 15 + w * (1.0 / 17)))
        + w8 * ((1.0 / 19 + w * (1.0 / 21)) + w2 * (1.0 / 23))
    )
    kf = float(k)
    y = kf * 6.93147180369123816490e-01 + (2.0 * s + (kf * 1.90821492927058770002e-10 + 2.0 * (s * w * p + s_lo)))
    ok = (x > 0.0) & (x < np.inf)
    special = x if x > 0.0 else np.nan  # +inf, or NaN for a negative number or NaN
    return y if ok else (-np.inf if x == 0.0 else special)


def log(x):
    """log(x) in x's precision, vectorisable (see the section's comment); exact at 0, inf and NaN."""


@overload(log, jit_options=JIT, inline="always")
def _log_impl(x):
    if x == types.float32:
        return lambda x: _log32(x)
    return lambda x: _log64(x)


@numba.njit(fastmath=CONTRACT, **JIT)
def log_into(x, out):
    """``out = log(x)`` elementwise (1-d arrays of one dtype), a loop that vectorises."""
    for i in range(x.size):
        out[i] = log(x[i])


# --------------------------------------------------------------------------- exp(x), x up to 87 (700 in float64)
# ``expneg``'s Cody-Waite reduction and polynomial hold for positive x too, as long as ``p 2^k`` stays a
# normal number: ``k <= 126`` (float32), ``k <= 1021`` (float64), i.e. x up to 87 (700); ``k ln 2``'s high
# part times ``k`` stays exact there (9 + 7 bits, 12 + 10 bits). No division (``1 / expneg(-x)`` would take
# one), no branch: a loop over it vectorises. Larger x are the caller's to exclude.


def exp(x):
    """exp(x) in x's precision for x <= 87 (float32) or 700 (float64); below about -87.3 (-708.3) it is 0."""


overload(exp, jit_options=JIT, inline="always")(_expneg_impl)  # the same kernels as expneg, over their wider range


# --------------------------------------------------------------------------- rows of finite values
# numba puts no fast-math flags on comparisons, so ``a if a > m else m`` over a row stays scalar; the same
# select with ``nnan nsz`` on the compare and the select (emitted below) is a max reduction LLVM vectorises
# (``<16 x float>``). A NaN entry leaves the result unspecified: callers give such rows NaN another way.


@intrinsic
def _max_finite(typingctx, a, b):
    def codegen(context, builder, signature, args):
        above = builder.fcmp_ordered(">", args[0], args[1], flags=("nnan", "nsz"))
        return builder.select(above, args[0], args[1], flags=("nnan", "nsz"))

    return a(a, b), codegen


@numba.njit(**JIT)
def row_max_finite(row):
    """The maximum of a non-empty row of finite or infinite values, vectorised (256 x 100 float32 rows: ~6 ns a
    row against ~9 for :func:`row_max`'s integer reduction). A NaN entry makes the result unspecified: the
    cross-entropy's ``exp(x - max)`` of that entry is NaN whatever the maximum, and so is the row's loss."""
    m = row[0]
    for j in range(row.size):
        m = _max_finite(row[j], m)
    return m


@numba.njit(fastmath=SUM, **JIT)
def _row_sum_below_one32(row):
    s = np.float32(0.0)
    ones = 0
    for j in range(row.size):
        v = row[j]
        one = v == np.float32(1.0)
        s += np.float32(0.0) if one else v  # a NaN is summed, so it propagates
        ones += 1 if one else 0
    return np.float64(s) + float(ones - 1)


def row_sum_below_one_lanes(row):
    """:func:`row_sum_below_one` with a float32 row summed in float32 lanes (a float64 row: the same function).

    Twice the lanes of the float64 sum: 100 float32 classes ~12 -> ~8 ns a row. The entries equal to 1 are
    counted apart as there, so the sum of the others keeps its relative precision (a few float32 ulp)."""


@overload(row_sum_below_one_lanes, jit_options=JIT)
def _row_sum_below_one_lanes_impl(row):
    if row.dtype == types.float32:
        return lambda row: _row_sum_below_one32(row)
    return lambda row: row_sum_below_one(row)


@numba.njit(fastmath=CONTRACT, **JIT)
def exp_rows_shifted(x, m, out, r0, r1):
    """``out[i] = exp(x[i] - m[i - r0])`` for the rows ``r0:r1`` of 2-D ``x`` and ``out`` (every entry ``<= 0``
    after the shift, or NaN), row by row: one pass for the shift and the exp."""
    for i in range(r0, r1):
        xi = x[i]
        oi = out[i]
        mi = m[i - r0]
        for j in range(xi.size):
            oi[j] = expneg(xi[j] - mi)
