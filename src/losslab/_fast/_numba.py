"""Fused loss kernels compiled by numba (the optional ``fast`` extra).

Imported only by :mod:`losslab._fast._dispatch`, on the first call that can use it:
importing this module imports numba. Every kernel is ``cache=True`` (the machine code
is stored beside this file, or in numba's user cache directory, and loaded by later
processes) and ``nogil=True`` (the dispatcher runs ranges of one call on several
threads). Kernels are compiled on first use, never on import. The vectorisable
``exp`` and ``log1p`` they use are in :mod:`losslab._fast._vecmath`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ._numpy import CTC_TOTAL
from ._vecmath import (
    CONTRACT,
    JIT,
    SUM,
    exp_inplace,
    exp_rows_shifted,
    exp_shifted,
    expneg,
    log1p_inplace,
    log1p_unit,
    log_into,
    row_max,
    row_max_finite,
    row_sum,
    row_sum_below_one,
    row_sum_below_one_lanes,
    softplus_parts,
)
from ._vecmath import exp as vexp
from ._vecmath import log as vlog

# --------------------------------------------------------------------------- cross-entropy

_CE_BLOCK = 4096  # elements per block of narrow rows: the block of g stays in L1 between passes
_CE_WIDE = 256  # float64 rows at least this wide are handled one at a time; narrower ones by blocks (from 64 to 256:
# 256 x 100 float64 on one thread, cross-entropy 46 -> 41 us, focal 63 -> 51 us; 16384 x 100 the same or faster)
_CE_WIDE32 = 512  # float32 rows: a block of 4096 takes half the L1, so rows up to ~500 classes go by blocks
_CE_SHIFT_EXP = 64  # narrow rows at least this wide: exp(x - max) row by row (shorter ones: shift, exp the block)


@numba.njit(**JIT)
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


@numba.njit(**JIT)
def ce_rows(x, t, ignore_index, scale, g, out, lo, hi):
    """Rows ``lo:hi`` of the fused cross-entropy: gradient into ``g``, float64 row losses into ``out`` if sized.

    ``g = scale (softmax(x) - onehot(t))`` row by row; returns the sum of the row
    losses ``log1p(sum exp(x - m) - 1) - (x[t] - m)`` (``m`` the row maximum) in row order,
    in float64. Ignored rows get a zero loss and a zero gradient row. ``t`` must
    have passed :func:`ce_count`. The row maxima are a vectorised float reduction
    (:func:`row_max_finite`: a NaN row's maximum is unspecified, its ``exp(x - max)`` NaN all
    the same). A wide row makes four passes while it sits in L1: maximum, ``exp(x - max)``
    into ``g``, sum, scale. Narrow rows go by blocks: the maxima, ``exp(x - max)`` row by row
    from 64 classes on (below, each row shifted and the contiguous block exponentiated at
    once, vectorised even for a handful of classes), the sums (float32 rows in float32 lanes),
    then the scale of each row. The kernel on 16384 x 100 float32, one thread: ~1.17 -> ~1.01 ms.
    """
    num_classes = x.shape[1]
    keep = out.size > 0
    rows = 1 if num_classes >= (_CE_WIDE32 if x.itemsize == 4 else _CE_WIDE) else _CE_BLOCK // num_classes
    block = min(rows, hi - lo)
    m = np.empty(block, x.dtype)
    rest = np.empty(block, np.float64)  # sum of exp(x - max) over a row is 1 + rest
    lp = np.empty(block, np.float64)  # log1p(rest)
    acc = 0.0
    for r0 in range(lo, hi, rows):
        r1 = min(r0 + rows, hi)
        if rows == 1:  # wide rows: one pass of exp(x - max) per row
            m[0] = row_max_finite(x[r0])
            exp_shifted(x[r0], m[0], g[r0])
        elif num_classes >= _CE_SHIFT_EXP:  # narrow rows: the maxima, then exp(x - max) row by row
            for i in range(r0, r1):
                m[i - r0] = row_max_finite(x[i])
            exp_rows_shifted(x, m, g, r0, r1)
        else:  # few classes: shift row by row, exp the whole block (a row's exp would be mostly its remainder)
            for i in range(r0, r1):
                xi = x[i]
                gi = g[i]
                mi = row_max_finite(xi)
                m[i - r0] = mi
                for j in range(num_classes):
                    gi[j] = xi[j] - mi
            exp_inplace(g[r0:r1].reshape(-1))
        for i in range(r0, r1):
            rest[i - r0] = row_sum_below_one_lanes(g[i]) if rows > 1 else row_sum_below_one(g[i])
        lp[: r1 - r0] = rest[: r1 - r0]
        log1p_inplace(lp[: r1 - r0])  # vectorised: math.log1p would cost ~12 ns a row
        for i in range(r0, r1):
            ti = t[i]
            gi = g[i]
            if ti == ignore_index:
                gi[:] = 0
                if keep:
                    out[i] = 0
                continue
            loss = lp[i - r0] - float(x[i, ti] - m[i - r0])
            r = x.dtype.type(scale / (1.0 + rest[i - r0]))
            for j in range(num_classes):
                gi[j] *= r
            gi[ti] -= scale
            if keep:
                out[i] = loss
            acc += loss
    return acc


@numba.njit(**JIT)
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
# Each ``_*_chunk`` maps flat contiguous slices elementwise, vectorised: the gradient into
# ``g`` (times ``gscale``) and the per-element loss into ``q`` when ``keep`` (the caller's
# 'none' output). Each ``_*_sum`` returns a chunk's loss sum in float64 in a loop that
# only reads (``reassoc`` lets it vectorise). The sum is never taken in a loop that also
# stores: such a loop is vectorised behind a run-time check of where its arrays lie (a
# store less than a vector's length after a load falls back to the scalar loop), so a
# sum taken there would come out in one order or another, and with different low bits,
# depending on where the allocator put the gradient. A loop that only reads has no such
# check: the same inputs always give the same bits. The ``*_chunks`` drivers run chunks
# lo:hi of CHUNK elements (x and t of a chunk are still in cache for the second loop),
# store each chunk's sum in ``partials`` and return the sum of the sums in chunk order,
# so a total never depends on how the chunks were shared among threads either.
# BCE-with-logits, whose ``exp`` is too costly to run twice, writes its losses to ``q``
# (a scratch buffer if there is no 'none' output) and sums that.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _huber_value(d, delta, lscale, half):
    """Huber with ``delta`` at ``d``, times ``lscale`` (1, or 1/beta for smooth L1 with beta = delta).

    ``c (|d| - c / 2)`` with ``c = min(|d|, delta)``: ``|d|^2 / 2`` below ``delta`` (``|d| - |d| / 2``
    is exact), ``delta (|d| - delta / 2)`` above, without a select between two formulas.
    """
    a = abs(d)
    c = a if a < delta else delta  # a NaN gives delta, and then a NaN loss
    return c * (a - half * c) * lscale


@numba.njit(fastmath=SUM, **JIT)
def _mse_sum(x, t):
    s = 0.0
    for i in range(x.size):
        d = x[i] - t[i]
        s += float(d * d)
    return s


@numba.njit(fastmath=CONTRACT, **JIT)
def _mse_chunk(x, t, g, q, keep, gscale):
    for i in range(x.size):
        d = x[i] - t[i]
        if keep:
            q[i] = d * d
        g[i] = d * gscale


@numba.njit(fastmath=SUM, **JIT)
def _l1_sum(x, t):
    s = 0.0
    for i in range(x.size):
        s += float(abs(x[i] - t[i]))
    return s


@numba.njit(fastmath=CONTRACT, **JIT)
def _l1_chunk(x, t, g, q, keep, gscale):
    for i in range(x.size):
        d = x[i] - t[i]
        if keep:
            q[i] = abs(d)
        g[i] = gscale if d > 0 else (-gscale if d < 0 else d)  # sign(d) gscale; 0 and NaN pass through


@numba.njit(fastmath=SUM, **JIT)
def _huber_sum(x, t, delta, lscale):
    half = x.dtype.type(0.5)
    s = 0.0
    for i in range(x.size):
        s += float(_huber_value(x[i] - t[i], delta, lscale, half))
    return s


@numba.njit(fastmath=CONTRACT, **JIT)
def _huber_chunk(x, t, g, q, keep, gscale, delta, lscale):
    half = x.dtype.type(0.5)
    for i in range(x.size):
        d = x[i] - t[i]
        if keep:
            q[i] = _huber_value(d, delta, lscale, half)
        c = delta if d > delta else d  # clip(d, -delta, delta); NaN passes through
        c = -delta if c < -delta else c
        g[i] = c * gscale


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _bce_logits_chunk(x, t, g, q, gscale):
    """loss = (1 - t) x + softplus(-x), grad = (1 - t) - sigmoid(-x) (sigmoid(x) - t for x < 0: no cancellation),
    with e = exp(-|x|) <= 1."""
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    for i in range(x.size):
        xi = x[i]
        ti = t[i]
        u = one - ti
        e = expneg(-abs(xi))
        lp, inv = softplus_parts(e)  # log(1 + e), 1 / (1 + e)
        s = e * inv  # sigmoid(-|x|)
        q[i] = u * xi + ((-xi if xi < zero else zero) + lp)
        g[i] = (s - ti if xi < zero else u - s) * gscale


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _bce_logits_weighted_rows(x, t, w, pw, g, q, gscale):
    """BCE-with-logits on whole rows of ``w.size`` elements, ``w`` and ``pw`` (``pos_weight``) per column:
    loss = ((1 - t) x + lw softplus(-x)) w, grad = ((1 - t) - lw sigmoid(-x)) w with lw = 1 + (pw - 1) t, as
    (lw sigmoid(x) - pw t) w for x < 0 (the same value, without the cancellation)."""
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    period = w.size
    for r in range(x.size // period):
        base = r * period
        for j in range(period):
            i = base + j
            xi = x[i]
            ti = t[i]
            u = one - ti
            lw = (pw[j] - one) * ti + one
            e = expneg(-abs(xi))
            lp, inv = softplus_parts(e)
            s = lw * (e * inv)  # lw sigmoid(-|x|)
            q[i] = (u * xi + lw * ((-xi if xi < zero else zero) + lp)) * w[j]
            g[i] = (s - pw[j] * ti if xi < zero else u - s) * gscale * w[j]


CHUNK = 1 << 14  # elements per chunk: x, t, g (and q) of a chunk stay in L2


def chunk(dtype: np.dtype, n: int) -> int:
    """Elements per chunk of the pointwise losses: :data:`CHUNK` (a numba loop has no per-call cost to spread)."""
    return CHUNK


@numba.njit(**JIT)
def _chunk(c, n, out, scratch):
    """Bounds of chunk ``c`` and the loss buffer it writes."""
    a = c * CHUNK
    b = min(a + CHUNK, n)
    return a, b, (out[a:b] if out.size else scratch[: b - a])


@numba.njit(**JIT)
def mse_chunks(x, t, g, out, gscale, lo, hi, partials):
    keep = out.size > 0
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, out)
        _mse_chunk(x[a:b], t[a:b], g[a:b], q, keep, gscale)
        partials[c] = s = 0.0 if keep else _mse_sum(x[a:b], t[a:b])
        acc += s
    return acc


@numba.njit(**JIT)
def l1_chunks(x, t, g, out, gscale, lo, hi, partials):
    keep = out.size > 0
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, out)
        _l1_chunk(x[a:b], t[a:b], g[a:b], q, keep, gscale)
        partials[c] = s = 0.0 if keep else _l1_sum(x[a:b], t[a:b])
        acc += s
    return acc


@numba.njit(**JIT)
def huber_chunks(x, t, g, out, gscale, delta, lscale, lo, hi, partials):
    keep = out.size > 0
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, out)
        _huber_chunk(x[a:b], t[a:b], g[a:b], q, keep, gscale, delta, lscale)
        partials[c] = s = 0.0 if keep else _huber_sum(x[a:b], t[a:b], delta, lscale)
        acc += s
    return acc


@numba.njit(fastmath=CONTRACT, **JIT)
def bce_logits_chunks(x, t, g, out, gscale, lo, hi, partials):
    scratch = np.empty(0 if out.size else min(CHUNK, x.size), x.dtype)
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        _bce_logits_chunk(x[a:b], t[a:b], g[a:b], q, gscale)
        partials[c] = s = row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _soft_margin_chunk(x, t, g, q, gscale):
    """loss = softplus(z), grad = -t sigmoid(z) with z = -t x, from e = exp(-|z|) <= 1."""
    zero = x.dtype.type(0)
    for i in range(x.size):
        ti = t[i]
        z = -ti * x[i]
        e = expneg(-abs(z))
        lp, inv = softplus_parts(e)
        q[i] = (z if z > zero else zero) + lp
        g[i] = -ti * (e * inv if z < zero else inv) * gscale


@numba.njit(**JIT)
def soft_margin_chunks(x, t, g, out, gscale, lo, hi, partials):
    scratch = np.empty(0 if out.size else min(CHUNK, x.size), x.dtype)
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        _soft_margin_chunk(x[a:b], t[a:b], g[a:b], q, gscale)
        partials[c] = s = row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _cosh_sinh_near64(a):
    """``(cosh a - 1, sinh a)`` for float64 ``0 <= a <= 1``: their Taylor series (every term above
    1 ulp), in ``w = a^2`` by Estrin's scheme: no cancellation, however small ``a``."""
    w = a * a
    w2 = w * w
    w4 = w2 * w2
    w8 = w4 * w4
    c0 = (1.0 / 2 + w * (1.0 / 24)) + w2 * (1.0 / 720 + w * (1.0 / 40320))
    c1 = (1.0 / 3628800 + w * (1.0 / 479001600)) + w2 * (1.0 / 87178291200 + w * (1.0 / 20922789888000))
    c2 = 1.0 / 6402373705728000 + w * (1.0 / 2432902008176640000)
    s0 = (1.0 + w * (1.0 / 6)) + w2 * (1.0 / 120 + w * (1.0 / 5040))
    s1 = (1.0 / 362880 + w * (1.0 / 39916800)) + w2 * (1.0 / 6227020800 + w * (1.0 / 1307674368000))
    s2 = 1.0 / 355687428096000 + w * (1.0 / 121645100408832000)
    return w * ((c0 + w4 * c1) + w8 * c2), a * ((s0 + w4 * s1) + w8 * s2)


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _cosh_sinh_near32(a):
    """:func:`_cosh_sinh_near64` for float32 ``a``: the terms above 1 ulp of float32."""
    w = a * a
    w2 = w * w
    w4 = w2 * w2
    c0 = (np.float32(1.0 / 2) + w * np.float32(1.0 / 24)) + w2 * (np.float32(1.0 / 720) + w * np.float32(1.0 / 40320))
    c1 = np.float32(1.0 / 3628800) + w * np.float32(1.0 / 479001600)
    s0 = (np.float32(1.0) + w * np.float32(1.0 / 6)) + w2 * (np.float32(1.0 / 120) + w * np.float32(1.0 / 5040))
    s1 = np.float32(1.0 / 362880) + w * np.float32(1.0 / 39916800)
    return w * (c0 + w4 * c1), a * (s0 + w4 * s1)


def _cosh_sinh_near(a):
    """``(cosh a - 1, sinh a)`` for ``0 <= a <= 1`` in a's precision."""


@overload(_cosh_sinh_near, jit_options=JIT, inline="always")
def _cosh_sinh_near_impl(a):
    if a == types.float32:
        return lambda a: _cosh_sinh_near32(a)
    return lambda a: _cosh_sinh_near64(a)


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _log_cosh_chunk(x, t, g, q, gscale):
    """loss = log cosh d, grad = tanh d, d = x - t, in x's precision (as the definition).

    ``|d| < 1``: ``log1p(cosh d - 1)`` and ``sinh d / cosh d`` from the series; else, with
    ``e = exp(-|d|)``: ``|d| + log1p(e^2) - log 2`` and ``(1 - e^2) / (1 + e^2)`` (inf: inf and 1;
    NaN stays). No branch, no libm call: the loop vectorises.
    """
    one = x.dtype.type(1.0)
    log2 = x.dtype.type(math.log(2.0))
    for i in range(x.size):
        d = x[i] - t[i]
        a = abs(d)
        near = a < one
        cm1, sh = _cosh_sinh_near(a if near else one)
        e = expneg(-a)
        e2 = e * e
        u = cm1 if near else e2  # one log1p, one division: the branch picks their arguments
        lp = log1p_unit(u)
        q[i] = lp if near else a + lp - log2
        th = (sh if near else one - e2) / (one + u)
        g[i] = (th if d >= 0 else -th) * gscale


