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

from ._vecmath import (
    CONTRACT,
    JIT,
    SUM,
    exp_inplace,
    exp_shifted,
    expneg,
    log1p_inplace,
    row_max,
    row_sum,
    row_sum_below_one,
    softplus_parts,
)

# --------------------------------------------------------------------------- cross-entropy

_CE_BLOCK = 4096  # elements per block of narrow rows: the block of g stays in L1 between passes
_CE_WIDE = 64  # rows at least this wide are handled one at a time


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
    have passed :func:`ce_count`. A wide row makes four passes while it sits in L1:
    maximum, ``exp(x - max)`` into ``g``, sum, scale. Narrow rows go by blocks: shift
    each row by its maximum, exponentiate the contiguous block at once (vectorised
    even for a handful of classes), then sum and scale each row.
    """
    num_classes = x.shape[1]
    keep = out.size > 0
    rows = 1 if num_classes >= _CE_WIDE else _CE_BLOCK // num_classes
    block = min(rows, hi - lo)
    m = np.empty(block, x.dtype)
    rest = np.empty(block, np.float64)  # sum of exp(x - max) over a row is 1 + rest
    lp = np.empty(block, np.float64)  # log1p(rest)
    acc = 0.0
    for r0 in range(lo, hi, rows):
        r1 = min(r0 + rows, hi)
        if rows == 1:  # wide rows: one pass of exp(x - max) per row
            m[0] = row_max(x[r0])
            exp_shifted(x[r0], m[0], g[r0])
        else:  # narrow rows: shift row by row, exp the whole block
            for i in range(r0, r1):
                xi = x[i]
                gi = g[i]
                mi = row_max(xi)
                m[i - r0] = mi
                for j in range(num_classes):
                    gi[j] = xi[j] - mi
            exp_inplace(g[r0:r1].reshape(-1))
        for i in range(r0, r1):
            rest[i - r0] = row_sum_below_one(g[i])
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
    """loss = (1 - t) x + softplus(-x), grad = (1 - t) - sigmoid(-x), with e = exp(-|x|) <= 1."""
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    for i in range(x.size):
        xi = x[i]
        u = one - t[i]
        e = expneg(-abs(xi))
        lp, inv = softplus_parts(e)  # log(1 + e), 1 / (1 + e)
        sig_neg = inv if xi < zero else e * inv  # sigmoid(-x)
        q[i] = u * xi + ((-xi if xi < zero else zero) + lp)
        g[i] = (u - sig_neg) * gscale


@numba.njit(fastmath=CONTRACT, inline="always", **JIT)
def _bce_logits_weighted_rows(x, t, w, pw, g, q, gscale):
    """BCE-with-logits on whole rows of ``w.size`` elements, ``w`` and ``pw`` (``pos_weight``) per column:
    loss = ((1 - t) x + lw softplus(-x)) w, grad = ((1 - t) - lw sigmoid(-x)) w with lw = 1 + (pw - 1) t."""
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
            sig_neg = inv if xi < zero else e * inv
            q[i] = (u * xi + lw * ((-xi if xi < zero else zero) + lp)) * w[j]
            g[i] = (u - lw * sig_neg) * gscale * w[j]


CHUNK = 1 << 14  # elements per chunk: x, t, g (and q) of a chunk stay in L2


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


@numba.njit(fastmath=SUM, inline="always", **JIT)
def _pdist(u, v, eps, power):
    """``||u - v + eps||_p`` for p = 1 or 2, in float64."""
    acc = 0.0
    for j in range(u.size):
        d = float(u[j]) - float(v[j]) + eps
        acc += d * d if power == 2 else abs(d)
    return math.sqrt(acc) if power == 2 else acc


@numba.njit(fastmath=SUM, inline="always", **JIT)
def _add_pgrad(out, u, v, eps, power, dist, coef):
    """``out += coef * d||u - v + eps||_p / du`` (0 where the norm is 0)."""
    if dist == 0.0 or coef == 0.0:
        return
    for j in range(u.size):
        d = float(u[j]) - float(v[j]) + eps
        if power == 2:
            out[j] += coef * d / dist
        elif d != 0.0:
            out[j] += coef if d > 0 else -coef


@numba.njit(fastmath=SUM, **JIT)
def triplet_rows(a, p, n, margin, power, eps, swap, scale, limit, loss, ga, gp, gn, lo, hi):
    """Triplet margin rows ``lo:hi``: ``max(margin + d(a, p) - d_-, 0)`` and its gradients (times ``scale``);
    ``d_- = min(d(a, n), d(p, n))`` with ``swap`` (a tie splits the gradient evenly). A row with a distance
    over ``limit`` (where the inputs' own dtype overflows) gets a NaN loss: the caller leaves it to the
    definition, which takes the exact difference of such distances."""
    dim = a.shape[1]
    for r in range(lo, hi):
        d_ap = _pdist(a[r], p[r], eps, power)
        d_an = _pdist(a[r], n[r], eps, power)
        w_an = 1.0
        d_neg = d_an
        d_pn = 0.0
        if swap:
            d_pn = _pdist(p[r], n[r], eps, power)
        if d_ap > limit or d_an > limit or d_pn > limit:
            loss[r] = math.nan
            continue
        if swap:
            if d_pn < d_an:
                w_an, d_neg = 0.0, d_pn
            elif d_pn == d_an:
                w_an = 0.5
        z = (margin + d_ap) - d_neg
        for j in range(dim):
            ga[r, j] = 0
            gp[r, j] = 0
            gn[r, j] = 0
        if z >= 0:
            loss[r] = z
            row_a, row_p, row_n = ga[r], gp[r], gn[r]
            _add_pgrad(row_a, a[r], p[r], eps, power, d_ap, 1.0)
            _add_pgrad(row_p, a[r], p[r], eps, power, d_ap, -1.0)
            _add_pgrad(row_a, a[r], n[r], eps, power, d_an, -w_an)
            _add_pgrad(row_n, a[r], n[r], eps, power, d_an, w_an)
            if swap:
                _add_pgrad(row_p, p[r], n[r], eps, power, d_pn, -(1 - w_an))
                _add_pgrad(row_n, p[r], n[r], eps, power, d_pn, 1 - w_an)
            if scale != 1.0:
                for j in range(dim):
                    row_a[j] *= scale
                    row_p[j] *= scale
                    row_n[j] *= scale
        elif z < 0:
            loss[r] = 0.0
        else:  # NaN (a NaN entry, or distances beyond the float range): the caller leaves the row to the definition
            loss[r] = z


@numba.njit(**JIT)
def cosine_embedding_rows(x1, x2, y, margin, eps, scale, loss, g1, g2, lo, hi):
    """Cosine embedding rows ``lo:hi``: ``1 - c`` (y = 1) or ``max(0, c - margin)`` (y = -1) with
    ``c = x1.x2 / sqrt(A B)``, ``A = |x1|^2 + eps``, ``B = |x2|^2 + eps``, and the gradients times ``scale``.

    In the inputs' dtype, term for term as the definition (no fast-math), so kinks fall where its fall.
    Returns False if some ``A B`` or dot product is not finite (the definition then answers).
    """
    dim = x1.shape[1]
    zero = x1.dtype.type(0)
    one = x1.dtype.type(1)
    e = x1.dtype.type(eps)
    m = x1.dtype.type(margin)
    sc = x1.dtype.type(scale)
    for r in range(lo, hi):
        sq1 = zero
        sq2 = zero
        dot = zero
        for j in range(dim):
            sq1 += x1[r, j] * x1[r, j]
            sq2 += x2[r, j] * x2[r, j]
            dot += x1[r, j] * x2[r, j]
        sq1 += e
        sq2 += e
        denom = np.sqrt(sq1 * sq2)
        if not (np.isfinite(denom) and np.isfinite(dot)):
            return False
        cos = dot / denom
        if y[r] == 1:
            loss[r] = one - cos
            dl = -one * sc
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
    for u in range(lo, hi):
        n = u // blocks
        k0 = (u % blocks) * _KDIM_SPAN
        span = min(k0 + _KDIM_SPAN, s) - k0
        xn = x[n]
        gn = g[n]
        for k in range(span):
            m[k] = xn[0, k0 + k]
            tot[k] = 0.0
            acc[k] = 0.0
            asum[k] = 0.0
        for j in range(1, c):
            for k in range(span):
                v = xn[j, k0 + k]
                m[k] = v if v > m[k] else m[k]
        for j in range(c):
            wj = float(w[j]) if weighted else 1.0
            for k in range(span):
                d = xn[j, k0 + k] - m[k]
                e = expneg(d)
                gn[j, k0 + k] = e
                tot[k] += float(e)
                if probs:
                    a = wj * (float(q[n, j, k0 + k]) * one + share)
                    asum[k] += a
                    acc[k] -= a * float(d)
                elif ls > 0:
                    acc[k] -= wj * float(d)
        for k in range(span):
            lt = math.log(tot[k])
            if probs:
                value = acc[k] + asum[k] * lt
                r[k] = asum[k] * scale / tot[k]
            else:
                ti = t[n, k0 + k]
                if ti == ignore_index:
                    value = 0.0
                    r[k] = 0.0
                else:
                    hit = one * (float(w[ti]) if weighted else 1.0)
                    value = -hit * (float(xn[ti, k0 + k] - m[k]) - lt)
                    if ls > 0:
                        value += share * (acc[k] + wsum * lt)
                    r[k] = (hit + share * wsum) * scale / tot[k]
            if keep:
                loss[n, k0 + k] = value
            total += value
        for j in range(c):
            if probs:
                wj = (float(w[j]) if weighted else 1.0) * scale
                for k in range(span):
                    a = wj * (float(q[n, j, k0 + k]) * one + share)
                    gn[j, k0 + k] = float(gn[j, k0 + k]) * r[k] - a
            elif ls > 0:
                sj = share * (float(w[j]) if weighted else 1.0) * scale
                for k in range(span):
                    gn[j, k0 + k] = float(gn[j, k0 + k]) * r[k] - sj
            else:
                for k in range(span):
                    gn[j, k0 + k] = float(gn[j, k0 + k]) * r[k]
        if not probs:
            for k in range(span):
                ti = t[n, k0 + k]
                if ti == ignore_index:
                    for j in range(c):  # zero, not 0 * (a non-finite softmax)
                        gn[j, k0 + k] = 0
                else:
                    gn[ti, k0 + k] -= one * (float(w[ti]) if weighted else 1.0) * scale
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
    units = x.shape[0] * -(-x.shape[2] // _KDIM_SPAN)
    return den, ce_kdim_blocks(x, t, q, w, ignore_index, ls, wsum, scale, g, loss, 0, units)


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