@numba.njit(**JIT)
def log_cosh_chunks(x, t, g, out, gscale, lo, hi, partials):
    scratch = np.empty(0 if out.size else min(CHUNK, x.size), x.dtype)
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        _log_cosh_chunk(x[a:b], t[a:b], g[a:b], q, gscale)
        partials[c] = s = row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _sigmoid_focal_chunk(x, t, g, q, gscale, alpha, gamma):
    """Sigmoid focal loss and its gradient for finite logits and targets in [0, 1], in float64;
    the number of entries outside that domain (the caller then leaves the call to the definitions).

    With ``e = exp(-|x|)``, ``s = 1 / (1 + e)``: ``sigma(x)`` is ``s`` or ``e s``, ``CE = t softplus(-x)
    + (1 - t) softplus(x)``, ``q = 1 - p_t = s D`` with ``D = t e + (1 - t)`` (x >= 0) or
    ``t + (1 - t) e`` (x < 0), and ``sigma(x) sigma(-x) / q = e s / D`` (``s`` where D = 0: t = 1 and e
    underflowed). ``q^gamma`` by products, for gamma in 0..4.
    """
    bad = 0
    for i in range(x.size):
        xi = float(x[i])
        ti = float(t[i])
        bad += 0 if (abs(xi) < math.inf and 0.0 <= ti <= 1.0) else 1
        e = expneg(-abs(xi))
        lp, s = softplus_parts(e)
        pos = xi >= 0.0
        sp_pos = (xi if pos else 0.0) + lp  # softplus(x)
        sp_neg = (0.0 if pos else -xi) + lp  # softplus(-x)
        ce = ti * sp_neg + (1.0 - ti) * sp_pos
        d = ti * e + (1.0 - ti) if pos else ti + (1.0 - ti) * e
        qq = s * d
        h = e * s / d if d > 0.0 else s
        q2 = qq * qq
        qg = 1.0 if gamma == 0 else (qq if gamma == 1 else (q2 if gamma == 2 else (q2 * qq if gamma == 3 else q2 * q2)))
        at = 1.0 if alpha < 0.0 else alpha * ti + (1.0 - alpha) * (1.0 - ti)
        es = e * s  # sigma(-|x|)
        lin = (1.0 - ti) - es if pos else es - ti  # sigma(x) - t, without the cancellation of 1 - sigma(-x)
        q[i] = at * ce * qg
        g[i] = at * qg * (lin + gamma * (1.0 - 2.0 * ti) * ce * h) * gscale
    return bad


@numba.njit(**JIT)
def sigmoid_focal_chunks(x, t, g, out, gscale, alpha, gamma, lo, hi, partials):
    """Chunks ``lo:hi`` of :func:`_sigmoid_focal_chunk`; returns the count of entries outside its domain."""
    scratch = np.empty(0 if out.size else min(CHUNK, x.size), x.dtype)
    bad = 0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        bad += _sigmoid_focal_chunk(x[a:b], t[a:b], g[a:b], q, gscale, alpha, gamma)
        partials[c] = row_sum(q)
    return bad


@numba.njit(fastmath=CONTRACT, **JIT)
def poly1_rows(x, t, q, eps, scale, g, rowloss, lo, hi):
    """Rows ``lo:hi`` of the Poly-1 cross-entropy, ``CE + eps sum_c y_c (1 - p_c)``, and its gradient
    ``(sum y) p - y + eps p (p_t - y)`` times ``scale``, into ``g``; row losses (float64) into ``rowloss``.

    Index targets ``t`` (``q`` empty) or probabilities ``q``. ``exp(x - max)`` goes through ``g``;
    ``log Z`` is ``log1p`` of the sum below the maximum's 1, and for an index target that is the
    row's maximum ``1 - p_t`` is that sum over ``Z``: a loss near 0 keeps its relative precision.
    Returns the number of rows holding a NaN or +inf logit (the caller leaves those calls to the
    definitions); -inf logits (masked classes) are taken.
    """
    c = x.shape[1]
    probs = q.shape[0] > 0
    bad = 0
    for r in range(lo, hi):
        xr = x[r]
        gr = g[r]
        m = row_max(xr)
        over = 0
        for j in range(c):
            over += 0 if xr[j] < math.inf else 1  # NaN or +inf
        if over > 0 or not m > -math.inf:
            bad += 1
            continue
        exp_shifted(xr, m, gr)
        rest = row_sum_below_one(gr)
        z = 1.0 + rest
        logz = math.log1p(rest)
        inv = 1.0 / z
        if not probs:
            tr = t[r]
            et = float(gr[tr])
            one_minus = rest * inv if et == 1.0 else (z - et) * inv  # 1 - p_t
            pt = et * inv
            rowloss[r] = logz - (float(xr[tr]) - float(m)) + eps * one_minus
            f = (1.0 + eps * pt) * scale
            for j in range(c):
                gr[j] = float(gr[j]) * inv * f
            gr[tr] = -one_minus * f
        else:
            qr = q[r]
            total = 0.0
            pt = 0.0
            cross = 0.0
            one_minus = 0.0
            for j in range(c):
                qj = float(qr[j])
                pj = float(gr[j]) * inv
                total += qj
                pt += qj * pj
                cross += qj * (float(xr[j]) - float(m)) if qj != 0.0 else 0.0  # a masked class with target 0
                one_minus += qj * (1.0 - pj)
            rowloss[r] = total * logz - cross + eps * one_minus
            for j in range(c):
                qj = float(qr[j])
                pj = float(gr[j]) * inv
                gr[j] = (total * pj - qj + eps * pj * (pt - qj)) * scale
    return bad


@numba.njit(**JIT)
def multiclass_hinge_rows(x, t, scale, g, rowloss, lo, hi):
    """Rows ``lo:hi`` of the Crammer-Singer hinge, in x's dtype with the definition's operations (so the
    same entries tie): ``y = x - max``, ``a = y + 1 - onehot``, loss ``max(a) - y_t``, gradient
    ``(ties / count - onehot) * scale``. Returns the number of rows holding a NaN or +inf, or only -inf
    (the caller leaves those calls to the definitions).
    """
    c = x.shape[1]
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    bad = 0
    for r in range(lo, hi):
        xr = x[r]
        gr = g[r]
        m = row_max(xr)
        over = 0
        for j in range(c):
            over += 0 if xr[j] < math.inf else 1
        if over > 0 or not m > -math.inf:
            bad += 1
            continue
        tr = t[r]
        top = -math.inf
        for j in range(c):
            a = (xr[j] - m) + one
            if j == tr:
                a = a - one
            gr[j] = a
            top = a if a > top else top
        count = 0
        for j in range(c):
            count += 1 if gr[j] == top else 0
        share = one / x.dtype.type(count)
        for j in range(c):
            tie = share if gr[j] == top else zero
            gr[j] = (tie - (one if j == tr else zero)) * scale
        rowloss[r] = float(x.dtype.type(top) - (xr[tr] - m))
    return bad


@numba.njit(fastmath=CONTRACT, **JIT)
def focal_rows(x, t, w, ignore_index, gamma, g, rowloss, rowweight, lo, hi):
    """Rows ``lo:hi`` of the softmax focal loss ``-w_t (1 - p_t)^gamma log p_t`` and its gradient for
    ``dout = 1`` before the 'mean' scaling, ``w_t F (p - onehot)`` with ``F = q^gamma (1 + gamma p_t
    (-log p_t) / q)``, ``q = 1 - p_t`` (``-expm1(log p_t)``; the ratio is 1 at q = 0). ``w`` empty: no
    weight. Ignored rows: 0. ``rowweight`` gets ``w_t`` (the 'mean' denominator's terms; 1 without a weight).
    Returns the number of rows with a NaN or +inf logit, only -inf logits or a label outside [0, C), and
    every row where a class weight is not finite.

    Narrow rows go by blocks as in :func:`ce_rows` (one exp over the shifted block, the ``log1p`` of the
    row sums vectorised): the kernel on 256 x 100 float32 ~77 -> ~30 us, the per-row ``exp`` and
    ``math.log1p`` calls were most of the time. ``q^2`` is ``q * q`` and ``q^0`` 1 (what ``pow`` gives,
    without its call).
    """
    c = x.shape[1]
    weighted = w.size > 0
    if weighted and not _asm_finite(w):  # a class weight not finite: every row to the definitions
        return hi - lo
    rows = 1 if c >= (_CE_WIDE32 if x.itemsize == 4 else _CE_WIDE) else _CE_BLOCK // c
    block = min(rows, hi - lo)
    m = np.empty(block, x.dtype)
    state = np.empty(block, np.int64)  # 0: computed, 1: ignored, 2: left to the definitions
    rest = np.empty(block, np.float64)  # sum of exp(x - max) over a row is 1 + rest
    lp = np.empty(block, np.float64)  # log1p(rest)
    bad = 0
    for r0 in range(lo, hi, rows):
        r1 = min(r0 + rows, hi)
        for i in range(r0, r1):
            xi = x[i]
            gi = g[i]
            ti = t[i]
            st = 1
            mi = xi[0]
            if ti != ignore_index:
                mi = row_max_finite(xi)  # a NaN entry is counted in over: its row goes to the definitions
                over = 0
                for j in range(c):
                    over += 0 if xi[j] < math.inf else 1
                st = 2 if over > 0 or not mi > -math.inf or ti < 0 or ti >= c else 0
            state[i - r0] = st
            m[i - r0] = mi
            if st != 0:
                gi[:] = 0
                bad += 1 if st == 2 else 0
            elif rows == 1:  # a wide row: one pass of exp(x - max)
                exp_shifted(xi, mi, gi)
            else:
                for j in range(c):
                    gi[j] = xi[j] - mi
        if rows > 1:
            exp_inplace(g[r0:r1].reshape(-1))
        for i in range(r0, r1):
            rest[i - r0] = row_sum_below_one(g[i])
        lp[: r1 - r0] = rest[: r1 - r0]
        log1p_inplace(lp[: r1 - r0])
        for i in range(r0, r1):
            st = state[i - r0]
            if st == 2:
                continue
            gi = g[i]
            if st == 1:
                gi[:] = 0
                rowloss[i] = 0.0
                rowweight[i] = 0.0
                continue
            tr = t[i]
            inv = 1.0 / (1.0 + rest[i - r0])
            logp_t = (np.float64(x[i, tr]) - np.float64(m[i - r0])) - lp[i - r0]  # (float() keeps a float32)
            p_t = float(gi[tr]) * inv
            q = -math.expm1(logp_t)
            wt = float(w[tr]) if weighted else 1.0
            qg = q * q if gamma == 2.0 else (1.0 if gamma == 0.0 else q**gamma)
            rowloss[i] = -wt * qg * logp_t
            rowweight[i] = wt
            ratio = -logp_t / q if q > 0.0 else 1.0
            f = wt * qg * (1.0 + gamma * (p_t * ratio if p_t > 0.0 else 0.0))  # p_t log p_t -> 0 (-inf target)
            for j in range(c):
                gi[j] = float(gi[j]) * inv * f
            gi[tr] -= f
    return bad


@numba.njit(fastmath=CONTRACT, **JIT)
def sparsemax_loss_rows(x, t, q, scale, g, rowloss, lo, hi):
    """Rows ``lo:hi`` of the sparsemax loss and its gradient ``(sparsemax(x) - y) * scale`` into ``g``.

    The threshold without sorting (Michelot's iteration, in float64): with ``z = x - max``, start at
    ``tau = -1`` (sparsemax's top entry is at most 1) and repeat ``tau = (sum_{z > tau} z - 1) / |{z > tau}|``
    until the support stops shrinking (it only shrinks, a few passes in practice); ``p = max(z - tau, 0)``.
    The loss ``sum (p - y) z + (|y|^2 - |p|^2) / 2 + (1 - sum y) max`` (a class of score -inf adds 0
    where ``p - y`` is 0). Index targets ``t`` (``q`` empty) or probabilities ``q``. Returns the number of
    rows with a NaN or +inf score or only -inf scores.
    """
    c = x.shape[1]
    probs = q.shape[0] > 0
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    bad = 0
    for r in range(lo, hi):
        xr = x[r]
        gr = g[r]
        m = row_max(xr)
        over = 0
        for j in range(c):
            over += 0 if xr[j] < math.inf else 1
        if over > 0 or not m > -math.inf:
            bad += 1
            continue
        for j in range(c):
            gr[j] = xr[j] - m  # z, kept in g until p replaces it
        tau = -1.0
        size = -1
        while True:
            total = 0.0
            count = 0
            for j in range(c):
                zj = float(gr[j])
                inside = zj > tau
                total += zj if inside else 0.0
                count += 1 if inside else 0
            if size >= 0 and count >= size:  # no longer shrinking (rounding cannot make it cycle)
                break
            size = count
            tau = (total - 1.0) / count
        tau_d = x.dtype.type(tau)
        cross = 0.0
        pp = 0.0
        qq = 0.0
        qsum = 0.0
        for j in range(c):
            zj = gr[j]
            d = zj - tau_d
            pj = d if d > zero else zero
            qj = (one if j == t[r] else zero) if not probs else q[r, j]
            gr[j] = (pj - qj) * scale
            diff = float(pj) - float(qj)
            cross += diff * float(zj) if diff != 0.0 else 0.0
            pp += float(pj) * float(pj)
            qq += float(qj) * float(qj)
            qsum += float(qj)
        rest = 1.0 - qsum
        rowloss[r] = cross + 0.5 * (qq - pp) + (rest * float(m) if rest != 0.0 else 0.0)
    return bad


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _charbonnier_chunk(x, t, g, q, gscale, eps):
    """loss = hypot(d, eps), grad = d / hypot(d, eps), d = x - t (in x's dtype, as the definition), worked
    in float64 and scaled by max(|d|, eps): no overflow for any finite d; |d| = inf gives inf and sign(d)."""
    e = float(eps)
    for i in range(x.size):
        d = float(x[i] - t[i])
        a = abs(d)
        s = a if a > e else e
        far = a == math.inf
        sc = 1.0 if far else s
        r1 = a / sc
        r2 = e / sc
        h = a if far else sc * math.sqrt(r1 * r1 + r2 * r2)
        q[i] = h
        g[i] = (math.copysign(1.0, d) if far else d / h) * gscale


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _charbonnier_chunk32(x, t, g, q, gscale, eps):
    """:func:`_charbonnier_chunk` for float32 inputs: a float32 d and eps squared cannot overflow or vanish in
    float64, so ``hypot`` is ``sqrt(d^2 + eps^2)`` there, unscaled (one division, not three)."""
    e2 = np.float64(eps) * np.float64(eps)
    for i in range(x.size):
        d = np.float64(x[i] - t[i])  # (numba's float() keeps a float32 a float32)
        far = abs(d) == math.inf
        h = math.sqrt(d * d + e2)
        q[i] = h
        g[i] = (math.copysign(1.0, d) if far else d / h) * gscale


@numba.njit(**JIT)
def charbonnier_chunks(x, t, g, out, gscale, eps, lo, hi, partials):
    scratch = np.empty(0 if out.size else min(CHUNK, x.size), x.dtype)
    flat32 = 1e-15 <= np.float64(eps) <= 1e18  # float32: eps^2 a normal number, far from overflow
    acc = 0.0
    for c in range(lo, hi):
        a, b, q = _chunk(c, x.size, out, scratch)
        if x.itemsize == 4:
            if not (flat32 and _charbonnier_flat32(x[a:b], t[a:b], g[a:b], q, gscale, eps * eps) == 0):
                _charbonnier_chunk32(x[a:b], t[a:b], g[a:b], q, gscale, eps)
        else:
            _charbonnier_chunk(x[a:b], t[a:b], g[a:b], q, gscale, eps)
        partials[c] = s = row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _gaussian_row(x, t, var, eps, per_row, gscale, constant, gx, gv, q, s):
    """One row of :func:`gaussian_nll_rows`: terms into ``q``, the variance gradient into ``gv`` (per entry) or
    ``s`` (to be summed); the count of entries outside the domain. No reduction, so the loop vectorises."""
    off = 0
    if per_row:
        raw = np.float64(var[0])  # (numba's float() keeps a float32 a float32)
        v = raw if raw > eps else eps
        off += 0 if ((raw >= 0.0) & (0.0 < v) & (v < math.inf)) else 1
        inv = 1.0 / v
        lv = math.log(v) if off == 0 else 0.0
        for j in range(x.size):
            d = np.float64(x[j] - t[j])
            off += 0 if abs(d) <= 1e150 else 1
            z = d * inv
            q[j] = 0.5 * (lv + d * z) + constant
            gx[j] = z * gscale
            s[j] = 0.5 * (inv - z * z) * gscale
    else:
        for j in range(x.size):
            raw = np.float64(var[j])
            v = raw if raw > eps else eps
            d = np.float64(x[j] - t[j])
            off += 0 if ((abs(d) <= 1e150) & (raw >= 0.0) & (0.0 < v) & (v < math.inf)) else 1
            inv = 1.0 / v
            z = d * inv
            q[j] = 0.5 * (vlog(v) + d * z) + constant
            gx[j] = z * gscale
            gv[j] = 0.5 * (inv - z * z) * gscale
    return off


@numba.njit(fastmath=CONTRACT, **JIT)
def gaussian_nll_rows(x, t, var, eps, per_row, gscale, constant, gx, gv, out, rowsum, lo, hi):
    """Rows ``lo:hi`` (of D = x.shape[1] entries) of the Gaussian NLL ``(log v + d^2 / v) / 2 + constant``,
    d = x - t, v = max(var, eps): ``var`` per entry (x's shape), or one per row (``per_row``). The clamp and
    the log are taken here (the vectorised log per entry, ``math.log`` once a row). Gradients ``d / v`` and
    ``(1 / v - d^2 / v^2) / 2`` (summed over the row for a per-row variance) times ``gscale``; float64 terms
    into ``out`` when sized, their row sums into ``rowsum``. Returns the number of rows with an entry outside
    the kernel's domain (a residual that is not finite or beyond 1e150, a variance that is negative, NaN,
    infinite or clamps to 0), which the caller leaves to the definitions."""
    dim = x.shape[1]
    keep = out.size > 0
    q = np.empty(0 if keep else dim, np.float64)
    s = np.empty(dim if per_row else 0, np.float64)
    bad = 0
    for r in range(lo, hi):
        qr = out[r] if keep else q
        if x.itemsize == 4 and not per_row:  # float32 variances: their log in float32 (see _gaussian_hetero32)
            off = _gaussian_hetero32(x[r], t[r], var[r], eps, gscale, constant, gx[r], gv[r], qr)
        else:
            off = _gaussian_row(x[r], t[r], var[r], eps, per_row, gscale, constant, gx[r], gv[r], qr, s)
        if per_row:
            gv[r, 0] = row_sum(s)
        bad += 1 if off > 0 else 0
        rowsum[r] = row_sum(qr)
    return bad


@numba.njit(fastmath=CONTRACT, **JIT)
def _overlap_copy(xn, pn):
    """Probabilities given: ``pn = xn``; returns the number of entries outside [0, 1]."""
    off = 0
    for c in range(xn.shape[0]):
        xr = xn[c]
        pr = pn[c]
        for s in range(xr.size):
            v = xr[s]
            off += 0 if (v >= 0) & (v <= 1) else 1
            pr[s] = v
    return off


@numba.njit(fastmath=CONTRACT, **JIT)
def _overlap_sigmoid(xn, pn):
    """``pn = sigmoid(xn)``, from ``exp(-|x|)``; returns the number of entries that are not finite."""
    one = xn.dtype.type(1)
    off = 0
    for c in range(xn.shape[0]):
        xr = xn[c]
        pr = pn[c]
        for s in range(xr.size):
            v = xr[s]
            off += 0 if abs(v) < math.inf else 1
            e = expneg(-abs(v))
            r = one / (one + e)
            pr[s] = r if v >= 0 else e * r
    return off


@numba.njit(fastmath=CONTRACT, **JIT)
def _overlap_softmax(xn, pn, m, tot):
    """``pn = softmax(xn)`` over the classes (axis 0), class by class along the contiguous pixels (``m``,
    ``tot``: scratch of S); returns the number of entries that are not finite."""
    n_cls, size = xn.shape
    one = xn.dtype.type(1)
    off = 0
    xr = xn[0]
    for s in range(size):
        m[s] = xr[s]
        tot[s] = 0
    for c in range(1, n_cls):
        xr = xn[c]
        for s in range(size):
            v = xr[s]
            m[s] = v if v > m[s] else m[s]
    for c in range(n_cls):
        xr = xn[c]
        pr = pn[c]
        for s in range(size):
            v = xr[s]
            off += 0 if abs(v) < math.inf else 1
            e = expneg(v - m[s])
            pr[s] = e
            tot[s] += e
    for s in range(size):
        tot[s] = one / tot[s]
    for c in range(n_cls):
        pr = pn[c]
        for s in range(size):
            pr[s] = pr[s] * tot[s]
    return off


@numba.njit(fastmath=SUM, **JIT)
def _overlap_sums_dense(pr, tr):
    """``(sum p t, sum p, sum t, sum p (1 - t), sum (1 - p) t, entries of t outside [0, 1])`` of one class."""
    tp = 0.0
    pred = 0.0
    ground = 0.0
    fp = 0.0
    fn = 0.0
    off = 0
    for s in range(pr.size):
        q = float(pr[s])
        t = float(tr[s])
        off += 0 if (t >= 0.0) & (t <= 1.0) else 1
        tp += q * t
        pred += q
        ground += t
        fp += q * (1.0 - t)
        fn += (1.0 - q) * t
    return tp, pred, ground, fp, fn, off


@numba.njit(fastmath=SUM, **JIT)
def _overlap_sums_index(pr, labels, cls, ignore_index):
    """The sums of :func:`_overlap_sums_dense` for the one-hot target of class label ``cls`` (pixels labelled
    ``ignore_index`` left out)."""
    tp = 0.0
    pred = 0.0
    ground = 0.0
    fp = 0.0
    fn = 0.0
    for s in range(pr.size):
        label = labels[s]
        keep = label != ignore_index
        q = float(pr[s]) if keep else 0.0
        t = 1.0 if keep & (label == cls) else 0.0
        tp += q * t
        pred += q
        ground += t
        fp += q * (1.0 - t)
        fn += (1.0 - q) * t
    return tp, pred, ground, fp, fn


@numba.njit(**JIT)
def _overlap_labels(labels, n_cls, ignore_index):
    """The number of labels neither ``ignore_index`` nor in [0, max(C, 2))."""
    top = max(n_cls, 2)
    off = 0
    for s in range(labels.size):
        label = labels[s]
        off += 0 if (label == ignore_index) | ((label >= 0) & (label < top)) else 1
    return off


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _chain(d, p, act, dot):
    """``d`` chained through the activation at probability ``p``: sigmoid ``d p (1 - p)``, softmax ``p (d - dot)``."""
    return d if act == 0 else (d * p * (1 - p) if act == 1 else p * (d - dot))


@numba.njit(fastmath=CONTRACT, **JIT)
def _overlap_grad_dense(pn, tn, act, ka, kb, dot):
    """The gradient of one sample with a dense target ``tn`` into ``pn`` (which holds its probabilities):
    ``ka_c t + kb_c`` per entry, chained through the activation (``dot``: scratch of S)."""
    n_cls, size = pn.shape
    dtype = pn.dtype
    for s in range(size):
        dot[s] = 0
    if act == 2:
        for c in range(n_cls):
            pr = pn[c]
            tr = tn[c]
            a = dtype.type(ka[c])
            b = dtype.type(kb[c])
            for s in range(size):
                dot[s] += pr[s] * (a * tr[s] + b)
    for c in range(n_cls):
        pr = pn[c]
        tr = tn[c]
        a = dtype.type(ka[c])
        b = dtype.type(kb[c])
        for s in range(size):
            pr[s] = _chain(a * tr[s] + b, pr[s], act, dot[s])


@numba.njit(fastmath=CONTRACT, **JIT)
def _overlap_grad_index(pn, labels, act, ka, kb, ignore_index, dot):
    """The gradient of one sample with class indices ``labels`` (S) into ``pn``: ``ka_c [label = c] + kb_c``,
    0 where the label is ``ignore_index``, chained through the activation."""
    n_cls, size = pn.shape
    dtype = pn.dtype
    zero = dtype.type(0)
    shift = 1 if n_cls == 1 else 0  # C = 1: label 1 is the foreground
    for s in range(size):
        dot[s] = 0
    if act == 2:
        for c in range(n_cls):
            pr = pn[c]
            a = dtype.type(ka[c])
            b = dtype.type(kb[c])
            for s in range(size):
                label = labels[s]
                d = (a if label == c + shift else zero) + b
                dot[s] += pr[s] * (d if label != ignore_index else zero)
    for c in range(n_cls):
        pr = pn[c]
        a = dtype.type(ka[c])
        b = dtype.type(kb[c])
        for s in range(size):
            label = labels[s]
            d = (a if label == c + shift else zero) + b
            pr[s] = _chain(d if label != ignore_index else zero, pr[s], act, dot[s])


@numba.njit(**JIT)
def overlap_rows(x, td, ti, kind, act, smooth, alpha, beta, w_type, ignore_index, scale, g, rowloss, lo, hi):
    """Samples ``lo:hi`` of the soft Dice (``kind`` 0), Tversky (1) or generalized Dice (2) loss on (N, C, S)
    inputs, the plain options: probabilities ``p`` (``act`` 0: the input, 1: sigmoid, 2: softmax over C), a
    dense target ``td`` (N, C, S) or class indices ``ti`` (N, S) (C = 1: label 1 is the foreground; pixels
    labelled ``ignore_index`` are left out). Per class the sums TP, P, G (FP, FN) over S; Dice and Tversky
    ratios ``(2 TP + s) / (P + G + s)``, ``(TP + s) / (TP + alpha FP + beta FN + s)`` and the loss
    ``mean_c (1 - R)``; generalized Dice one ratio ``(2 sum w TP + s) / (sum w (P + G) + s)`` with the class
    weights ``w = 1 / G^2`` (``w_type`` 0), ``1 / G`` (1) or 1 (2), an absent class taking the largest weight
    of the sample's present ones. The loss goes into ``rowloss``, its gradient times ``scale``, chained through
    the activation, into ``g``. Returns the number of samples outside the definitions' easy cases (a value
    that is not finite, probabilities or targets outside [0, 1], a label out of range, a zero or overflowing
    denominator, a weight beyond the dtype's range), which the caller leaves to the definitions.
    """
    big = 3.4028234663852886e38 if x.itemsize == 4 else 1.7976931348623157e308  # the largest finite value
    n_cls = x.shape[1]
    size = x.shape[2]
    dense = td.shape[0] > 0
    shift = 1 if n_cls == 1 else 0
    m = np.empty(size, x.dtype)
    tot = np.empty(size, x.dtype)
    sums = np.empty((5, n_cls))  # TP, P, G, FP, FN per class
    ka = np.empty(n_cls)
    kb = np.empty(n_cls)
    w = np.empty(n_cls)
    bad = 0
    for n in range(lo, hi):
        gn = g[n]
        if act == 0:
            off = _overlap_copy(x[n], gn)
        elif act == 1:
            off = _overlap_sigmoid(x[n], gn)
        else:
            off = _overlap_softmax(x[n], gn, m, tot)
        if not dense:
            off += _overlap_labels(ti[n], n_cls, ignore_index)
        for c in range(n_cls):
            if dense:
                tp, pred, ground, fp, fn, o = _overlap_sums_dense(gn[c], td[n, c])
                off += o
            else:
                tp, pred, ground, fp, fn = _overlap_sums_index(gn[c], ti[n], c + shift, ignore_index)
            sums[0, c] = tp
            sums[1, c] = pred
            sums[2, c] = ground
            sums[3, c] = fp
            sums[4, c] = fn
        loss = 0.0
        if kind == 2:
            largest = 0.0
            for c in range(n_cls):
                ground = sums[2, c]
                wc = 1.0 if w_type == 2 else (1.0 / (ground * ground) if w_type == 0 else 1.0 / ground)
                wc = wc if (ground != 0.0 or w_type == 2) else -1.0
                off += 0 if wc <= big else 1
                w[c] = wc
                largest = wc if wc > largest else largest
            num = smooth
            den = smooth
            for c in range(n_cls):
                wc = w[c] if w[c] >= 0.0 else largest
                w[c] = wc
                num += 2.0 * wc * sums[0, c]
                den += wc * (sums[1, c] + sums[2, c])
            off += 0 if (den != 0.0 and abs(den) < math.inf) else 1
            r = num / den
            loss = 1.0 - r
            for c in range(n_cls):
                ka[c] = -w[c] * (2.0 / den) * scale
                kb[c] = w[c] * (r / den) * scale
        else:
            coef = 1.0 / n_cls
            for c in range(n_cls):
                tp = sums[0, c]
                if kind == 1:
                    den = tp + alpha * sums[3, c] + beta * sums[4, c] + smooth
                    r = (tp + smooth) / den
                    a = (1.0 - r * (1.0 - alpha - beta)) / den
                    b = -alpha * r / den
                else:
                    den = sums[1, c] + sums[2, c] + smooth
                    r = (2.0 * tp + smooth) / den
                    a = 2.0 / den
                    b = -r / den
                off += 0 if (den != 0.0 and abs(den) < math.inf) else 1
                loss += 1.0 - r
                ka[c] = -coef * a * scale
                kb[c] = -coef * b * scale
            loss *= coef
        if off > 0:
            bad += 1
            continue
        rowloss[n] = loss
        if dense:
            _overlap_grad_dense(gn, td[n], act, ka, kb, tot)
        else:
            _overlap_grad_index(gn, ti[n], act, ka, kb, ignore_index, tot)
    return bad


@numba.njit(**JIT)
def bce_logits_weighted_chunks(x, t, w, pw, g, out, gscale, lo, hi, partials):
    """Chunks of whole rows (``w.size`` elements each: the weights' period)."""
    period = w.size
    step = max(1, CHUNK // period) * period
    scratch = np.empty(0 if out.size else min(step, x.size), x.dtype)
    acc = 0.0
    for c in range(lo, hi):
        a = c * step
        b = min(a + step, x.size)
        q = out[a:b] if out.size else scratch[: b - a]
        _bce_logits_weighted_rows(x[a:b], t[a:b], w, pw, g[a:b], q, gscale)
        partials[c] = s = row_sum(q)
        acc += s
    return acc


@numba.njit(fastmath=SUM, **JIT)
def ce_general_rows(x, t, q, w, wt, ls, wsum, scale, g, rowloss, lo, hi):
    """Cross-entropy rows ``lo:hi`` with class weights ``w`` and label smoothing ``ls``.

    Index targets (``q`` empty): ``t`` the labels and ``wt`` each row's weight ``w[t]`` (0 where
    ignored), loss ``(1 - ls)(-wt logp_t) + ls/C (-sum_c w_c logp_c)``. Probability targets ``q``:
    ``a_c = w_c (q_c (1 - ls) + ls / C)``, loss ``-sum_c a_c logp_c``. Gradient ``(sum a) softmax - a``
    times ``scale``; the softmax's exponentials go through ``g`` first.
    """
    c = x.shape[1]
    share = ls / c
    probs = q.shape[0] > 0
    for r in range(lo, hi):
        xr = x[r]
        gr = g[r]
        if not probs and wt[r] == 0 and t[r] < 0:
            for j in range(c):
                gr[j] = 0
            rowloss[r] = 0.0
            continue
        m = xr[0]
        for j in range(1, c):
            if xr[j] > m:
                m = xr[j]
        for j in range(c):
            gr[j] = expneg(xr[j] - m)
        total = row_sum(gr)
        log_total = math.log(total)
        inv = 1.0 / total
        if probs:
            qr = q[r]
            loss = 0.0
            asum = 0.0
            for j in range(c):
                a = w[j] * (qr[j] * (1 - ls) + share)
                asum += a
                loss -= a * ((xr[j] - m) - log_total)
            for j in range(c):
                a = w[j] * (qr[j] * (1 - ls) + share)
                gr[j] = (asum * gr[j] * inv - a) * scale
        else:
            hit = (1 - ls) * wt[r]
            loss = -hit * ((xr[t[r]] - m) - log_total)
            if ls > 0:
                smooth = 0.0
                for j in range(c):
                    smooth -= w[j] * ((xr[j] - m) - log_total)
                loss += share * smooth
            asum = hit + share * wsum
            for j in range(c):
                gr[j] = (asum * gr[j] * inv - share * w[j]) * scale
            gr[t[r]] -= hit * scale
        rowloss[r] = loss


@numba.njit(inline="always", **JIT)
def _sign(u):
    return 1.0 if u > 0.0 else (-1.0 if u < 0.0 else 0.0)


@numba.njit(fastmath=SUM, **JIT)
def _triplet_dists(a, p, n, r, eps, power, swap):
    """Row ``r``'s ``(d(a, p), d(a, n), d(p, n))`` (the last 0 without ``swap``), in float64, the first two in one
    pass over the row."""
    dim = a.shape[1]
    s_ap = 0.0
    s_an = 0.0
    s_pn = 0.0
    if power == 2:
        for j in range(dim):
            x = float(a[r, j])
            u = x - float(p[r, j]) + eps
            v = x - float(n[r, j]) + eps
            s_ap += u * u
            s_an += v * v
        if swap:
            for j in range(dim):
                q = float(p[r, j]) - float(n[r, j]) + eps
                s_pn += q * q
        return math.sqrt(s_ap), math.sqrt(s_an), math.sqrt(s_pn)
    for j in range(dim):
        x = float(a[r, j])
        s_ap += abs(x - float(p[r, j]) + eps)
        s_an += abs(x - float(n[r, j]) + eps)
    if swap:
        for j in range(dim):
            s_pn += abs(float(p[r, j]) - float(n[r, j]) + eps)
    return s_ap, s_an, s_pn


@numba.njit(**JIT)
def triplet_rows(a, p, n, margin, power, eps, swap, scale, limit, loss, ga, gp, gn, lo, hi):
    """Triplet margin rows ``lo:hi``: ``max(margin + d(a, p) - d_-, 0)`` and its gradients (times ``scale``);
    ``d_- = min(d(a, n), d(p, n))`` with ``swap`` (a tie splits the gradient evenly). A row with a distance
    over ``limit`` (where the inputs' own dtype overflows) gets a NaN loss: the caller leaves it to the
    definition, which takes the exact difference of such distances.

    In float64. The distances' sums reassociated (:func:`_triplet_dists`, ``d(a, p)`` and ``d(a, n)`` in one
    pass); the gradients term for term as the definition (no fused multiply-add: at a kink such as
    ``u / |u| - v / |v|`` with ``u = v / 3``, the definition's 0 stays 0), in one more pass without a branch
    inside: 16384 x 64 float32, p = 2, one thread 1.34 -> 1.15 ms; on two, 0.78 -> 0.65 ms."""
    dim = a.shape[1]
    for r in range(lo, hi):
        d_ap, d_an, d_pn = _triplet_dists(a, p, n, r, eps, power, swap)
        if d_ap > limit or d_an > limit or d_pn > limit:
            loss[r] = math.nan
            continue
        w_an = 1.0
        d_neg = d_an
        if swap:
            if d_pn < d_an:
                w_an, d_neg = 0.0, d_pn
            elif d_pn == d_an:
                w_an = 0.5
        z = (margin + d_ap) - d_neg
        if z >= 0:
            loss[r] = z
            # each gradient from the three differences, d||u||_p / du = u / ||u|| (p = 2) or sign(u) (p = 1),
            # 0 where the norm is 0; the swap's shares folded in per row, the upstream ``scale`` last (so that
            # 'sum' is n times 'mean' to the last bits, even where the two terms of a gradient nearly cancel)
            c_ap = 1.0 if d_ap > 0.0 else 0.0
            c_an = w_an if d_an > 0.0 else 0.0
            c_pn = 1.0 - w_an if swap and d_pn > 0.0 else 0.0
            if power == 2:
                c_ap = c_ap / d_ap if c_ap != 0.0 else 0.0
                c_an = c_an / d_an if c_an != 0.0 else 0.0
                c_pn = c_pn / d_pn if c_pn != 0.0 else 0.0
                if c_pn == 0.0:
                    for j in range(dim):
                        x, y, w = float(a[r, j]), float(p[r, j]), float(n[r, j])
                        t_ap, t_an = c_ap * (x - y + eps), c_an * (x - w + eps)
                        ga[r, j] = (t_ap - t_an) * scale
                        gp[r, j] = -t_ap * scale
                        gn[r, j] = t_an * scale
                else:
                    for j in range(dim):
                        x, y, w = float(a[r, j]), float(p[r, j]), float(n[r, j])
                        t_ap, t_an, t_pn = c_ap * (x - y + eps), c_an * (x - w + eps), c_pn * (y - w + eps)
                        ga[r, j] = (t_ap - t_an) * scale
                        gp[r, j] = (-t_ap - t_pn) * scale
                        gn[r, j] = (t_an + t_pn) * scale
            else:
                for j in range(dim):
                    x, y, w = float(a[r, j]), float(p[r, j]), float(n[r, j])
                    t_ap, t_an, t_pn = c_ap * _sign(x - y + eps), c_an * _sign(x - w + eps), c_pn * _sign(y - w + eps)
                    ga[r, j] = (t_ap - t_an) * scale
                    gp[r, j] = (-t_ap - t_pn) * scale
                    gn[r, j] = (t_an + t_pn) * scale
        elif z < 0:
            loss[r] = 0.0
            for j in range(dim):
                ga[r, j] = 0
                gp[r, j] = 0
                gn[r, j] = 0
        else:  # NaN (a NaN entry, or distances beyond the float range): the caller leaves the row to the definition
            loss[r] = z


@numba.njit(**JIT)
def cosine_embedding_rows(x1, x2, y, margin, eps, scale, loss, g1, g2, lo, hi):
    """Cosine embedding rows ``lo:hi``: ``1 - c`` (y = 1) or ``max(0, c - margin)`` (y = -1) with
    ``c = x1.x2 / sqrt(A B)``, ``A = |x1|^2 + eps``, ``B = |x2|^2 + eps``, and the gradients times ``scale``.

    In the inputs' dtype, term for term as the definition (no fast-math), except the row sums: they are
    vectorised (:func:`_row_sums3`, reassociated, within about ``4 D`` ulp of the definition's). A row whose
    branch may differ from the definition's by that (y = -1 and ``c`` within ``tie`` of the margin) is summed
    again in NumPy's pairwise order (:func:`_pairwise_sums3`): the definition's sums, bit for bit, so the
    kink falls where its falls. Returns False if some ``A B`` or dot product is not finite, or a label is
    neither 1 nor -1 (the definition then answers).
    """
    dim = x1.shape[1]
    zero = x1.dtype.type(0)
    one = x1.dtype.type(1)
    e = x1.dtype.type(eps)
    m = x1.dtype.type(margin)
    sc = x1.dtype.type(scale)
    tie = x1.dtype.type((4 * dim + 16) * np.finfo(x1.dtype).eps)  # twice the reassociated sums' cosine error
    acc = np.empty(24, x1.dtype)
    for r in range(lo, hi):
        u, w = x1[r], x2[r]
        sq1, sq2, dot = _row_sums3(u, w)
        sq1 += e
        sq2 += e
        denom = np.sqrt(sq1 * sq2)
        if not (np.isfinite(denom) and np.isfinite(dot)):
            return False
        cos = dot / denom
        if y[r] == -1 and abs(cos - m) <= tie:  # near the kink: the definition's sums decide
            sq1, sq2, dot = _pairwise_sums3(u, w, acc)
            sq1 += e
            sq2 += e
            denom = np.sqrt(sq1 * sq2)
            cos = dot / denom
        if y[r] == 1:
            loss[r] = one - cos
            dl = -one * sc
        elif y[r] != -1:
            return False
        else:
            loss[r] = max(cos - m, zero)
            dl = (one if cos - m >= zero else zero) * sc
        for j in range(dim):
            g1[r, j] = dl * (x2[r, j] / denom - cos * x1[r, j] / sq1)
            g2[r, j] = dl * (x1[r, j] / denom - cos * x2[r, j] / sq2)
    return True


@numba.njit(**JIT)
def seq_sum(a):
    """Left-to-right float64 sum: what the kernels' running totals are, whatever the threads."""
    acc = 0.0
    for i in range(a.size):
        acc += a[i]
    return acc


# --------------------------------------------------------------------------- CTC


@numba.njit(inline="always", **JIT)
def _lae(a, b):
    """``log(exp(a) + exp(b))`` in float64, exact at -inf (as ``np.logaddexp``)."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    if a >= b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@numba.njit(**JIT)
def ctc_offsets(tl, width, total):
    """Where each sequence's labels start in the flat targets: ``n * width`` for padded (N, width) targets,
    the running sum of ``tl`` for concatenated ones (``width < 0``). ``None`` when a length is negative or the
    targets are too short (padded: width < max(tl); concatenated: sum(tl) != total)."""
    n = tl.size
    off = np.empty(n, np.int64)
    acc = 0
    for i in range(n):
        if tl[i] < 0:
            return None
        if width >= 0:
            if tl[i] > width:
                return None
            off[i] = i * width
        else:
            off[i] = acc
            acc += tl[i]
    if width < 0 and acc != total:
        return None
    return off


@numba.njit(**JIT)
def _ctc_log(lpn, t_n, s_n, ext, skip, alpha, nxt, cur, gamma, grad, n, w):
    """One sequence in log space (exact wherever float64 is): log p(l | x), and its gradient row by row
    into ``grad[:, n, :]`` when p > 0. ``alpha`` is a (T, S') scratch, ``nxt``, ``cur`` (S') and ``gamma`` (C)."""
    neg = -math.inf
    c = lpn.shape[1]
    # alpha_t(s) = y_t(l'_s) (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2))
    for s in range(s_n):
        alpha[0, s] = lpn[0, ext[s]] if s < 2 else neg
    for t in range(1, t_n):
        for s in range(s_n):
            a = alpha[t - 1, s]
            if s >= 1:
                a = _lae(a, alpha[t - 1, s - 1])
            if skip[s]:
                a = _lae(a, alpha[t - 1, s - 2])
            alpha[t, s] = a + lpn[t, ext[s]]
    last = t_n - 1
    ll = _lae(alpha[last, s_n - 1], alpha[last, s_n - 2] if s_n > 1 else neg)
    if ll == neg:
        return ll
    # beta_t(s) (the emission at t included), from the last frame down; gamma and the gradient row at once
    for t in range(last, -1, -1):
        for s in range(s_n):
            e = lpn[t, ext[s]]
            if t == last:
                b = e if s >= s_n - 2 else neg
            else:
                b = nxt[s]
                if s + 1 < s_n:
                    b = _lae(b, nxt[s + 1])
                if s + 2 < s_n and skip[s + 2]:
                    b = _lae(b, nxt[s + 2])
                b = b + e
            cur[s] = b
        for k in range(c):
            gamma[k] = 0.0
        for s in range(s_n):
            a, b, e = alpha[t, s], cur[s], lpn[t, ext[s]]
            if a != neg and b != neg:
                gamma[ext[s]] += math.exp(a + b - e - ll)
        total = 0.0
        for k in range(c):
            total += gamma[k]
        for k in range(c):
            grad[t, n, k] = w * (math.exp(lpn[t, k]) * total - gamma[k])
        for s in range(s_n):
            nxt[s] = cur[s]
    return ll


@numba.njit(**JIT)
def _ctc_scaled(prob, t_n, s_n, ext, skip, alpha, scale, y, nxt, cur, gamma, grad, n, w):
    """One sequence in probability space, each frame's alpha and beta rescaled to sum 1 (Rabiner's
    scaling): no exp or log per state. Returns log p(l | x), or NaN where a frame's sum is 0 (an
    impossible target, or probabilities too small for float64) or a frame's occupancies do not sum to 1 (states
    lost below float64's range beside others far above them): the caller then runs :func:`_ctc_log`.
    ``prob`` holds y = exp(log-softmax); ``scale`` (T) and ``y`` (T, S') are scratch."""
    c = prob.shape[1]
    for t in range(t_n):
        for s in range(s_n):
            y[t, s] = prob[t, ext[s]]
    # alpha-hat_t = alpha_t / C_t, C_t the product of the frame sums up to t; scale[t] = log C_t
    acc = 0.0
    for s in range(s_n):
        a = y[0, s] if s < 2 else 0.0
        alpha[0, s] = a
        acc += a
    if acc == 0.0:
        return math.nan
    inv = 1.0 / acc
    for s in range(s_n):
        alpha[0, s] *= inv
    scale[0] = math.log(acc)
    for t in range(1, t_n):
        acc = 0.0
        for s in range(s_n):
            a = alpha[t - 1, s]
            if s >= 1:
                a += alpha[t - 1, s - 1]
            if skip[s]:
                a += alpha[t - 1, s - 2]
            a *= y[t, s]
            alpha[t, s] = a
            acc += a
        if acc == 0.0:
            return math.nan
        inv = 1.0 / acc
        for s in range(s_n):
            alpha[t, s] *= inv
        scale[t] = scale[t - 1] + math.log(acc)
    last = t_n - 1
    end = alpha[last, s_n - 1] + (alpha[last, s_n - 2] if s_n > 1 else 0.0)
    if end == 0.0:
        return math.nan
    ll = scale[last] + math.log(end)
    # beta'_t(s): the continuations after frame t (its emission excluded), rescaled to sum 1, log D_t in `down`;
    # the occupancy alpha_t beta_t / y_t / p = alpha-hat_t(s) beta'-hat_t(s) exp(log C_t + log D_t - log p)
    for s in range(s_n):
        nxt[s] = 1.0 if s >= s_n - 2 else 0.0
    down = 0.0
    for t in range(last, -1, -1):
        if t < last:
            acc = 0.0
            for s in range(s_n):
                b = nxt[s] * y[t + 1, s]
                if s + 1 < s_n:
                    b += nxt[s + 1] * y[t + 1, s + 1]
                if s + 2 < s_n and skip[s + 2]:
                    b += nxt[s + 2] * y[t + 1, s + 2]
                cur[s] = b
                acc += b
            if acc == 0.0:
                for tt in range(t + 1, t_n):
                    for k in range(c):
                        grad[tt, n, k] = 0.0
                return math.nan
            inv = 1.0 / acc
            for s in range(s_n):
                nxt[s] = cur[s] * inv
            down += math.log(acc)
        f = math.exp(scale[t] + down - ll)
        for k in range(c):
            gamma[k] = 0.0
        for s in range(s_n):
            gamma[ext[s]] += alpha[t, s] * nxt[s] * f
        total = 0.0
        for k in range(c):
            total += gamma[k]
        if not abs(total - 1.0) <= CTC_TOTAL:  # float64 lost states of a row spanning beyond its range: log space
            for tt in range(t, t_n):
                for k in range(c):
                    grad[tt, n, k] = 0.0
            return math.nan
        for k in range(c):
            grad[t, n, k] = w * (prob[t, k] * total - gamma[k])
    return ll


@numba.njit(**JIT)
def ctc_rows(lp, flat, off, il, tl, blank, zero_inf, mean, limit, grad, loss, lo, hi):
    """Sequences ``lo:hi`` of the fused CTC loss: float64 losses into ``loss``, their gradients (for the weight
    ``1 / (N max(L_n, 1))`` under 'mean', else 1) into ``grad[:, n, :]``.

    Per sequence: the checks of the definition (no NaN or +inf in its frames, ``0 <= input length <= T``,
    labels in [0, C) other than ``blank``), the log-softmax of its frames, then the alpha and beta
    recursions, each frame's state occupancies summed into its class posterior gamma and turned into the
    gradient row ``w (y sum(gamma) - gamma)`` at once: in rescaled probability space (:func:`_ctc_scaled`)
    where every probability the frames use is above ``exp(-600)``, else (or where that finds p = 0) in log
    space (:func:`_ctc_log`). Returns 0, or 1 for an invalid call, 2 for an infinite loss without
    ``zero_inf``, 3 for a finite log-probability beyond ``+-limit`` (sums of such values may leave the
    dtype's range, where only the definition is exact): the caller then leaves the call to the definition.
    """
    t_max, n_seq, c = lp.shape
    neg = -math.inf
    s_cap = 1
    for n in range(lo, hi):
        s_cap = max(s_cap, 2 * tl[n] + 1)
    lpn = np.empty((t_max, c), np.float64)
    prob = np.empty((t_max, c), np.float64)
    alpha = np.empty((t_max, s_cap), np.float64)
    y = np.empty((t_max, s_cap), np.float64)
    scale = np.empty(t_max, np.float64)
    ext = np.empty(s_cap, np.int64)
    skip = np.empty(s_cap, np.bool_)
    nxt = np.empty(s_cap, np.float64)
    cur = np.empty(s_cap, np.float64)
    gamma = np.empty(c, np.float64)
    for n in range(lo, hi):
        t_n, length = il[n], tl[n]
        if t_n < 0 or t_n > t_max:
            return 1
        s_n = 2 * length + 1
        for s in range(s_n):
            if s % 2 == 0:
                ext[s] = blank
            else:
                label = flat[off[n] + s // 2]
                if label < 0 or label >= c or label == blank:
                    return 1
                ext[s] = label
            skip[s] = s >= 2 and s % 2 == 1 and ext[s] != ext[s - 2]
        # log-softmax of every frame (the definition checks and renormalises all T of them)
        tiny = False
        for t in range(t_max):
            m = neg
            for k in range(c):
                x = lp[t, n, k]
                if x != x or x == math.inf:
                    return 1
                if (x < -limit and x != neg) or x > limit:
                    return 3
                m = max(m, float(x))
            if m == neg:  # probability 0 everywhere: the row stays -inf
                for k in range(c):
                    lpn[t, k] = neg
                    prob[t, k] = 0.0
                continue
            acc = 0.0
            for k in range(c):
                e = math.exp(lp[t, n, k] - m)
                prob[t, k] = e
                acc += e
            shift = math.log(acc)
            inv = 1.0 / acc
            for k in range(c):
                v = (lp[t, n, k] - m) - shift  # m + shift would round away shift at m ~ 1e308
                lpn[t, k] = v
                prob[t, k] *= inv
                if neg < v < -600.0:
                    tiny = True
        w = 1.0 / (n_seq * max(length, 1)) if mean else 1.0
        for t in range(t_max):
            for k in range(c):
                grad[t, n, k] = 0.0
        if t_n == 0:  # no frame: p = 1 for the empty target, else 0
            if length == 0 or zero_inf:
                loss[n] = 0.0
                continue
            return 2
        ll = math.nan
        if not tiny:
            ll = _ctc_scaled(prob, t_n, s_n, ext, skip, alpha, scale, y, nxt, cur, gamma, grad, n, w)
        if ll != ll:
            ll = _ctc_log(lpn, t_n, s_n, ext, skip, alpha, nxt, cur, gamma, grad, n, w)
        if ll == neg:
            if not zero_inf:
                return 2
            loss[n] = 0.0
            continue
        loss[n] = -ll
    return 0


# --------------------------------------------------------------------------- multi-class margin


@numba.njit(fastmath=SUM, **JIT)
def multi_margin_rows(x, t, power, margin, w, big, scale, loss, g, lo, hi):
    """Rows ``lo:hi`` of the multi-class hinge loss ``sum_{i != y} w_y max(0, m - x_y + x_i)^p / C``: float64
    row losses into ``loss``, the gradient (times ``scale``) into ``g``. The hinges are formed in the input's
    dtype as the definition forms them (``margin`` comes in that dtype; a tie ``x_i == x_y`` is ``m``).
    Each row is one branch-free pass over every class (it vectorises). Returns False for a label outside
    [0, C), a non-finite score, or a row loss beyond ``big`` (the dtype's largest value), which the caller
    leaves to the definition; ``w`` is (C,), ones when there is no weight."""
    c = x.shape[1]
    inv_c = 1.0 / c
    zero = margin - margin
    for r in range(lo, hi):
        y = t[r]
        if y < 0 or y >= c:
            return False
        xy = x[r, y]
        coef = w[y] * inv_c
        step = coef * scale
        acc = 0.0
        total = 0.0
        probe = zero  # x * 0 summed: NaN if any score is NaN or infinite
        for i in range(c):
            xi = x[r, i]
            probe += xi * zero
            z = margin if xi == xy else (margin - xy) + xi
            on = z > 0 and i != y
            if power == 1:
                h = z if on else zero
                gi = step if on else 0.0
            else:
                h = z * z if on else zero
                gi = 2.0 * z * step if on else 0.0
            acc += h
            total += gi
            g[r, i] = gi
        if probe != 0:
            return False
        g[r, y] = -total
        row = acc * coef
        if not abs(row) <= big:
            return False
        loss[r] = row
    return True


# --------------------------------------------------------------------------- KL divergence


@numba.njit(fastmath=SUM, **JIT)
def kl_div_chunks(x, t, log_target, gscale, big, out, g, lo, hi, partials):
    """Chunks ``lo:hi`` of the KL divergence ``p (log p - x)`` (0 where p = 0), p = ``t`` or ``exp(t)``
    (``log_target``). ``g`` comes in holding ``log t`` (or ``exp t``), computed by NumPy's vectorised
    functions, and leaves holding ``-p gscale``; the float64 terms go into ``out`` when it is sized, their
    chunk sums into ``partials``. Branch-free, so it vectorises. Returns False for a non-finite entry or
    term, a negative probability, or terms beyond ``big`` (where the dtype's own products may overflow),
    which the caller leaves to the definition."""
    n = x.size
    keep = out.size > 0
    zero = gscale - gscale
    for c in range(lo, hi):
        a = c * CHUNK
        b = min(a + CHUNK, n)
        # the chunk as slices indexed from 0: an index numba cannot prove >= 0 gets a wraparound branch,
        # which keeps LLVM from vectorising the loop (2-3x slower)
        xs, ts, gs = x[a:b], t[a:b], g[a:b]
        os = out[a:b] if keep else out
        acc = 0.0
        mag = 0.0  # sum |term|: NaN if anything was not finite, above big if a term may overflow
        low = zero  # the negative probabilities, summed
        for i in range(b - a):
            xi, ti, f = xs[i], ts[i], gs[i]
            if log_target:  # f = exp(t) = p
                p = f
                d = ti - xi
                term = p * d if p > 0 else 0.0
                mag += abs(p * d) + abs(ti) * 0.0
            else:  # f = log t; 0 log 0 = 0
                p = ti
                term = (ti * f if ti > 0 else 0.0) - ti * xi
                mag += abs(term) + abs(xi) * 0.0
                low += min(ti, zero)
            acc += term
            if keep:
                os[i] = term
            gs[i] = -p * gscale
        if not mag <= big or low < 0:
            return False
        partials[c] = acc
    return True


# --------------------------------------------------------------------------- multi-label margin


@numba.njit(**JIT)
def multilabel_margin_rows(x, t, one, big, scale, loss, g, lo, hi):
    """Rows ``lo:hi`` of the multi-label hinge loss ``sum_{j listed} sum_{i not listed} max(0, 1 - x_j + x_i) / C``
    (a class listed twice counts twice): float64 row losses into ``loss``, the gradient times ``scale`` into
    ``g``, in O(C) memory and O(L C) time per row (L listed classes). The hinges are formed in the input's
    dtype as the definition forms them (``one`` is 1 in that dtype; a tie is 1). Returns False for a label
    outside [-1, C), a non-finite score, or a row loss beyond ``big``: the definition's cases."""
    c = x.shape[1]
    count = np.empty(c, np.int64)
    for r in range(lo, hi):
        for j in range(c):
            count[j] = 0
            g[r, j] = 0
            if not abs(x[r, j]) < math.inf:
                return False
        listing = True
        for k in range(c):
            label = t[r, k]
            if label < -1 or label >= c:
                return False
            if label == -1:
                listing = False
            elif listing:
                count[label] += 1
        acc = 0.0
        for j in range(c):
            m = count[j]
            if m == 0:
                continue
            xj = x[r, j]
            part = 0.0
            hits = 0
            for i in range(c):
                if count[i] != 0:
                    continue
                xi = x[r, i]
                z = one if xi == xj else (one - xj) + xi
                if z > 0:
                    part += z
                    hits += 1
                    g[r, i] += m
            acc += m * part
            g[r, j] -= m * hits
        row = acc / c
        if not abs(row) <= big:
            return False
        loss[r] = row
        step = scale / c
        for j in range(c):
            g[r, j] *= step
    return True


# --------------------------------------------------------------------------- hinge embedding, multi-label soft margin


@numba.njit(fastmath=SUM, **JIT)
def hinge_embedding_flat(x, t, margin, big, gscale, out, g):
    """The hinge embedding loss ``x`` (label 1) or ``max(0, m - x)`` (label -1), elementwise: float64 terms
    into ``out`` when it is sized, ``g`` = 1, -1 (``m - x >= 0``) or 0, times ``gscale``. ``margin`` comes in
    the input's dtype, so ``m - x`` is formed as the definition forms it. Branch-free (it vectorises).
    Returns the float64 sum, or NaN for a label other than +-1, a non-finite score, or terms beyond ``big``:
    the definition's cases."""
    keep = out.size > 0
    other = 0  # labels other than +-1
    zero = margin - margin
    for i in range(x.size):
        xi, ti = x[i], t[i]
        pos = ti == 1
        other += 0 if pos or ti == -1 else 1
        d = margin - xi
        if keep:
            out[i] = float(xi if pos else (d if d > zero else zero))
        g[i] = gscale if pos else (-gscale if d >= zero else 0.0)
    acc = 0.0
    mag = 0.0  # sum |term|, NaN if a score is not finite
    for i in range(x.size):  # only reads: the sum's bits do not depend on where the arrays lie
        xi = x[i]
        d = margin - xi
        term = float(xi if t[i] == 1 else (d if d > zero else zero))
        acc += term
        mag += abs(term) + abs(xi) * 0.0
    if other or not mag <= big:
        return math.nan
    return acc


@numba.njit(**JIT)
def multilabel_soft_margin_rows(x, t, w, big, scale, loss, g, lo, hi):
    """Rows ``lo:hi`` of ``-(1/C) sum_c w_c [y log sigmoid(x) + (1 - y) log sigmoid(-x)]``: float64 row losses
    into ``loss``, ``w (sigmoid(x) - y) / C`` times ``scale`` into ``g``. Each term is BCE-with-logits
    (``softplus(x) - y x``), so blocks of rows go through its vectorised kernel with the class weights as
    its period. Returns False for a row that is not finite or beyond ``big`` (an infinite or huge score,
    target or weight): the definition takes those limits."""
    c = x.shape[1]
    dtype = x.dtype
    pw = np.ones(c, dtype)
    rows = max(1, CHUNK // c)
    q = np.empty(min(rows, hi - lo) * c, dtype)
    gscale = dtype.type(scale / c)
    for r0 in range(lo, hi, rows):
        r1 = min(r0 + rows, hi)
        m = (r1 - r0) * c
        _bce_logits_weighted_rows(x[r0:r1].reshape(m), t[r0:r1].reshape(m), w, pw, g[r0:r1].reshape(m), q[:m], gscale)
        for r in range(r1 - r0):
            acc = 0.0
            for k in range(r * c, (r + 1) * c):
                acc += q[k]
            row = acc / c
            if not abs(row) <= big:
                return False
            loss[r0 + r] = row
    return True


# --------------------------------------------------------------------------- K-dimensional cross-entropy and NLL
# The class axis of an (N, C, S) array is axis 1 (S the product of d1..dK, stride 1): each pass
# runs over the classes of a block of ``_KDIM_SPAN`` positions, the inner loop over the positions
# (contiguous, vectorised), so no transpose copy is made and a block stays in L1/L2.

_KDIM_SPAN = 256  # positions per block


@numba.njit(**JIT)
def kdim_count(t, w, ignore_index, num_classes):
    """The sum of the weights ``w[t]`` of the labels (N, S) that are not ``ignore_index`` (their count:
    ``w`` empty), float64; -1.0 if a label is outside [0, C)."""
    total = 0.0
    weighted = w.size > 0
    for n in range(t.shape[0]):
        for k in range(t.shape[1]):
            ti = t[n, k]
            if ti == ignore_index:
                continue
            if ti < 0 or ti >= num_classes:
                return -1.0
            total += float(w[ti]) if weighted else 1.0
    return total


@numba.njit(fastmath=CONTRACT, **JIT)
def ce_kdim_blocks(x, t, q, w, ignore_index, ls, wsum, scale, g, loss, lo, hi):
    """Blocks ``lo:hi`` of the K-dimensional cross-entropy on ``x`` (N, C, S): gradient (times ``scale``)
    into ``g``, float64 position losses into ``loss`` (N, S) if sized; returns their sum in position order.

    Index targets (``q`` empty): ``t`` (N, S) labels, weight ``w[t]`` (``w`` empty: 1), loss
    ``(1 - ls)(-w_t logp_t) + ls/C (-sum_c w_c logp_c)``, 0 where ignored. Probability targets ``q``
    (N, C, S): ``a_c = w_c (q_c (1 - ls) + ls / C)``, loss ``-sum_c a_c logp_c``. Gradient
    ``(sum a) softmax - a``. The class sums are kept apart from ``log sum exp`` (``-sum a (x - m)`` and
    ``(sum a) log total``: two terms of one sign), so a large logit loses no precision.
    """
    c = x.shape[1]
    s = x.shape[2]
    blocks = -(-s // _KDIM_SPAN)
    share = ls / c
    probs = q.shape[0] > 0
    weighted = w.size > 0
    keep = loss.size > 0
    one = 1.0 - ls
    m = np.empty(_KDIM_SPAN, x.dtype)
    tot = np.empty(_KDIM_SPAN, np.float64)
    acc = np.empty(_KDIM_SPAN, np.float64)  # -sum_c a_c (x_c - m)
    asum = np.empty(_KDIM_SPAN, np.float64)
    r = np.empty(_KDIM_SPAN, np.float64)
    total = 0.0
    # every inner loop runs over slices indexed from 0: an offset index (k0 + k) numba cannot prove
    # >= 0 gets a wraparound branch, which keeps LLVM from vectorising the loop
    for u in range(lo, hi):
        n = u // blocks
        k0 = (u % blocks) * _KDIM_SPAN
        k1 = min(k0 + _KDIM_SPAN, s)
        span = k1 - k0
        xs = x[n, 0, k0:k1]
        for k in range(span):
            m[k] = xs[k]
            tot[k] = 0.0
            acc[k] = 0.0
            asum[k] = 0.0
        for j in range(1, c):
            xs = x[n, j, k0:k1]
            for k in range(span):
                v = xs[k]
                m[k] = v if v > m[k] else m[k]
        for j in range(c):
            wj = float(w[j]) if weighted else 1.0
            xs = x[n, j, k0:k1]
            gs = g[n, j, k0:k1]
            for k in range(span):
                e = expneg(xs[k] - m[k])
                gs[k] = e
                tot[k] += float(e)
            if probs:
                qs = q[n, j, k0:k1]
                for k in range(span):
                    a = wj * (float(qs[k]) * one + share)
                    asum[k] += a
                    acc[k] -= a * float(xs[k] - m[k])
            elif ls > 0:
                for k in range(span):
                    acc[k] -= wj * float(xs[k] - m[k])
        if probs:
            for k in range(span):
                lt = math.log(tot[k])
                value = acc[k] + asum[k] * lt
                r[k] = asum[k] * scale / tot[k]
                if keep:
                    loss[n, k0 + k] = value
                total += value
        else:
            ts = t[n, k0:k1]
            for k in range(span):
                lt = math.log(tot[k])
                ti = ts[k]
                if ti == ignore_index:
                    value = 0.0
                    r[k] = 0.0
                else:
                    hit = one * (float(w[ti]) if weighted else 1.0)
                    value = -hit * (float(x[n, ti, k0 + k] - m[k]) - lt)
                    if ls > 0:
                        value += share * (acc[k] + wsum * lt)
                    r[k] = (hit + share * wsum) * scale / tot[k]
                if keep:
                    loss[n, k0 + k] = value
                total += value
        for j in range(c):
            gs = g[n, j, k0:k1]
            if probs:
                wj = (float(w[j]) if weighted else 1.0) * scale
                qs = q[n, j, k0:k1]
                for k in range(span):
                    a = wj * (float(qs[k]) * one + share)
                    gs[k] = float(gs[k]) * r[k] - a
            elif ls > 0:
                sj = share * (float(w[j]) if weighted else 1.0) * scale
                for k in range(span):
                    gs[k] = float(gs[k]) * r[k] - sj
            else:
                for k in range(span):
                    gs[k] = float(gs[k]) * r[k]
        if not probs:
            ts = t[n, k0:k1]
            for k in range(span):
                ti = ts[k]
                if ti == ignore_index:
                    for j in range(c):  # zero, not 0 * (a non-finite softmax)
                        g[n, j, k0 + k] = 0
                else:
                    g[n, ti, k0 + k] -= one * (float(w[ti]) if weighted else 1.0) * scale
    return total


@numba.njit(**JIT)
def ce_kdim_small(x, t, q, w, ignore_index, ls, wsum, mean, g, loss):
    """The whole K-dimensional cross-entropy in one call: ``(denominator, sum of the position losses)``,
    the denominator -1 for a label outside [0, C) (and nothing computed where it is -1 or 0 with 'mean')."""
    if q.shape[0] > 0:
        den = float(x.shape[0] * x.shape[2])
    else:
        den = kdim_count(t, w, ignore_index, x.shape[1])
    if den < 0 or (mean and den == 0):
        return den, 0.0
    scale = 1.0 / den if mean else 1.0
    if x.shape[2] < (_KDIM_NARROW if x.itemsize == 4 else _KDIM_NARROW // 2):
        return den, ce_kdim_narrow(x, t, q, w, ignore_index, ls, wsum, scale, g, loss, 0, x.shape[0])
    units = x.shape[0] * -(-x.shape[2] // _KDIM_SPAN)
    return den, ce_kdim_blocks(x, t, q, w, ignore_index, ls, wsum, scale, g, loss, 0, units)


# Few positions (S < _KDIM_NARROW float32, half that float64): the blocks' inner loops over S positions run
# too few steps to vectorise (input (256, 100, 8) float32: 3 ns an element against 0.7 at S = 256). Each
# sample's (C, S) block is transposed into S contiguous rows of C classes, computed as rows, and the gradient
# transposed back (the two transposes are ~40% of the time at S = 8).
_KDIM_NARROW = 32


@numba.njit(fastmath=SUM, **JIT)
def _kdim_row_sums(xr, qr, w, m, one, share):
    """``(sum_c a_c, -sum_c a_c (x_c - m))`` of one row, ``a_c = w_c (q_c one + share)``, or ``a_c = w_c``
    for ``qr`` empty (``w`` empty: 1), in float64; a loop that only reads (see the pointwise losses)."""
    probs = qr.size > 0
    weighted = w.size > 0
    asum = 0.0
    acc = 0.0
    for j in range(xr.size):
        wj = float(w[j]) if weighted else 1.0
        a = wj * (float(qr[j]) * one + share) if probs else wj
        asum += a
        acc -= a * float(xr[j] - m)
    return asum, acc


@numba.njit(fastmath=CONTRACT, **JIT)
def ce_kdim_narrow(x, t, q, w, ignore_index, ls, wsum, scale, g, loss, lo, hi):
    """:func:`ce_kdim_blocks` (same arguments, same formulas) for samples ``lo:hi`` of ``x`` (N, C, S) with few
    positions: each sample's (C, S) block transposed to S rows of C classes, the shifted rows exponentiated
    as one contiguous block, the row sums vectorised, the gradient transposed back into ``g``."""
    c = x.shape[1]
    s = x.shape[2]
    share = ls / c
    probs = q.shape[0] > 0
    weighted = w.size > 0
    keep = loss.size > 0
    one = 1.0 - ls
    xt = np.empty((s, c), x.dtype)
    gt = np.empty((s, c), x.dtype)
    qt = np.empty((s if probs else 0, c), x.dtype)
    unused = np.empty(0, x.dtype)
    m = np.empty(s, x.dtype)
    ge = gt.reshape(-1)
    total = 0.0
    for n in range(lo, hi):
        xn = x[n]
        for k in range(s):  # the inner loop over the classes: a loop of S steps per class costs more at small S
            xr = xt[k]
            for j in range(c):
                xr[j] = xn[j, k]
        if probs:
            for k in range(s):
                qr = qt[k]
                for j in range(c):
                    qr[j] = q[n, j, k]
        for k in range(s):
            xr = xt[k]
            gr = gt[k]
            mk = row_max(xr)
            m[k] = mk
            for j in range(c):
                gr[j] = xr[j] - mk
        exp_inplace(ge)
        for k in range(s):
            xr = xt[k]
            gr = gt[k]
            tot = row_sum(gr)
            lt = math.log(tot)
            inv = scale / tot
            if probs:
                qr = qt[k]
                asum, acc = _kdim_row_sums(xr, qr, w, m[k], one, share)
                value = acc + asum * lt
                r = asum * inv
                for j in range(c):
                    a = (float(w[j]) if weighted else 1.0) * scale * (float(qr[j]) * one + share)
                    gr[j] = float(gr[j]) * r - a
            else:
                ti = t[n, k]
                if ti == ignore_index:
                    value = 0.0
                    for j in range(c):  # zero, not 0 * (a non-finite softmax)
                        gr[j] = 0
                else:
                    hit = one * (float(w[ti]) if weighted else 1.0)
                    value = -hit * (float(xr[ti] - m[k]) - lt)
                    r = (hit + share * wsum) * inv
                    if ls > 0:
                        acc = _kdim_row_sums(xr, unused, w, m[k], one, share)[1]
                        value += share * (acc + wsum * lt)
                        for j in range(c):
                            gr[j] = float(gr[j]) * r - share * (float(w[j]) if weighted else 1.0) * scale
                    else:
                        for j in range(c):
                            gr[j] = float(gr[j]) * r
                    gr[ti] -= hit * scale
            if keep:
                loss[n, k] = value
            total += value
        gn = g[n]
        for k in range(s):
            gr = gt[k]
            for j in range(c):
                gn[j, k] = gr[j]
    return total


@numba.njit(**JIT)
def nll_kdim(x, t, w, ignore_index, mean, g, loss):
    """The whole NLL of (N, C, S) log-probabilities ``x`` at labels ``t`` (N, S), class weights ``w``
    (empty: none): ``(denominator, sum of the losses)``, the denominator -1 for a label outside [0, C).

    ``-w[t] x[t]`` into ``loss`` (float64, if sized), ``-w[t] scale`` at the labels of a zeroed ``g``
    (``scale`` = 1 / denominator for 'mean'); the sum in position order, float64.
    """
    c = x.shape[1]
    weighted = w.size > 0
    one = x.dtype.type(1)
    den = 0.0
    for n in range(t.shape[0]):
        for k in range(t.shape[1]):
            ti = t[n, k]
            if ti == ignore_index:
                continue
            if ti < 0 or ti >= c:
                return -1.0, 0.0
            den += float(w[ti]) if weighted else 1.0
    if mean and den == 0:
        return 0.0, 0.0
    scale = one / x.dtype.type(den) if mean else one
    keep = loss.size > 0
    total = 0.0
    for n in range(x.shape[0]):
        for k in range(x.shape[2]):
            ti = t[n, k]
            if ti == ignore_index:
                if keep:
                    loss[n, k] = 0.0
                continue
            wk = w[ti] if weighted else one
            value = -float(wk) * float(x[n, ti, k])
            g[n, ti, k] = -wk * scale
            total += value
            if keep:
                loss[n, k] = value
    return den, total


@numba.njit(**JIT)
def nll_rows(x, t, w, ignore_index, mean, g, loss):
    """:func:`nll_kdim` for (N, C) ``x`` and (N,) ``t``, taken as they are (no (N, C, 1) views: each new
    array a numba call types costs about a microsecond, the most of a small call)."""
    c = x.shape[1]
    weighted = w.size > 0
    one = x.dtype.type(1)
    den = 0.0
    for n in range(t.shape[0]):
        ti = t[n]
        if ti == ignore_index:
            continue
        if ti < 0 or ti >= c:
            return -1.0, 0.0
        den += float(w[ti]) if weighted else 1.0
    if mean and den == 0:
        return 0.0, 0.0
    scale = one / x.dtype.type(den) if mean else one
    keep = loss.size > 0
    total = 0.0
    for n in range(x.shape[0]):
        ti = t[n]
        if ti == ignore_index:
            if keep:
                loss[n] = 0.0
            continue
        wk = w[ti] if weighted else one
        value = -float(wk) * float(x[n, ti])
        g[n, ti] = -wk * scale
        total += value
        if keep:
            loss[n] = value
    return den, total


# --------------------------------------------------------------------------- quantile (pinball) loss, flat
# A row's Q levels in an inner loop of Q steps, with branches on the sign of ``u``, cannot vectorise.
# ``quantile_chunks`` takes the (N, Q) input flat, a chunk of whole rows at a time: the target is first
# spread to one entry per element (a loop that only stores), then one flat loop with selects, no branches,
# computes every element with the definition's operations; the chunk's loss sum is taken by a loop that
# only reads, as for the pointwise losses above.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _quantile_flat(x, tt, qq, g, q, scale):
    """``u = tt - x``: loss ``max(qq u, (qq - 1) u)`` into ``q`` (NaN as ``np.maximum``), gradient ``-qq``,
    ``1 - qq`` or ``1/2 - qq`` (u > 0, u < 0, otherwise: NaN too) times ``scale`` into ``g``."""
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    for i in range(x.size):
        qi = qq[i]
        u = tt[i] - x[i]
        a = qi * u
        b = (qi - one) * u
        q[i] = a if a >= b else (b if b > a else a + b - a)
        local = -qi if u > zero else ((one - qi) if u < zero else (half - qi))
        g[i] = local * scale


@numba.njit(**JIT)
def _spread(t, tt, nq):
    """``tt[r nq + j] = t[r]``: each target once per level. Written out for 1 to 4 levels, where a loop of
    ``nq`` steps per row would cost several times the stores themselves."""
    if nq == 1:
        tt[: t.size] = t
    elif nq == 2:
        for r in range(t.size):
            v = t[r]
            tt[2 * r] = v
            tt[2 * r + 1] = v
    elif nq == 3:
        for r in range(t.size):
            v = t[r]
            tt[3 * r] = v
            tt[3 * r + 1] = v
            tt[3 * r + 2] = v
    elif nq == 4:
        for r in range(t.size):
            v = t[r]
            tt[4 * r] = v
            tt[4 * r + 1] = v
            tt[4 * r + 2] = v
            tt[4 * r + 3] = v
    else:
        for r in range(t.size):
            v = t[r]
            base = r * nq
            for j in range(nq):
                tt[base + j] = v


@numba.njit(**JIT)
def quantile_chunks(x, t, qq, rows, scale, g, out, lo, hi, partials):
    """Chunks ``lo:hi`` of ``rows`` rows each of the pinball loss on flat ``x`` (N rows of Q = x.size / N
    entries, N = ``t.size``): ``qq`` holds the Q levels repeated over min(rows, N) rows; the losses go into
    ``out`` when sized, each chunk's float64 sum into ``partials``."""
    n = x.size
    nq = n // t.size
    step = rows * nq
    keep = out.size > 0
    tt = np.empty(min(step, n), x.dtype)
    scratch = np.empty(0 if keep else min(step, n), x.dtype)
    for c in range(lo, hi):
        a = c * step
        b = min(a + step, n)
        r0 = c * rows
        m = b - a
        _spread(t[r0 : r0 + m // nq], tt, nq)
        qb = out[a:b] if keep else scratch[:m]
        _quantile_flat(x[a:b], tt[:m], qq[:m], g[a:b], qb, scale)
        partials[c] = row_sum(qb)


# --------------------------------------------------------------------------- Poisson NLL of log inputs
# :func:`poisson_chunks` with ``log_input`` works in x's dtype, as the definition does, with the vectorised
# ``exp`` (:func:`losslab._fast._vecmath.exp`, no division), stores the losses and sums them in a loop that
# only reads: every loop vectorises.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _poisson_log_flat(x, t, xmax, gscale, q, g):
    """``e^x - t x`` into ``q``, ``(e^x - t) gscale`` into ``g``, in x's dtype; the count of entries outside the
    domain (|x| > ``xmax``, NaN, a target that is negative or not finite)."""
    zero = x.dtype.type(0)
    inf = x.dtype.type(np.inf)
    bad = 0
    for i in range(x.size):
        xi = x[i]
        ti = t[i]
        bad += 0 if (abs(xi) <= xmax and zero <= ti < inf) else 1
        e = vexp(xi)  # |x| <= xmax (beyond, the entry is counted): no division
        q[i] = e - ti * xi
        g[i] = (e - ti) * gscale
    return bad


# --------------------------------------------------------------------------- KL divergence of log targets
# ``kl_div_chunks`` takes ``p = exp(t)`` from NumPy (one thread, a pass of its own) before it runs.
# ``kl_div_log_chunks`` computes it in the kernel with the vectorised ``exp`` (:func:`losslab._fast._vecmath.exp`,
# no division), in the chunk that uses it, and sums in a loop that only reads.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _kl_div_log_flat(x, t, tmax, gscale, q, g):
    """``p (t - x)`` (0 where p = 0), p = e^t, into ``q``, ``-p gscale`` into ``g``, in x's dtype; the count of
    entries outside the domain (t above ``tmax`` or NaN, an input that is not finite)."""
    zero = x.dtype.type(0)
    inf = x.dtype.type(np.inf)
    bad = 0
    for i in range(x.size):
        xi = x[i]
        ti = t[i]
        bad += 0 if (ti <= tmax and abs(xi) < inf) else 1  # t = -inf (p = 0) drops out
        p = vexp(ti)  # t <= tmax (beyond, the entry is counted): no division
        q[i] = p * (ti - xi) if p > zero else zero
        g[i] = -p * gscale
    return bad


@numba.njit(fastmath=SUM, **JIT)
def _sum_and_abs(q):
    """``(sum q, sum |q|)`` in float64, in a loop that only reads."""
    s = 0.0
    m = 0.0
    for i in range(q.size):
        v = float(q[i])
        s += v
        m += abs(v)
    return s, m


@numba.njit(**JIT)
def kl_div_log_chunks(x, t, tmax, gscale, big, out, g, lo, hi, partials):
    """Chunks ``lo:hi`` of the KL divergence with ``log_target``: terms ``p (t - x)``, p = e^t, into ``out`` when
    sized, gradient ``-p gscale`` into ``g``, chunk sums into ``partials``. Returns False for an entry outside
    the domain (see :func:`_kl_div_log_flat`) or terms beyond ``big`` (where the dtype's own products may
    overflow), which the caller leaves to the definition."""
    n = x.size
    keep = out.size > 0
    scratch = np.empty(0 if keep else min(CHUNK, n), x.dtype)
    for c in range(lo, hi):
        a = c * CHUNK
        b = min(a + CHUNK, n)
        q = out[a:b] if keep else scratch[: b - a]
        if _kl_div_log_flat(x[a:b], t[a:b], tmax, gscale, q, g[a:b]):
            return False
        s, m = _sum_and_abs(q)
        if not m <= big:
            return False
        partials[c] = s
    return True


# --------------------------------------------------------------------------- margin ranking, contrastive


@numba.njit(fastmath=SUM, **JIT)
def margin_ranking_flat(x1, x2, t, margin, gscale, out, g1, g2):
    """The margin ranking loss ``max(0, -y (x1 - x2) + m)`` elementwise, term for term in the inputs' dtype as
    the definition forms it (``margin`` and ``gscale`` come in that dtype): terms into ``out`` when it is sized,
    ``g2 = y gscale`` and ``g1 = -g2`` where the hinge is active (``>= 0``, as ``clamp_min``), else 0.
    Returns the float64 sum, or NaN for a label other than +-1 or a hinge argument that is not finite: the
    definition's cases. Branch-free (it vectorises)."""
    keep = out.size > 0
    zero = margin - margin
    one = zero + 1
    acc = 0.0
    check = 0.0  # NaN once some hinge argument is not finite
    other = 0  # labels other than +-1
    for i in range(x1.size):
        ti = t[i]
        pos = ti == 1
        other += 0 if pos or ti == -1 else 1
        y = one if pos else -one
        z = margin - y * (x1[i] - x2[i])  # -y d + m, exactly, for y = +-1
        term = z if z > zero else zero
        gi = y * gscale if z >= zero else zero
        check += float(z - z)
        acc += float(term)
        if keep:
            out[i] = term
        g2[i] = gi
        g1[i] = -gi
    if other or check != 0.0:
        return math.nan
    return acc


@numba.njit(fastmath=SUM, **JIT)
def contrastive_rows(x1, x2, t, margin, scale, loss, g1, g2, lo, hi):
    """Contrastive rows ``lo:hi``: ``d^2 / 2`` (label 1) or ``max(0, m - d)^2 / 2`` (label 0) with
    ``d = ||x1 - x2||_2`` (the differences formed in the inputs' dtype, as the definition, their squares summed
    in float64), and the gradients ``+-(x1 - x2)`` times ``1`` or ``-max(0, m - d) / d`` (0 at ``d = 0``), times
    ``scale``. Returns how many rows it leaves to the definition: a label other than 0 and 1, or a squared
    distance that is not finite."""
    dim = x1.shape[1]
    bad = 0
    for r in range(lo, hi):
        ti = t[r]
        if ti != 0 and ti != 1:
            bad += 1
            continue
        acc = 0.0
        for j in range(dim):
            u = float(x1[r, j] - x2[r, j])
            acc += u * u
        if not acc < math.inf:
            bad += 1
            continue
        if ti == 1:
            loss[r] = 0.5 * acc
            coef = scale
        else:
            d = math.sqrt(acc)
            gap = margin - d
            if gap > 0.0:
                loss[r] = 0.5 * gap * gap
                coef = -gap / d * scale if d > 0.0 else 0.0
            else:
                loss[r] = 0.0
                coef = 0.0
        for j in range(dim):
            gv = float(x1[r, j] - x2[r, j]) * coef
            g1[r, j] = gv
            g2[r, j] = -gv
    return bad


# --------------------------------------------------------------------------- NT-Xent, small batches


@numba.njit(**JIT)
def ntxent_small(e, lab, tau, floor, mean, loss, g):
    """NT-Xent of the ``m`` embeddings ``e`` (m, D) in float64, for batches small enough that the whole (m, m)
    similarity matrix is cheap: ``lab`` holds the group labels (equal labels are positives of each other), or is
    empty for two views (``e = [view1; view2]``, anchor ``i``'s one positive ``(i + m/2) % m``). Per-anchor
    losses into ``loss``, the gradient of the reduced loss into ``g``. Returns the sum (the mean over the
    positive pairs for ``mean``), or NaN for an embedding whose norm is not finite, a pair whose denominator
    underflows, or a mean without a positive pair: the definitions' cases."""
    m, dim = e.shape
    views = lab.size == 0
    half = m // 2
    n = np.empty(m)
    clipped = np.empty(m, np.bool_)
    u = np.empty((m, dim))
    for i in range(m):
        acc = 0.0
        for j in range(dim):
            acc += float(e[i, j]) * float(e[i, j])
        norm = math.sqrt(acc)
        if not norm < math.inf:
            return math.nan
        clipped[i] = not norm > floor
        n[i] = max(norm, floor)
        for j in range(dim):
            u[i, j] = float(e[i, j]) / n[i]
    s = np.empty((m, m))
    for i in range(m):
        for k in range(i + 1, m):
            acc = 0.0
            for j in range(dim):
                acc += u[i, j] * u[k, j]
            s[i, k] = acc / tau
            s[k, i] = s[i, k]
    ds = np.zeros((m, m))
    pairs = 0
    total = 0.0
    for i in range(m):
        top = -math.inf
        for k in range(m):
            if k != i and s[i, k] > top:
                top = s[i, k]
        z = 0.0  # the negatives
        for k in range(m):
            positive = k == (i + half) % m if views else lab[k] == lab[i]
            if k != i and not positive:
                z += math.exp(s[i, k] - top)
        row = 0.0
        inv_sum = 0.0
        for k in range(m):
            positive = k == (i + half) % m if views else lab[k] == lab[i]
            if k != i and positive:
                ex = math.exp(s[i, k] - top)
                den = ex + z
                if not den > 0.0:
                    return math.nan
                row += math.log(den) - (s[i, k] - top)
                ds[i, k] = ex / den - 1.0
                inv_sum += 1.0 / den
                pairs += 1
        for k in range(m):
            positive = k == (i + half) % m if views else lab[k] == lab[i]
            if k != i and not positive:
                ds[i, k] = math.exp(s[i, k] - top) * inv_sum
        loss[i] = row
        total += row
    if mean:
        if pairs == 0:
            return math.nan
        total /= pairs
    scale = (1.0 / pairs if mean else 1.0) / tau
    gu = np.zeros(dim)
    for i in range(m):
        for j in range(dim):
            gu[j] = 0.0
        for k in range(m):
            c = (ds[i, k] + ds[k, i]) * scale
            if c != 0.0:
                for j in range(dim):
                    gu[j] += c * u[k, j]
        radial = 0.0
        if not clipped[i]:
            for j in range(dim):
                radial += u[i, j] * gu[j]
        for j in range(dim):
            g[i, j] = (gu[j] - radial * u[i, j]) / n[i]
    return total


# --------------------------------------------------------------------------- triplet with the cosine distance


@numba.njit(fastmath=SUM, **JIT)
def triplet_cosine_rows(a, p, n, margin, eps, swap, scale, loss, ga, gp, gn, lo, hi):
    """Triplet rows ``lo:hi`` with the cosine distance ``d(x, y) = 1 - x.y / (s_x s_y)``, ``s_x = ||x||``:
    ``max(margin + d(a, p) - d_-, 0)`` (``d_-`` as :func:`triplet_rows`) and the gradients times ``scale``, with
    ``d d(x, y) / dx = c x / s_x^2 - y / (s_x s_y)``; the six dot products of a row in one pass, in float64.
    Returns how many rows it leaves to the definition: a norm at most ``eps`` (clamped there) or not finite."""
    dim = a.shape[1]
    bad = 0
    for r in range(lo, hi):
        saa = 0.0
        spp = 0.0
        snn = 0.0
        sap = 0.0
        san = 0.0
        spn = 0.0
        for j in range(dim):
            x, y, v = float(a[r, j]), float(p[r, j]), float(n[r, j])
            saa += x * x
            spp += y * y
            snn += v * v
            sap += x * y
            san += x * v
            spn += y * v
        sa, sp, sn = math.sqrt(saa), math.sqrt(spp), math.sqrt(snn)
        if not (eps < sa < math.inf and eps < sp < math.inf and eps < sn < math.inf):
            bad += 1
            continue
        k_ap, k_an, k_pn = 1.0 / (sa * sp), 1.0 / (sa * sn), 1.0 / (sp * sn)
        c_ap, c_an, c_pn = sap * k_ap, san * k_an, spn * k_pn
        d_an = 1.0 - c_an
        w = 1.0
        d_neg = d_an
        if swap:
            d_pn = 1.0 - c_pn
            if d_pn < d_an:
                w, d_neg = 0.0, d_pn
            elif d_pn == d_an:
                w = 0.5
        z = (margin + (1.0 - c_ap)) - d_neg
        g = scale if z >= 0.0 else 0.0
        loss[r] = z if z >= 0.0 else 0.0
        gw = g * w
        gv = g - gw  # g (1 - w): the swap's share
        # a: g (c_ap - w c_an) a / s_a^2 - g p / (s_a s_p) + g w n / (s_a s_n)
        a_a, a_p, a_n = (g * c_ap - gw * c_an) / saa, -g * k_ap, gw * k_an
        # p: g (c_ap - (1 - w) c_pn) p / s_p^2 - g a / (s_a s_p) + g (1 - w) n / (s_p s_n)
        p_p, p_a, p_n = (g * c_ap - gv * c_pn) / spp, -g * k_ap, gv * k_pn
        # n: -(w c_an + (1 - w) c_pn) g n / s_n^2 + g w a / (s_a s_n) + g (1 - w) p / (s_p s_n)
        n_n, n_a, n_p = -(gw * c_an + gv * c_pn) / snn, gw * k_an, gv * k_pn
        for j in range(dim):
            x, y, v = float(a[r, j]), float(p[r, j]), float(n[r, j])
            ga[r, j] = a_a * x + a_p * y + a_n * v
            gp[r, j] = p_a * x + p_p * y + p_n * v
            gn[r, j] = n_a * x + n_p * y + n_n * v
    return bad


# --------------------------------------------------------------------------- binary cross-entropy on probabilities
# In x's dtype, as the definition: each log by the vectorised ``vlog`` (``log(1 - x)`` as ``log u + c``,
# ``u = 1 - x``, ``c = ((1 - u) - x) / u`` the rounding of ``u``: log1p's accuracy for small x), clamped at
# -100 as PyTorch (log 0 = -inf gives -100 exactly); the weight, where given, repeats with period ``w.size``
# over the flat input, so a chunk is a whole number of periods and ``w`` is tiled to one chunk by the caller.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _bce_flat(x, t, w, weighted, eps, gscale, q, g):
    """BCE terms into ``q``, the gradient ``w (x - t) / max(x (1 - x), eps) gscale`` into ``g``; the count of
    entries outside the domain (x or t outside [0, 1] or NaN, a weight that is not finite)."""
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    floor = x.dtype.type(-100)
    inf = x.dtype.type(np.inf)
    log_into(x, q)  # log x, a loop of its own (see _vecmath: one inlined log per function)
    bad = 0
    for i in range(x.size):
        xi = x[i]
        ti = t[i]
        wi = w[i] if weighted else one
        bad += 0 if ((zero <= xi) & (xi <= one) & (zero <= ti) & (ti <= one) & (abs(wi) < inf)) else 1
        lx = q[i]
        lx = lx if lx > floor else floor
        u = one - xi
        l1 = vlog(u) + ((one - u) - xi) / u
        l1 = l1 if (xi < one) & (l1 > floor) else floor
        loss = (ti - one) * l1 - ti * lx
        d = (one - xi) * xi
        d = d if d > eps else eps
        q[i] = loss * wi if weighted else loss
        g[i] = ((xi - ti) / d * gscale) * wi if weighted else (xi - ti) / d * gscale
    return bad


@numba.njit(fastmath=CONTRACT, **JIT)
def bce_chunks(x, t, w, step, eps, gscale, out, g, lo, hi, partials):
    """Chunks ``lo:hi`` (``step`` elements each) of the binary cross-entropy; terms into ``out`` when sized, chunk
    sums (float64) into ``partials``; ``w`` is the weight tiled to ``step`` elements, or empty. Returns the count
    of entries outside the domain (see :func:`_bce_flat`), which the caller leaves to the definitions."""
    n = x.size
    keep = out.size > 0
    weighted = w.size > 0
    scratch = np.empty(0 if keep else min(step, n), x.dtype)
    bad = 0
    for c in range(lo, hi):
        a = c * step
        b = min(a + step, n)
        q = out[a:b] if keep else scratch[: b - a]
        bad += _bce_flat(x[a:b], t[a:b], w[: b - a], weighted, eps, gscale, q, g[a:b])
        partials[c] = row_sum(q)
    return bad


# --------------------------------------------------------------------------- Poisson NLL of rates
# :func:`poisson_chunks` without ``log_input`` works in x's dtype, as the definition does, with the vectorised
# ``log``; Stirling's term (``full``) is formed in float64 from the same ``log`` and added in x's dtype, as
# the log inputs' path adds it; every loop vectorises.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _poisson_rate_flat(x, t, eps, gscale, q, g):
    """``x - t log(x + eps)`` into ``q``, ``(1 - t / (x + eps)) gscale`` into ``g``, in x's dtype; 1 if some entry
    is outside the domain (x + eps not in (0, inf), NaN, a target that is negative or not finite), else 0. The
    domain is one boolean AND over the entries: an int64 count of 8 float32 lanes cost a fifth of the loop
    (16384 x 100 float32, one thread: 2.15 -> 1.71 ms)."""
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    inf = x.dtype.type(np.inf)
    ok = True
    for i in range(x.size):
        xi = x[i]
        ti = t[i]
        z = xi + eps
        ok &= (zero < z) & (z < inf) & (zero <= ti) & (ti < inf)
        q[i] = xi - ti * vlog(z)
        g[i] = (one - ti / z) * gscale
    return 0 if ok else 1


@numba.njit(fastmath=CONTRACT, **JIT)
def _stirling_add(t, q):
    """``q += t log t - t + log(2 pi t) / 2`` where t > 1, formed in float64 from ``log t`` in t's dtype (as the
    definition takes it; the float32 log is the cheaper one) and added in q's dtype."""
    one = t.dtype.type(1)
    for i in range(t.size):
        tr = t[i]
        big = tr > one
        lt = np.float64(vlog(tr if big else one))
        ti = np.float64(tr)  # (numba's float() keeps a float32 a float32)
        st = ti * lt - ti + 0.5 * (1.8378770664093453 + lt)  # log(2 pi) = 1.8378...
        q[i] += q.dtype.type(st if big else 0.0)


@numba.njit(fastmath=CONTRACT, **JIT)
def poisson_chunks(x, t, log_input, full, param, gscale, out, g, lo, hi, partials):
    """Chunks ``lo:hi`` of the Poisson NLL: of log inputs (``log_input``: ``e^x - t x``, gradient ``e^x - t``;
    ``param`` the largest x, see :func:`_poisson_log_flat`) or of rates (``x - t log(x + eps)``, gradient
    ``1 - t / (x + eps)``; ``param`` is eps), plus Stirling's ``t log t - t + log(2 pi t) / 2`` where t > 1
    (``full``; in float64, then in x's dtype, as the definition adds it: :func:`_stirling_add`); gradients
    times ``gscale`` into ``g``, the terms into ``out`` when sized, chunk sums into ``partials``. Returns a
    positive count where some entry is outside the kernel's domain (the caller then leaves the call to the
    definitions), else 0."""
    n = x.size
    keep = out.size > 0
    scratch = np.empty(0 if keep else min(CHUNK, n), x.dtype)
    bad = 0
    for c in range(lo, hi):
        a = c * CHUNK
        b = min(a + CHUNK, n)
        q = out[a:b] if keep else scratch[: b - a]
        if log_input:
            bad += _poisson_log_flat(x[a:b], t[a:b], param, gscale, q, g[a:b])
        else:
            bad += _poisson_rate_flat(x[a:b], t[a:b], param, gscale, q, g[a:b])
        if full:
            _stirling_add(t[a:b], q)
        partials[c] = row_sum(q)
    return bad


# --------------------------------------------------------------------------- KL divergence of probabilities
# ``kl_div_chunks`` with ``log_target=False`` reads ``log t`` from ``g``; ``kl_div_prob_chunks`` fills it a chunk
# at a time with the vectorised ``log`` (``log_into``: log 0 = -inf, which the kernel selects around; NaN for a
# negative probability, which it refuses), while the chunk is in cache, instead of a NumPy pass of its own.


@numba.njit(**JIT)
def kl_div_prob_chunks(x, t, gscale, big, out, g, lo, hi, partials):
    """:func:`kl_div_chunks` of probability targets for chunks ``lo:hi``, ``log t`` taken chunk by chunk."""
    n = x.size
    for c in range(lo, hi):
        a = c * CHUNK
        b = min(a + CHUNK, n)
        log_into(t[a:b], g[a:b])
        if not kl_div_chunks(x, t, False, gscale, big, out, g, c, c + 1, partials):
            return False
    return True


# --------------------------------------------------------------------------- adaptive softmax, a few rows


@numba.njit(fastmath=SUM, **JIT)
def _asm_dots(w, v, out):
    """``out[j] = sum_k w[j, k] v[k]`` in float64, for each row of ``w`` (a loop that only reads: its bits never
    depend on where ``out`` lies)."""
    for j in range(w.shape[0]):
        s = 0.0
        for k in range(w.shape[1]):
            s += float(w[j, k]) * v[k]
        out[j] = s


@numba.njit(**JIT)
def _asm_shift(v):
    """``v - max(v)`` in place, and ``log(sum(exp(v - max(v))))``: each log-softmax is then ``v - that``, from
    the shifted logits, as the NumPy pass takes it (equal logits give equal probabilities, to the last bit).
    NaN where the maximum is not finite or an entry is NaN."""
    m = -math.inf
    for j in range(v.size):
        if v[j] > m:
            m = v[j]
    s = 0.0
    for j in range(v.size):
        v[j] -= m
        s += math.exp(v[j])
    return math.log(s)


@numba.njit(**JIT)
def _asm_finite(a):
    """Whether every entry of the C-contiguous ``a`` is finite: ``v - v`` is 0 for a finite ``v``, NaN for an
    infinite or NaN one (a loop without a branch, which LLVM vectorises: 15x the early-exit loop's speed)."""
    flat = a.reshape(a.size)
    ok = True
    for i in range(flat.size):
        ok &= (flat[i] - flat[i]) == 0
    return ok


@numba.njit(fastmath=CONTRACT, **JIT)
def asm_small(x, t, hw, hb, w1s, w2s, cutoffs, offsets, u):
    """The adaptive softmax on a few rows, row by row: ``(finite, out, dx, dhw, dhb, dtail)``.

    ``x`` (N, D), ``t`` (N,) int64 in [0, cutoffs[-1]), ``hw`` (H, D), ``hb`` (H,) or empty for no bias,
    ``w1s[i]`` (h_i, D) and ``w2s[i]`` (size_i, h_i) cluster ``i``'s projections, ``cutoffs`` ending with the
    class count, ``offsets`` where each cluster's dW1 and dW2 start in the flat ``dtail`` (and its size last),
    ``u`` (N,) d/d out per row, or empty for the values alone. Each softmax is a log-sum-exp on float64 logits;
    each log-softmax is the shifted logits less their log-sum-exp (as the NumPy pass), and
    the gradients of the logits, ``u (onehot - softmax)``, go back through the linear maps as in
    :func:`losslab.functional.adaptive_log_softmax_with_loss_backward`. ``finite`` is False where a value or a
    gradient is not finite (the caller then takes the exact pass).
    """
    n, d = x.shape
    heads = hw.shape[0]
    shortlist = cutoffs[0]
    grad = u.size > 0
    bias = hb.size > 0
    out = np.empty(n, x.dtype)
    dx = np.zeros((n if grad else 0, d), x.dtype)
    dhw = np.zeros((heads if grad else 0, d), x.dtype)
    dhb = np.zeros(heads if grad and bias else 0, x.dtype)
    dtail = np.zeros(offsets[-1] if grad else 0, x.dtype)
    head = np.empty(heads, np.float64)
    xr = np.empty(d, np.float64)
    dxr = np.zeros(d, np.float64)
    for r in range(n):
        for k in range(d):
            xr[k] = x[r, k]
        _asm_dots(hw, xr, head)
        if bias:
            for j in range(heads):
                head[j] += hb[j]
        lse = _asm_shift(head)
        ti = t[r]
        cl = 0  # 0: the shortlist; i >= 1: cluster i, classes cutoffs[i - 1]:cutoffs[i]
        while cl < cutoffs.size - 1 and ti >= cutoffs[cl]:
            cl += 1
        gather = ti if cl == 0 else shortlist + cl - 1
        o = head[gather] - lse
        ur = 0.0
        if grad:
            ur = float(u[r])
            for k in range(d):
                dxr[k] = 0.0
            for j in range(heads):
                dh = -math.exp(head[j] - lse) * ur
                if j == gather:
                    dh += ur
                if bias:
                    dhb[j] += dh
                for k in range(d):
                    dhw[j, k] += dh * xr[k]
                    dxr[k] += dh * hw[j, k]
        if cl > 0:
            w1 = w1s[cl - 1]
            w2 = w2s[cl - 1]
            hs, size = w1.shape[0], w2.shape[0]
            hv = np.empty(hs, np.float64)
            ov = np.empty(size, np.float64)
            _asm_dots(w1, xr, hv)
            _asm_dots(w2, hv, ov)
            lse2 = _asm_shift(ov)
            rel = ti - cutoffs[cl - 1]
            o += ov[rel] - lse2
            if grad:
                g1 = dtail[offsets[2 * cl - 2] : offsets[2 * cl - 1]].reshape((hs, d))
                g2 = dtail[offsets[2 * cl - 1] : offsets[2 * cl]].reshape((size, hs))
                dhv = np.zeros(hs, np.float64)
                for c in range(size):
                    dc = -math.exp(ov[c] - lse2) * ur
                    if c == rel:
                        dc += ur
                    for k in range(hs):
                        g2[c, k] += dc * hv[k]
                        dhv[k] += dc * w2[c, k]
                for k in range(hs):
                    for q in range(d):
                        g1[k, q] += dhv[k] * xr[q]
                        dxr[q] += dhv[k] * w1[k, q]
        out[r] = o
        if grad:
            for k in range(d):
                dx[r, k] = dxr[k]
    finite = _asm_finite(out) and _asm_finite(dx) and _asm_finite(dhw) and _asm_finite(dhb) and _asm_finite(dtail)
    return finite, out, dx, dhw, dhb, dtail


# --------------------------------------------------------------------------- row sums of the cosine embedding


@numba.njit(fastmath=SUM, **JIT)
def _row_sums3(u, v):
    """``(sum u u, sum v v, sum u v)`` in the rows' dtype, reassociated so that the loop vectorises."""
    saa = u.dtype.type(0)
    sbb = u.dtype.type(0)
    sab = u.dtype.type(0)
    for j in range(u.size):
        saa += u[j] * u[j]
        sbb += v[j] * v[j]
        sab += u[j] * v[j]
    return saa, sbb, sab


# --------------------------------------------------------------------------- NumPy's pairwise sums of a row
# ``np.sum`` over a contiguous row adds in a fixed order: fewer than 8 terms one by one from 0; up to 128 in
# 8 running sums (entry i into sum i mod 8), combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)),
# then the last n mod 8 terms one by one; a longer row as the pairwise sums of its two halves (the first
# half's length a multiple of 8). The same order in the same dtype gives the same bits, so a kernel's
# branches (a margin's kink) fall where the definition's fall.


@numba.njit(**JIT)
def _pairwise_sums3(a, b, acc):
    """``(sum a a, sum b b, sum a b)`` of two rows, each in NumPy's pairwise order (of the products rounded
    to the dtype, as ``np.sum(a * b)`` takes them); ``acc`` is scratch of 24 entries of the rows' dtype."""
    n = a.size
    if n > 128:
        half = n // 2
        half -= half % 8
        p0, p1, p2 = _pairwise_sums3(a[:half], b[:half], acc)
        q0, q1, q2 = _pairwise_sums3(a[half:], b[half:], acc)
        return p0 + q0, p1 + q1, p2 + q2
    return _pairwise_leaf3(a, b, acc)


@numba.njit(**JIT)
def _pairwise_leaf3(u, v, acc):
    """:func:`_pairwise_sums3` of rows of at most 128 entries. The 8 running sums of each kind are ``acc``'s
    entries (24 of them)."""
    n = u.size
    zero = u.dtype.type(0)
    if n < 8:
        saa = zero
        sbb = zero
        sab = zero
        for i in range(n):
            saa += u[i] * u[i]
            sbb += v[i] * v[i]
            sab += u[i] * v[i]
        return saa, sbb, sab
    for k in range(8):
        acc[k] = u[k] * u[k]
        acc[8 + k] = v[k] * v[k]
        acc[16 + k] = u[k] * v[k]
    full = n - n % 8
    for i in range(8, full, 8):
        for k in range(8):
            acc[k] += u[i + k] * u[i + k]
            acc[8 + k] += v[i + k] * v[i + k]
            acc[16 + k] += u[i + k] * v[i + k]
    saa = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    sbb = ((acc[8] + acc[9]) + (acc[10] + acc[11])) + ((acc[12] + acc[13]) + (acc[14] + acc[15]))
    sab = ((acc[16] + acc[17]) + (acc[18] + acc[19])) + ((acc[20] + acc[21]) + (acc[22] + acc[23]))
    for i in range(full, n):
        saa += u[i] * u[i]
        sbb += v[i] * v[i]
        sab += u[i] * v[i]
    return saa, sbb, sab


# --------------------------------------------------------------------------- Charbonnier, float32 in float32
# For ``|d| <= 1e18`` and eps in [1e-15, 1e18], ``d^2 + eps^2`` neither overflows nor loses ``d^2`` to underflow
# in float32 (eps^2 >= 1e-30 outweighs d^2's subnormal error), so ``sqrt(d^2 + eps^2)`` in float32 is within
# about 1 ulp of ``hypot(d, eps)``, as the definition takes it in float32. A chunk with some larger ``|d|``
# (or an infinite one) is done again by :func:`_charbonnier_chunk32`, in float64.


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _charbonnier_flat32(x, t, g, q, gscale, e2):
    """``sqrt(d^2 + e2)`` into ``q``, ``d / sqrt(d^2 + e2) gscale`` into ``g`` (d = x - t, float32); the count of
    entries with ``|d| > 1e18`` (their values are not to be used)."""
    big = np.float32(1e18)
    bad = 0
    for i in range(x.size):
        d = x[i] - t[i]
        h = np.sqrt(d * d + e2)
        bad += 1 if abs(d) > big else 0
        q[i] = h
        g[i] = d / h * gscale
    return bad


# --------------------------------------------------------------------------- Gaussian NLL, float32 variances
# A float32 variance clamped at a float32 eps is a float32 number: its log is taken in float32 (within 1 ulp,
# as the definition takes it), a loop of 16 lanes with a short series, where the float64 log is a loop of 8
# with a long one; the rest stays in float64 as :func:`_gaussian_row` has it.


@numba.njit(fastmath=CONTRACT, **JIT)  # (not inlined in numba IR: _gaussian_row inlines the log already)
def _gaussian_hetero32(x, t, var, eps, gscale, constant, gx, gv, q):
    """:func:`_gaussian_row` of float32 entries, one variance per entry, in float32 (the terms widened into
    ``q``); the count of entries outside the domain (here also ``|d| > 1e15`` or ``|d| / v > 1e18``, where
    float32 squares could overflow)."""
    e = np.float32(eps)
    half = np.float32(0.5)
    gs = np.float32(gscale)
    off = 0
    for j in range(x.size):
        raw = var[j]
        v = raw if raw > e else e
        d = x[j] - t[j]
        inv = np.float32(1.0) / v
        z = d * inv
        ok = (abs(d) <= np.float32(1e15)) & (abs(z) <= np.float32(1e18)) & (raw >= np.float32(0.0))
        off += 0 if (ok & (np.float32(0.0) < v) & (v < np.float32(np.inf))) else 1
        q[j] = np.float64(half * (vlog(v) + d * z)) + constant
        gx[j] = z * gs
        gv[j] = half * (inv - z * z) * gs
    return off


# --------------------------------------------------------------------------- linear cross-entropy, a few rows


@numba.njit(fastmath=SUM, **JIT)
def _lce_logits(w, b, xr, z):
    """``z[c] = sum_k w[c, k] xr[k] (+ b[c])`` in float64 (a loop that only reads ``w``)."""
    bias = b.size > 0
    for c in range(w.shape[0]):
        s = 0.0
        for k in range(w.shape[1]):
            s += float(w[c, k]) * xr[k]
        z[c] = s + float(b[c]) if bias else s


@numba.njit(fastmath=CONTRACT, **JIT)
def _lce_back(w, dz, xr, acc, r, first, dx, dw, db):
    """Row ``r``'s share of the gradients from its logits' gradient ``dz`` (C,): ``dx[r] = dz W`` (summed in
    ``acc`` (D,), float64), and ``dz x_r^T`` written into ``dW`` (and ``dz`` into ``db``) where ``first``, else
    added. Returns whether ``dx[r]`` is finite."""
    c, d = w.shape
    for k in range(d):
        acc[k] = 0.0
    for j in range(c):
        dzj = dz[j]
        for k in range(d):
            acc[k] += dzj * w[j, k]
    ok = True
    for k in range(d):
        ok &= math.isfinite(acc[k])
        dx[r, k] = acc[k]
    for j in range(c):
        dzj = dz[j]
        if first:
            for k in range(d):
                dw[j, k] = dzj * xr[k]
        else:
            for k in range(d):
                dw[j, k] += dzj * xr[k]
    if db.size > 0:
        if first:
            for j in range(c):
                db[j] = dz[j]
        else:
            for j in range(c):
                db[j] += dz[j]
    return ok


@numba.njit(**JIT)
def _lce_declined(x):
    """:func:`lce_small`'s answer where it declines the call."""
    dt = x.dtype
    return False, 0.0, 0.0, np.empty(0), np.empty((0, 0), dt), np.empty((0, 0), dt), np.empty(0, dt)


@numba.njit(fastmath=CONTRACT, **JIT)
def lce_small(x, w, b, t, cw, ignore_index, label_smoothing, mean, g, grad, fmax):
    """The linear cross-entropy of a few rows, row by row, without the (N, C) logits.

    Returns ``(ok, total, denominator, rowloss, dx, dw, db)``. ``x`` (N, D), ``w`` (C, D), ``b`` (C,) or empty
    for no bias, ``t`` (N,) int64, ``cw`` (C,) class weights or empty, ``mean``: the gradients are those of the
    mean (times ``1 / denominator``), ``g`` (N,) float64 the upstream gradient per row or empty (1 each),
    ``grad``: compute the gradients (the loss is the same either way). Each row's logits are float64 dot
    products; its loss and logits' gradient ``g ((sum_k a_k) softmax - a)`` are those of
    :func:`losslab.functional.projection._index_rows`; the linear map carries the gradient back (``dx = dz W``,
    ``dW = dz^T x``, ``db = sum dz``). ``total`` is the left-to-right sum of the float64 row losses,
    ``denominator`` the sum of the kept rows' class weights (1 each). ``ok`` is False for a label out of range,
    a zero denominator (every label ignored), wherever a logit, a loss or a gradient is not finite, and for a
    row's loss beyond ``fmax`` (the dtype's largest): the caller then takes the checked pass.
    """
    n, d = x.shape
    c = w.shape[0]
    weighted = cw.size > 0
    per_row = g.size > 0
    ls = label_smoothing
    wsum = 0.0
    if weighted:
        for j in range(c):
            wsum += float(cw[j])
    else:
        wsum = float(c)
    den = 0.0
    for r in range(n):
        tr = t[r]
        if tr == ignore_index:
            continue
        if tr < 0 or tr >= c:
            return _lce_declined(x)
        den += float(cw[tr]) if weighted else 1.0
    if den == 0.0 or not math.isfinite(den):
        return _lce_declined(x)
    scale = 1.0 / den if mean else 1.0
    rowloss = np.empty(n, np.float64)
    dx = np.empty((n if grad else 0, d), x.dtype)
    dw = np.empty((c if grad else 0, d), x.dtype)
    db = np.empty(c if grad and b.size > 0 else 0, x.dtype)
    first = True  # the first kept row writes dW and db, the others add to them
    xr = np.empty(d, np.float64)
    z = np.empty(c, np.float64)
    dxr = np.empty(d, np.float64)
    total = 0.0
    bound = 0.0  # sum over rows of max |dz| max(1, |x|): bounds every |dW| and |db| (no check of each needed)
    for r in range(n):
        tr = t[r]
        if tr == ignore_index:
            rowloss[r] = 0.0
            if grad:
                for k in range(d):
                    dx[r, k] = 0.0
            continue
        xmax = 1.0
        for k in range(d):
            xr[k] = x[r, k]
            xmax = max(xmax, abs(xr[k]))
        _lce_logits(w, b, xr, z)
        m = -math.inf
        for j in range(c):
            if not math.isfinite(z[j]):
                return _lce_declined(x)
            if z[j] > m:
                m = z[j]
        smooth = 0.0
        for j in range(c):
            z[j] -= m  # log-sum-exp on shifted logits: exp never overflows
            if ls > 0:
                smooth += z[j] * (float(cw[j]) if weighted else 1.0)
        picked = z[tr]
        s = 0.0
        for j in range(c):
            z[j] = math.exp(z[j])  # kept for the gradient
            s += z[j]
        lse = math.log(s)
        wt = float(cw[tr]) if weighted else 1.0
        loss = wt * (lse - picked)
        if ls > 0:
            loss = (1 - ls) * loss + (ls / c) * (wsum * lse - smooth)
        if not abs(loss) <= fmax:  # NaN too
            return _lce_declined(x)
        rowloss[r] = loss
        total += loss
        if not grad:
            continue
        gr = (float(g[r]) if per_row else 1.0) * scale
        a_total = ((1 - ls) * wt + (ls / c) * wsum) * gr / s
        spread = (ls / c) * gr
        for j in range(c):  # the logits' gradient, in place of the exponentials
            z[j] = a_total * z[j] - spread * (float(cw[j]) if weighted else 1.0)
        z[tr] -= (1 - ls) * wt * gr
        dzmax = 0.0
        for j in range(c):
            dzmax = max(dzmax, abs(z[j]))
        bound += dzmax * xmax
        if not _lce_back(w, z, xr, dxr, r, first, dx, dw, db):
            return _lce_declined(x)
        first = False
    if grad and not bound < fmax / 4 and not (_asm_finite(dw) and _asm_finite(db)):
        return _lce_declined(x)
    return True, total, den, rowloss, dx, dw, db


# ------------------------------------------------------------------ linear cross-entropy: the direct path's bounds

from ._vecmath import _i32_to_f32, _i64_to_f64  # noqa: E402


@numba.njit(**JIT)
def _abs_bits_max(a, mask):
    """The largest ``a_i & mask`` of the integer view ``a`` of floats (``mask`` clears the sign bit): the bits of
    the largest magnitude, as non-negative floats order as their bits do; 0 for an empty ``a``."""
    m = a.dtype.type(0)
    for i in range(a.size):
        v = a[i] & mask
        if v > m:
            m = v
    return m


@numba.njit(**JIT)
def lce_spans(x, w, b, t, mask, inf_bits):
    """``(finite, |x| max, |w| max, |b| max, min t, max t)`` of the linear cross-entropy's direct path in one
    call: ``x``, ``w``, ``b`` the 1-D integer views of its float arrays (``b`` empty without a bias), ``t`` the
    int64 labels (not empty), ``inf_bits`` the bits of inf. ``finite`` is False where an entry is inf or NaN
    (its bits at or past inf's); the magnitudes are then 0. Integer maxima vectorise: no NaN to order."""
    xm = _abs_bits_max(x, mask)
    wm = _abs_bits_max(w, mask)
    bm = _abs_bits_max(b, mask)
    lo = t[0]
    hi = t[0]
    for i in range(t.size):
        ti = t[i]
        lo = min(lo, ti)
        hi = max(hi, ti)
    finite = xm < inf_bits and wm < inf_bits and bm < inf_bits
    if not finite:
        return False, 0.0, 0.0, 0.0, lo, hi
    if x.itemsize == 4:
        xs = np.float64(_i32_to_f32(np.int32(xm)))
        ws = np.float64(_i32_to_f32(np.int32(wm)))
        bs = np.float64(_i32_to_f32(np.int32(bm)))
    else:
        xs = _i64_to_f64(np.int64(xm))
        ws = _i64_to_f64(np.int64(wm))
        bs = _i64_to_f64(np.int64(bm))
    return True, xs, ws, bs, lo, hi


@numba.njit(**JIT)
def weigh_rows(g, rowloss, row_w, scale, lo, hi):
    """Rows ``lo:hi`` of the plain cross-entropy's gradient ``g`` (R, C) times ``row_w * scale``, and its float64 row
    losses ``rowloss`` times ``row_w``: the class-weighted rows of labels that are all kept."""
    for i in range(lo, hi):
        gi = g[i]
        f = gi.dtype.type(np.float64(row_w[i]) * scale)
        for j in range(gi.size):
            gi[j] *= f
        rowloss[i] *= np.float64(row_w[i])


@numba.njit(**JIT)
def add_bias(z, b):
    """``z += b`` row by row, in place: ``z`` (R, C) C-contiguous, ``b`` (C,)."""
    for i in range(z.shape[0]):
        zi = z[i]
        for j in range(zi.size):
            zi[j] += b[j]


# --------------------------------------------------------------------------- rows by index: gather, scatter-add


@numba.njit(**JIT)
def take_rows(x, rows, out, lo, hi):
    """``out[j] = x[rows[j]]`` for ``j`` in ``lo:hi``: ``x`` (N, D) and ``out`` (M, D) C-contiguous, ``rows`` (M,)
    in [0, N)."""
    for j in range(lo, hi):
        src = x[rows[j]]
        dst = out[j]
        for k in range(src.size):
            dst[k] = src[k]


@numba.njit(**JIT)
def add_rows(a, rows, m, lo, hi):
    """``a[rows[j]] += m[j]`` for ``j`` in ``lo:hi``: ``a`` (N, D) and ``m`` (M, D) C-contiguous, ``rows`` (M,)
    distinct, in [0, N)."""
    for j in range(lo, hi):
        src = m[j]
        dst = a[rows[j]]
        for k in range(src.size):
            dst[k] += src[k]


# --------------------------------------------------------------------------- adaptive softmax: one softmax's columns


@numba.njit(fastmath=CONTRACT, **JIT)
def _asm_exp_cols(z, mx, s, lo, hi):
    """``z[k, lo:hi] = exp(z[k, lo:hi] - mx)`` for every class ``k``, their column sums added to ``s`` (hi - lo,)."""
    for k in range(z.shape[0]):
        zk = z[k, lo:hi]
        for j in range(zk.size):
            e = expneg(zk[j] - mx[j])
            zk[j] = e
            s[j] += e


@numba.njit(**JIT)
def asm_cols(z, rel, u, vals, lo, hi):
    """Columns ``lo:hi`` of one softmax of the adaptive softmax, its logits ``z`` (K, M) laid out classes first:
    ``vals[j]`` the log-softmax of column ``j`` at class ``rel[j]``, ``(z_rel - max) - log(sum exp(z - max))``;
    with ``u`` (M,) (empty: the values alone), ``z`` becomes the logits' gradient ``u (onehot - softmax)`` in
    place. A column holding an inf or a NaN gives NaN (the caller's finiteness check sends it to the limits).
    Inner loops run over contiguous slices of a class's row: they vectorise."""
    m = hi - lo
    mx = z[0, lo:hi].copy()
    for k in range(1, z.shape[0]):
        zk = z[k, lo:hi]
        for j in range(m):
            if zk[j] > mx[j]:
                mx[j] = zk[j]
    zt = np.empty(m, z.dtype)
    for j in range(m):
        zt[j] = z[rel[lo + j], lo + j] - mx[j]
    s = np.zeros(m, z.dtype)
    _asm_exp_cols(z, mx, s, lo, hi)
    for j in range(m):
        vals[lo + j] = zt[j] - np.log(s[j])
    if u.size == 0:
        return
    c = np.empty(m, z.dtype)
    for j in range(m):
        c[j] = -u[lo + j] / s[j]
    for k in range(z.shape[0]):
        zk = z[k, lo:hi]
        for j in range(m):
            zk[j] *= c[j]
    for j in range(m):
        z[rel[lo + j], lo + j] += u[lo + j]


# --------------------------------------------------------------------------- linear cross-entropy: the direct rows


@numba.njit(**JIT)
def lce_rows(z, b, t, ignore_index, scale, row_w, g, rowloss, db):
    """The linear cross-entropy's whole logits ``z`` (R, C) in one call, a block of rows at a time while it sits in
    L1: the bias ``b`` (C,) added in place (empty: none), :func:`ce_rows` (gradient into ``g``, float64 row losses
    into ``rowloss``), with ``row_w`` (R,) each row weighted as :func:`weigh_rows` does (the labels then all kept;
    empty: none), and with ``db`` (C,) (empty: none) the gradient's column sums added to it row by row. Returns the
    row losses' left-to-right float64 sum (:func:`seq_sum`'s)."""
    n, c = z.shape
    rows = max(1, _CE_BLOCK // c)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        if b.size:
            for i in range(r0, r1):
                zi = z[i]
                for j in range(c):
                    zi[j] += b[j]
        if row_w.size:
            ce_rows(z, t, -1, 1.0, g, rowloss, r0, r1)
            weigh_rows(g, rowloss, row_w, scale, r0, r1)
        else:
            ce_rows(z, t, ignore_index, scale, g, rowloss, r0, r1)
        if db.size:
            for i in range(r0, r1):
                gi = g[i]
                for j in range(c):
                    db[j] += gi[j]
    total = 0.0
    for i in range(n):
        total += rowloss[i]
    return total
