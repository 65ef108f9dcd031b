"""Fused loss kernels in plain NumPy: the path that always exists.

Same contract as the numba kernels in :mod:`losslab._fast._numba`: each call
fills the gradient for ``dout = 1`` (times ``scale``/``gscale``) and the losses
(per row or per chunk) for a range of rows or chunks, so the dispatcher can run
ranges on several threads (NumPy releases the GIL inside its loops). Every pass
works on a block small enough to stay in L2, in place (``out=``), so an array
crosses memory about once: read the inputs, write the gradient.
"""

from __future__ import annotations

import functools
import math

import numpy as np

CHUNK = 1 << 16  # fewest elements per chunk of the pointwise losses (see chunk)
_CHUNK_BYTES = 1 << 20  # most bytes of one array per chunk
_LOG2 = float(np.log(2.0))
_CE_BLOCK = 1 << 15  # elements per block of cross-entropy rows
_NARROW = 16  # below this many classes, row maxima go column by column


def ce_check(t: np.ndarray, num_classes: int, ignore_index: int) -> tuple[int, bool]:
    """``(number of labels that are not ignore_index, whether any is)``; ``(-1, _)`` for a label out of range."""
    lo, hi = int(t.min()), int(t.max())
    if lo >= 0 and hi < num_classes and not lo <= ignore_index <= hi:
        return t.size, False
    valid = t != ignore_index
    if np.any(valid & ((t < 0) | (t >= num_classes))):
        return -1, True
    count = int(np.count_nonzero(valid))
    return count, count < t.size


def ce_block_rows(num_classes: int) -> int:
    """Rows per block: the dispatcher splits work on multiples of this."""
    return max(1, _CE_BLOCK // num_classes)


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN or inf in, NaN or inf out: no warning
def ce_rows(x, t, ignore_index, scale, g, out, lo, hi, any_ignored):
    """Rows ``lo:hi``: ``g = scale (softmax(x) - onehot(t))`` and float64 row losses into ``out``.

    With ``m`` a row's maximum (at column ``k``) and ``rest`` the sum of
    ``exp(x - m)`` over the other columns, the loss is ``log1p(rest) - (x[t] - m)``:
    leaving out the 1 of column ``k`` keeps a tiny loss to full relative precision.
    ``exp(x - m)`` is kept in ``g`` and scaled by ``scale / (1 + rest)`` in place (no
    separate softmax array), row sums are a BLAS matrix-vector product, and for a
    few classes and many rows the row maximum is a loop over the columns (NumPy's
    reduction over a short last axis is slow). Ignored rows get a zero loss and gradient.
    """
    num_classes = x.shape[1]
    rows = ce_block_rows(num_classes)
    ones = np.ones(num_classes, x.dtype)
    for r0 in range(lo, hi, rows):
        r1 = min(r0 + rows, hi)
        xb, gb, tb = x[r0:r1], g[r0:r1], t[r0:r1]
        base = np.arange(r1 - r0) * num_classes
        if num_classes < _NARROW and r1 - r0 > 64:
            m = xb[:, 0].copy()
            k = np.zeros(r1 - r0, np.intp)
            above = np.empty(r1 - r0, bool)
            for j in range(1, num_classes):
                np.greater(xb[:, j], m, out=above)
                np.copyto(k, j, where=above)
                np.maximum(m, xb[:, j], out=m)  # NaN propagates
            k += base
        else:
            k = xb.argmax(axis=1)  # the first NaN, if any
            k += base
            m = xb.reshape(-1)[k]
        np.subtract(xb, m[:, np.newaxis], out=gb)
        np.exp(gb, out=gb)
        gflat = gb.reshape(-1)
        gflat[k] -= 1  # exp(0) = 1 (NaN stays NaN), added back below
        rest = gb @ ones
        valid = tb != ignore_index if any_ignored else None
        flat = base + (tb if valid is None else np.where(valid, tb, 0))
        lr = out[r0:r1]
        np.log1p(rest, out=lr)
        lr -= xb.reshape(-1)[flat] - m
        rest += 1
        np.divide(scale, rest, out=rest)
        gb *= rest[:, np.newaxis]
        gflat[k] = rest
        gflat[flat] -= scale
        if valid is not None:
            gb[~valid] = 0
            lr[~valid] = 0


# --------------------------------------------------------------------------- pointwise losses
# ``*_chunks(x, t, g, out, gscale, ..., lo, hi, partials)`` on flat contiguous arrays:
# for each chunk c in lo:hi, the gradient (times gscale) into g, the per-element loss
# into out (or scratch when out is empty), and the chunk's loss sum into partials[c].


@np.errstate(over="ignore")  # chunk sums adding up past the float64 range: inf, their true sum
def total(partials: np.ndarray) -> float:
    """The sum of the chunks' sums."""
    return float(partials.sum())


def chunk(dtype: np.dtype, n: int) -> int:
    """Elements per chunk of an ``n``-element pointwise loss in ``dtype``: a quarter of ``n`` rounded up to a
    power of two (three or four chunks, for two threads to share), at least :data:`CHUNK`, at most 1 MiB of
    each array.

    A pass makes one NumPy call per chunk, and on several threads each call ends by taking the GIL back: where
    the other thread holds it, that waits for a wake-up. Measured (1e6 float32 elements, 2 threads, without
    numba): chunks of 2**18 instead of 2**16 made HuberLoss 1.7x and L1Loss 1.4x faster, and on one thread
    5% and 12% faster. It depends on ``dtype`` and ``n`` alone, never on the threads, so
    the chunks' sums, and so the results, are the same bits on any number of threads.
    """
    return min(_CHUNK_BYTES // dtype.itemsize, max(CHUNK, 1 << max(0, (n - 1).bit_length() - 2)))


def _block(x) -> int:
    """Elements of one chunk's scratch arrays for ``x``."""
    return min(chunk(x.dtype, x.size), x.size)


def _chunks(x, out, lo, hi):
    """``(a, b, loss buffer)`` for each chunk in ``lo:hi``."""
    step = chunk(x.dtype, x.size)
    scratch = None if out.size else np.empty(_block(x), x.dtype)
    for c in range(lo, hi):
        a = c * step
        b = min(a + step, x.size)
        yield c, a, b, (out[a:b] if scratch is None else scratch[: b - a])


def _dots(x, out) -> bool:
    """Whether a pointwise kernel takes its chunk sums as BLAS dot products: for a reduced float32 call.

    A dot product reads its arrays once and writes nothing, where a product then a sum is two passes and a
    write. Measured (2**20 elements, one thread, without numba): float32 HuberLoss 0.95 -> 0.59 ms, MSELoss
    0.55 -> 0.33 ms. Not for float64: OpenBLAS runs a float64 dot product of more than 10,000 elements on
    threads of its own, which then compete with the dispatcher's (2.5x slower on two threads).
    """
    return x.dtype == np.float32 and not out.size


@np.errstate(invalid="ignore", over="ignore")
def mse_chunks(x, t, g, out, gscale, lo, hi, partials):
    """``d = x - t``; a reduced float32 call takes the chunk's sum of ``d**2`` as a dot product (see :func:`_dots`)."""
    dots = _dots(x, out)
    for c, a, b, q in _chunks(x, out, lo, hi):
        d = np.subtract(x[a:b], t[a:b], out=g[a:b])
        if dots:
            partials[c] = np.dot(d, d)
        else:
            np.multiply(d, d, out=q)
            partials[c] = q.sum()
        d *= gscale


@np.errstate(invalid="ignore", over="ignore")
def log_cosh_chunks(x, t, g, out, gscale, lo, hi, partials):
    """The definition's operations (the same bits), a chunk at a time while it sits in L2, d computed once."""
    near = np.empty(_block(x), x.dtype)
    ad = np.empty_like(near)
    small = np.empty(near.shape, bool)
    for c, a, b, q in _chunks(x, out, lo, hi):
        n = b - a
        d = np.subtract(x[a:b], t[a:b], out=g[a:b])
        u = np.abs(d, out=ad[:n])
        h = np.minimum(u, 1, out=near[:n])
        h /= 2
        np.sinh(h, out=h)
        np.multiply(h, 2 * h, out=h)
        np.log1p(h, out=h)
        np.negative(u, out=q)
        np.exp(q, out=q)
        q *= q
        np.log1p(q, out=q)
        np.add(u, q, out=q)
        q -= _LOG2
        np.less(u, 1, out=small[:n])
        np.copyto(q, h, where=small[:n])
        partials[c] = q.sum()
        np.tanh(d, out=d)
        d *= gscale


@np.errstate(invalid="ignore", over="ignore")
def charbonnier_chunks(x, t, g, out, gscale, eps, lo, hi, partials):
    """The definition's operations (hypot, then d / hypot; sign(d) at an infinite d), a chunk at a time."""
    for c, a, b, q in _chunks(x, out, lo, hi):
        d = np.subtract(x[a:b], t[a:b], out=g[a:b])
        far = np.isinf(d)
        np.hypot(np.where(far, 0, d), eps, out=q)
        slope = np.divide(d, q)
        np.copyto(slope, np.sign(d), where=far)
        np.copyto(q, np.abs(d), where=far)
        partials[c] = q.sum()
        np.multiply(slope, gscale, out=d)


@np.errstate(invalid="ignore", over="ignore")
def l1_chunks(x, t, g, out, gscale, lo, hi, partials):
    w = np.empty(_block(x), x.dtype)
    big = x.dtype.type(2.0 ** (np.finfo(x.dtype).maxexp - 1))
    for c, a, b, q in _chunks(x, out, lo, hi):
        d = np.subtract(x[a:b], t[a:b], out=g[a:b])
        np.abs(d, out=q)
        partials[c] = q.sum()
        wb = w[: b - a]  # sign(d) gscale = clip(d huge, -gscale, gscale):
        np.multiply(d, big, out=wb)  # twice by the largest power of two saturates any
        wb *= big  # nonzero d, even a subnormal; 0 and NaN stay;
        np.clip(wb, -gscale, gscale, out=d)  # np.sign is 3x slower


@np.errstate(invalid="ignore", over="ignore")
def huber_chunks(x, t, g, out, gscale, delta, lscale, lo, hi, partials):
    """Huber with ``delta`` (loss times ``lscale``): ``c (d - c / 2)`` with ``c = clip(d, -delta, delta)``, no masks.

    The signed ``c`` is also the gradient (before ``gscale``), so one clip serves both: seven passes a chunk,
    on three arrays of the chunk (the gradient, ``c`` and the loss), which stay in a core's L2 together. A
    reduced float32 call takes the chunk's sum as ``c . d - (c . c) / 2``, two dot products (see
    :func:`_dots`; ``c d >= c**2``, so the difference loses at most a bit): four passes instead of seven.
    """
    w = np.empty(_block(x), x.dtype)
    dots = _dots(x, out)
    for c, a, b, q in _chunks(x, out, lo, hi):
        d = np.subtract(x[a:b], t[a:b], out=g[a:b])
        wb = w[: b - a]
        np.clip(d, -delta, delta, out=wb)  # c (clip is faster than minimum; NaN stays)
        if dots:
            partials[c] = (float(np.dot(wb, d)) - 0.5 * float(np.dot(wb, wb))) * float(lscale)
        else:
            np.multiply(wb, -0.5, out=q)
            q += d  # d - c/2, of the sign of c
            q *= wb
            if lscale != 1:
                q *= lscale
            partials[c] = q.sum()
        np.multiply(wb, gscale, out=d)


@np.errstate(invalid="ignore", over="ignore")
def bce_logits_chunks(x, t, g, out, gscale, lo, hi, partials):
    """``(1 - t) x + max(-x, 0) + log1p(e)`` and ``(1 - t) - sigmoid(-x)``, with ``e = exp(-|x|)``.

    The gradient is ``sigmoid(x) - t`` for x < 0 (the same value, without the cancellation of ``1 - sigmoid``),
    chosen by a 0/1 mask, without ``np.copyto(where=)`` (slow). Maxima against an array of zeros: NumPy's
    maximum against a scalar is several times slower.
    """
    size = _block(x)
    e, w = np.empty(size, x.dtype), np.empty(size, x.dtype)
    zeros = np.zeros(size, x.dtype)
    for c, a, b, q in _chunks(x, out, lo, hi):
        xb, tb, gb, eb, wb, zb = x[a:b], t[a:b], g[a:b], e[: b - a], w[: b - a], zeros[: b - a]
        np.abs(xb, out=wb)
        np.negative(wb, out=eb)
        np.exp(eb, out=eb)  # e = exp(-|x|) <= 1
        np.subtract(1, tb, out=q)
        q *= xb  # (1 - t) x
        np.subtract(zb, xb, out=gb)
        np.maximum(gb, zb, out=gb)
        q += gb  # + max(-x, 0)
        np.log1p(eb, out=gb)
        q += gb  # + log1p(e)
        partials[c] = q.sum()
        np.add(eb, 1, out=gb)
        np.divide(eb, gb, out=eb)  # s = sigmoid(-|x|)
        # (1 - t) - s for x >= 0, s - t for x < 0 (the same value, without cancellation): m (1 - t - s) +
        # (1 - m) (s - t), m = [x >= 0], exact (one term is 0; NaN stays NaN)
        np.greater_equal(xb, 0, out=wb)
        np.subtract(1, tb, out=gb)
        gb -= eb
        gb *= wb  # m ((1 - t) - s)
        np.subtract(1, wb, out=wb)
        eb -= tb
        eb *= wb  # (1 - m) (s - t)
        gb += eb
        gb *= gscale


@np.errstate(invalid="ignore", over="ignore")
def soft_margin_chunks(x, t, g, out, gscale, lo, hi, partials):
    """``softplus(z)`` and ``-t sigmoid(z)`` with ``z = -t x`` and ``e = exp(-|z|)``; no masks (see
    :func:`bce_logits_chunks`)."""
    size = _block(x)
    e, w, z = np.empty(size, x.dtype), np.empty(size, x.dtype), np.empty(size, x.dtype)
    zeros = np.zeros(size, x.dtype)
    for c, a, b, q in _chunks(x, out, lo, hi):
        xb, tb, gb, eb, wb, zb, nb = x[a:b], t[a:b], g[a:b], e[: b - a], w[: b - a], z[: b - a], zeros[: b - a]
        np.multiply(tb, xb, out=zb)
        np.negative(zb, out=zb)  # z = -t x
        np.abs(zb, out=eb)
        np.negative(eb, out=eb)
        np.exp(eb, out=eb)  # e = exp(-|z|) <= 1
        np.maximum(zb, nb, out=q)
        np.log1p(eb, out=gb)
        q += gb  # softplus(z)
        partials[c] = q.sum()
        np.greater_equal(zb, 0, out=gb)
        np.maximum(eb, gb, out=wb)  # m = 1 where z >= 0, else e
        np.add(eb, 1, out=eb)
        np.divide(wb, eb, out=gb)  # sigmoid(z) = m / (1 + e)
        gb *= tb
        np.multiply(gb, -gscale, out=gb)  # -t sigmoid(z) gscale


# --------------------------------------------------------------------------- K-dimensional cross-entropy


_KDIM_BLOCK = 1 << 17  # elements per block of K-dim cross-entropy rows


def kdim_block_rows(row_size: int) -> int:
    """Rows ``n`` of an (N, C, S) array per block of :func:`ce_kdim_rows`.

    A block takes some 30 NumPy calls, several over a short last axis (each walks S at a time), so the block
    is larger than the 2-D rows' :data:`_CE_BLOCK`: measured without numba, (256, 100, 8) float64 on 2 threads
    went 1.19 -> 0.71 ms from blocks of 2**15 elements to 2**17, (16384, 100, 8) float32 70 -> 38 ms; on one
    thread 1.16 -> 0.95 and 71 -> 59 ms.
    """
    return max(1, _KDIM_BLOCK // row_size)


def _middle_max(x: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """``x.max(axis=1, keepdims=True)`` of an (N, C, S) array by halving C: ``maximum`` of two halves streams,
    where a reduction over a middle axis with a short last axis walks it 4-5x slower. Each halving writes
    a contiguous (N, h, S) array after the last one in the flat ``scratch`` (of ``x``'s size): no two
    overlap, so NumPy copies nothing."""
    n, c, s = x.shape
    if c == 1:
        return x.copy()
    flat = scratch.reshape(-1)
    start = 0
    m = x
    while c > 1:
        h = c // 2
        half = flat[start : start + n * h * s].reshape(n, h, s)
        np.maximum(m[:, :h], m[:, h : 2 * h], out=half)
        if c % 2:
            np.maximum(half[:, :1], m[:, 2 * h :], out=half[:, :1])
        start += n * h * s
        m, c = half, h
    return m.copy()


def _middle_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=1, dtype=float64)`` of an (N, C, S) array: ``einsum`` streams it, 3-4x faster."""
    return np.einsum("ncs->ns", x, dtype=np.float64)


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN or inf in, NaN or inf out: no warning
def ce_kdim_rows(x, t, q, w, wt, ignore_index, ls, wsum, scale, g, loss, lo, hi):
    """Rows ``lo:hi`` of the K-dimensional cross-entropy on ``x`` (N, C, S), the class axis kept as axis 1.

    The same terms as the numba kernel (``ce_kdim_blocks``): ``exp(x - m)`` is made in ``g`` and scaled
    there, so the only temporaries are a block's (N_b, S) statistics and, for probability targets, one
    block of ``a``. Sums over the class axis are :func:`_middle_sum`, the maximum :func:`_middle_max`: both
    stream the block, where ``sum(axis=1)`` / ``max(axis=1)`` over it are 3-5x slower. The target's entries
    are read and written through flat indices (``take_along_axis`` costs ~20 us of Python a call).
    """
    c, s = x.shape[1], x.shape[2]
    probs = q.shape[0] > 0
    share = ls / c
    one = 1.0 - ls
    rows = kdim_block_rows(c * s)
    dtype = x.dtype
    f64 = np.float64
    for r0 in range(lo, hi, rows):
        r1 = min(r0 + rows, hi)
        xb, gb, lb = x[r0:r1], g[r0:r1], loss[r0:r1]
        m = _middle_max(xb, gb)
        d = np.subtract(xb, m, out=gb)
        if probs:
            a = q[r0:r1] * dtype.type(one)
            a += dtype.type(share)
            if w is not None:
                a *= w[:, None]
            asum = _middle_sum(a)
            a *= d
            acc = -_middle_sum(a)
        elif ls > 0:
            acc = -_middle_sum(d if w is None else np.multiply(d, w[:, None]))
        if not probs:
            tb, wb = t[r0:r1], wt[r0:r1]
            valid = tb != ignore_index
            at = np.where(valid, tb, 0)
            at += np.arange(r1 - r0)[:, None] * c
            at *= s
            at += np.arange(s)  # the flat index of each position's target entry in the block
            flat = gb.reshape(-1)
            picked = flat[at].astype(f64)
        np.exp(d, out=gb)
        tot = _middle_sum(gb)
        lt = np.log(tot)
        if probs:
            np.multiply(asum, lt, out=lb)
            lb += acc
            r = asum * scale / tot
            gb *= r[:, None].astype(dtype)
            np.multiply(q[r0:r1], dtype.type(one), out=a)  # a again (it held a d)
            a += dtype.type(share)
            if w is not None:
                a *= w[:, None]
            a *= dtype.type(scale)
            gb -= a
            continue
        hit = one * wb.astype(f64)
        np.subtract(picked, lt, out=lb)
        lb *= -hit
        if ls > 0:
            lb += share * (acc + wsum * lt)
        lb[~valid] = 0
        r = (hit + share * wsum) * scale / tot
        gb *= r[:, None].astype(dtype)
        if ls > 0:
            gb -= (share * scale * (np.ones(c) if w is None else w.astype(f64))).astype(dtype)[:, None]
        flat[at] -= (hit * scale).astype(dtype)
        if not valid.all():
            np.copyto(gb, 0, where=~valid[:, None])


# --------------------------------------------------------------------------- embedding losses
# ``*_rows(..., lo, hi)`` on (N, D) contiguous rows: blocks ``lo:hi`` of :func:`embedding_block_rows`
# rows each (fixed boundaries, so the bits do not depend on the threads). The gradients are written
# straight into the caller's fresh arrays, which also serve as the scratch of each block; row sums
# are ``einsum('ij,ij->i')`` (one pass, no temporary).

_EMBED_BLOCK = 1 << 16  # elements per block of embedding rows (larger blocks: fewer NumPy calls)


def embedding_block_rows(dim: int) -> int:
    """Rows per block of the embedding kernels: the dispatcher splits work on multiples of this."""
    return max(1, _EMBED_BLOCK // max(dim, 1))


def _row_dot(u, w):
    return np.einsum("ij,ij->i", u, w)


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # a row that overflows is reported, not warned
def cosine_embedding_rows(x1, x2, positive, margin, eps, scale, loss, g1, g2, lo, hi):
    """Blocks ``lo:hi``: ``1 - c`` (positive) or ``max(0, c - margin)`` with ``c = x1.x2 / sqrt(A B)``,
    ``A = |x1|^2 + eps``, ``B = |x2|^2 + eps``, in the inputs' dtype as the definition; gradients times
    ``scale`` into ``g1``, ``g2``. Returns False where some ``A B`` or dot product is not finite (the
    definition then answers).

    The row sums are einsum's, not the definition's pairwise sums: a row of label -1 whose cosine lies within
    ``tie`` of the margin (twice the difference they can make) is summed again as the definition sums, so
    that the kink falls where the definition's falls (as numba's kernel does)."""
    n, dim = x1.shape
    rows = embedding_block_rows(dim)
    dtype = x1.dtype.type
    one, m, e = dtype(1), dtype(margin), dtype(eps)
    tie = dtype((4 * dim + 16) * np.finfo(x1.dtype).eps)
    for r0 in range(lo * rows, min(hi * rows, n), rows):
        r1 = min(r0 + rows, n)
        a, b, ga, gb, yb = x1[r0:r1], x2[r0:r1], g1[r0:r1], g2[r0:r1], positive[r0:r1]
        sq1 = _row_dot(a, a)
        sq1 += e
        sq2 = _row_dot(b, b)
        sq2 += e
        dot = _row_dot(a, b)
        denom = sq1 * sq2
        np.sqrt(denom, out=denom)
        if not (np.isfinite(denom).all() and np.isfinite(dot).all()):
            return False
        cos = np.divide(dot, denom, out=dot)
        near = np.flatnonzero(~yb & (np.abs(cos - m) <= tie))
        if near.size:  # near the kink: the definition's sums decide
            u, w = a[near], b[near]
            sq1[near] = np.sum(u * u, axis=-1) + e
            sq2[near] = np.sum(w * w, axis=-1) + e
            denom[near] = np.sqrt(sq1[near] * sq2[near])
            cos[near] = np.sum(u * w, axis=-1) / denom[near]
        active = cos - m
        dl = np.where(yb, -one, (active >= 0).astype(x1.dtype))  # d loss / d c
        dl *= dtype(scale)
        np.maximum(active, 0, out=active)
        loss[r0:r1] = np.where(yb, one - cos, active)
        k = np.divide(dl, denom, out=denom)[:, np.newaxis]  # dl / sqrt(A B)
        dl *= cos
        np.divide(dl, sq1, out=sq1)
        np.divide(dl, sq2, out=sq2)
        np.multiply(a, sq1[:, np.newaxis], out=gb)  # scratch: dl c x1 / A
        np.multiply(b, k, out=ga)
        ga -= gb
        np.multiply(b, sq2[:, np.newaxis], out=gb)
        np.subtract(np.multiply(a, k), gb, out=gb)
    return True


@np.errstate(invalid="ignore", over="ignore", divide="ignore")
def triplet_rows(a, p, n, margin, power, eps, swap, scale, limit, loss, ga, gp, gn, lo, hi):
    """Blocks ``lo:hi``: ``max(margin + d(a, p) - d_-, 0)`` with ``d(u, w) = ||u - w + eps||_p`` (p = 1 or 2)
    and ``d_- = min(d(a, n), d(p, n))`` with ``swap`` (a tie splits the gradient evenly); gradients times
    ``scale`` into ``ga``, ``gp``, ``gn``. Differences in the inputs' dtype, as the definition (float32
    squares summed in float64). Returns False where a distance is not finite, over ``limit`` or (p = 2) so
    small that its squares lose precision: the definition, which scales each norm by its largest entry,
    then answers."""
    num, dim = a.shape
    rows = embedding_block_rows(dim)
    dtype = a.dtype.type
    e = dtype(eps)
    tiny = float(np.finfo(a.dtype).tiny) / float(np.finfo(a.dtype).eps)  # below: squares near the subnormals
    scratch = np.empty((min(rows, num) if swap else 0, dim), a.dtype)  # the swap's third distance
    big = dtype(2.0 ** (np.finfo(a.dtype).maxexp - 1))
    # float32: the squares summed in float64 (as numba's kernel), so that z = m + d - d' keeps its digits
    wide = np.empty((min(rows, num), dim)) if power == 2 and a.dtype == np.float32 else None
    ones = np.ones(dim)

    def distance(u, w, out, free):
        np.subtract(u, w, out=out)
        out += e
        if power == 2:
            if wide is None:
                d = _row_dot(out, out)
            else:
                d = np.square(out, out=wide[: out.shape[0]]) @ ones
            ok = (d >= tiny).all() and (d <= limit * limit).all()
            return np.sqrt(d, out=d), ok
        d = np.abs(out, out=free).sum(axis=1)  # the definition's sum, to the bit: z = m + d - d' cancels
        return d, (d <= limit).all()

    def sign(u):  # sign(u) in place: twice by the largest power of two saturates, clip to +-1 (np.sign is slower)
        u *= big
        u *= big
        np.clip(u, -1, 1, out=u)

    for r0 in range(lo * rows, min(hi * rows, num), rows):
        r1 = min(r0 + rows, num)
        ab, pb, nb, gab, gpb, gnb = a[r0:r1], p[r0:r1], n[r0:r1], ga[r0:r1], gp[r0:r1], gn[r0:r1]
        d_ap, ok_ap = distance(ab, pb, gpb, gab)  # u_ap into gp, u_an into gn; ga is free until the end
        d_an, ok_an = distance(ab, nb, gnb, gab)
        if not (ok_ap and ok_an):
            return False
        if swap:
            upn = scratch[: r1 - r0]
            d_pn, ok_pn = distance(pb, nb, upn, gab)
            if not ok_pn:
                return False
            w = np.where(d_an < d_pn, dtype(1), np.where(d_an == d_pn, dtype(0.5), dtype(0)))
            d_neg = np.minimum(d_an, d_pn)
        else:
            d_neg = d_an
        z = margin + d_ap
        z -= d_neg
        if not np.isfinite(z).all():
            return False
        coef = (z >= 0).astype(a.dtype)  # 1 or 0: ``scale`` comes last, after the differences (as the definition)
        loss[r0:r1] = np.maximum(z, 0)
        if power == 2:  # d||u|| / du = u / ||u||
            k_ap, k_an = coef / d_ap, coef / d_an
            gpb *= k_ap[:, np.newaxis]
            gnb *= (k_an * w if swap else k_an)[:, np.newaxis]
        else:  # sign(u)
            sign(gpb)
            gpb *= coef[:, np.newaxis]
            sign(gnb)
            gnb *= (coef * w if swap else coef)[:, np.newaxis]
        np.subtract(gpb, gnb, out=gab)  # a: grad d(a, p) - w grad d(a, n)
        if swap:
            if power == 2:
                upn *= (coef * (1 - w) / d_pn)[:, np.newaxis]
            else:
                sign(upn)
                upn *= (coef * (1 - w))[:, np.newaxis]
            gpb += upn
            gnb += upn  # n: w grad d(a, n) + (1 - w) grad d(p, n)
        np.multiply(gpb, dtype(-scale), out=gpb)  # p: -grad d(a, p) - (1 - w) grad d(p, n)
        if scale != 1:
            gab *= dtype(scale)
            gnb *= dtype(scale)
    return True


@np.errstate(invalid="ignore", over="ignore", divide="ignore")
def triplet_cosine_rows(a, p, n, margin, eps, swap, scale, loss, ga, gp, gn, lo, hi):
    """Blocks ``lo:hi`` of the triplet loss with the cosine distance ``d(x, y) = 1 - x.y / (s_x s_y)``,
    ``s_x = max(||x||, eps)``: ``max(margin + d(a, p) - d_-, 0)`` (``d_-`` as :func:`triplet_rows`) and the
    gradients times ``scale``, with ``d d(x, y) / dx = c x / s_x^2 - y / (s_x s_y)``. Returns False where
    a norm is at most ``eps`` or not finite, or a product overflows (the definition then answers)."""
    num, dim = a.shape
    rows = embedding_block_rows(dim)
    dtype = a.dtype.type
    scratch = np.empty((min(rows, num), dim), a.dtype)
    for r0 in range(lo * rows, min(hi * rows, num), rows):
        r1 = min(r0 + rows, num)
        ab, pb, nb, gab, gpb, gnb = a[r0:r1], p[r0:r1], n[r0:r1], ga[r0:r1], gp[r0:r1], gn[r0:r1]
        tmp = scratch[: r1 - r0]
        sa, sp, sn = (np.sqrt(_row_dot(u, u)) for u in (ab, pb, nb))
        if not all(np.isfinite(s).all() and (s > eps).all() for s in (sa, sp, sn)):
            return False
        k_ap, k_an = 1 / (sa * sp), 1 / (sa * sn)
        c_ap, c_an = _row_dot(ab, pb) * k_ap, _row_dot(ab, nb) * k_an
        d_ap, d_an = 1 - c_ap, 1 - c_an
        if swap:
            k_pn = 1 / (sp * sn)
            c_pn = _row_dot(pb, nb) * k_pn
            d_pn = 1 - c_pn
            w = np.where(d_an < d_pn, dtype(1), np.where(d_an == d_pn, dtype(0.5), dtype(0)))
            d_neg = np.minimum(d_an, d_pn)
        else:
            w, d_neg = dtype(1), d_an
        z = margin + d_ap
        z -= d_neg
        if not (np.isfinite(z).all() and np.isfinite(c_ap).all() and np.isfinite(c_an).all()):
            return False
        g = (z >= 0).astype(a.dtype)  # 1 or 0: ``scale`` comes last, as in the definition
        loss[r0:r1] = np.maximum(z, 0)
        gw = g * w
        col = np.newaxis
        # a: g (c_ap - w c_an) a / s_a^2 - g p / (s_a s_p) + g w n / (s_a s_n)
        np.multiply(ab, ((g * c_ap - gw * c_an) / (sa * sa))[:, col], out=gab)
        gab -= np.multiply(pb, (g * k_ap)[:, col], out=tmp)
        gab += np.multiply(nb, (gw * k_an)[:, col], out=tmp)
        if swap:
            gv = g - gw  # g (1 - w)
            if not np.isfinite(c_pn).all():
                return False
            # p: g (c_ap - (1 - w) c_pn) p / s_p^2 - g a / (s_a s_p) + g (1 - w) n / (s_p s_n)
            np.multiply(pb, ((g * c_ap - gv * c_pn) / (sp * sp))[:, col], out=gpb)
            gpb -= np.multiply(ab, (g * k_ap)[:, col], out=tmp)
            gpb += np.multiply(nb, (gv * k_pn)[:, col], out=tmp)
            # n: -(w c_an + (1 - w) c_pn) g n / s_n^2 + g w a / (s_a s_n) + g (1 - w) p / (s_p s_n)
            np.multiply(nb, (-(gw * c_an + gv * c_pn) / (sn * sn))[:, col], out=gnb)
            gnb += np.multiply(ab, (gw * k_an)[:, col], out=tmp)
            gnb += np.multiply(pb, (gv * k_pn)[:, col], out=tmp)
        else:
            np.multiply(pb, (g * c_ap / (sp * sp))[:, col], out=gpb)
            gpb -= np.multiply(ab, (g * k_ap)[:, col], out=tmp)
            np.multiply(nb, (-g * c_an / (sn * sn))[:, col], out=gnb)
            gnb += np.multiply(ab, (g * k_an)[:, col], out=tmp)
        if scale != 1:
            for grad in (gab, gpb, gnb):
                grad *= dtype(scale)
    return True


# --------------------------------------------------------------------------- BCE-with-logits, weighted


@np.errstate(invalid="ignore", over="ignore")
def bce_logits_weighted_chunks(x, t, w, pw, g, out, gscale, lo, hi, partials):
    """Chunks ``lo:hi`` of whole rows (``w.size`` elements each: the weights' period), ``w`` and ``pw``
    (``pos_weight``) per column: loss ``((1 - t) x + lw softplus(-x)) w``, gradient
    ``((1 - t) - lw sigmoid(-x)) gscale w`` with ``lw = 1 + (pw - 1) t``; as :func:`bce_logits_chunks`,
    without masks, in place."""
    period = w.size
    step = max(1, chunk(x.dtype, x.size) // period) * period
    size = min(step, x.size)
    e, v, lw = np.empty(size, x.dtype), np.empty(size, x.dtype), np.empty(size, x.dtype)
    zeros = np.zeros(size, x.dtype)
    scratch = None if out.size else np.empty(size, x.dtype)
    pwm1 = pw - 1
    plain_pw = not pwm1.any()  # pos_weight 1: lw = 1
    unit_w = (w == 1).all()
    for c in range(lo, hi):
        a = c * step
        b = min(a + step, x.size)
        rows = (b - a) // period
        grid = (rows, period)
        xb, tb, gb = x[a:b].reshape(grid), t[a:b].reshape(grid), g[a:b].reshape(grid)
        q = (out[a:b] if scratch is None else scratch[: b - a]).reshape(grid)
        eb, vb, lb, zb = (buf[: b - a].reshape(grid) for buf in (e, v, lw, zeros))
        np.abs(xb, out=vb)
        np.negative(vb, out=eb)
        np.exp(eb, out=eb)  # e = exp(-|x|) <= 1
        np.subtract(zb, xb, out=gb)
        np.maximum(gb, zb, out=gb)
        np.log1p(eb, out=vb)
        gb += vb  # softplus(-x) = max(-x, 0) + log1p(e)
        if not plain_pw:
            np.multiply(pwm1, tb, out=lb)
            lb += 1  # lw
            gb *= lb
        np.subtract(1, tb, out=q)
        q *= xb  # (1 - t) x
        q += gb
        if not unit_w:
            q *= w
        partials[c] = q.sum()
        np.add(eb, 1, out=gb)
        np.divide(1, gb, out=gb)  # 1 / (1 + e)
        np.less(xb, 0, out=vb)
        np.maximum(eb, vb, out=eb)  # 1 where x < 0, else e (NaN stays NaN)
        gb *= eb  # sigmoid(-x)
        if not plain_pw:
            gb *= lb
        np.subtract(1, tb, out=eb)
        np.subtract(eb, gb, out=gb)
        gb *= gscale
        if not unit_w:
            gb *= w


# --------------------------------------------------------------------------- Poisson NLL


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # what is not finite is counted, not warned
def poisson_chunks(x, t, log_input, full, param, gscale, out, g, lo, hi, partials) -> int:
    """The NumPy twin of the numba ``poisson_chunks``, a chunk at a time: the definition's operations in x's
    dtype, ``e^x - t x`` and ``(e^x - t) gscale`` (``log_input``) or ``x - t log(x + eps)`` and
    ``(1 - t / (x + eps)) gscale`` (``param`` is eps; numba's largest x is not needed here: NumPy's exp holds
    everywhere), plus Stirling's term where t > 1 (``full``). Returns the count of chunks whose sum is not
    finite: there the definition treats an infinite e^x, or a 0 t against an infinite x, apart, so the caller
    leaves the call to it."""
    bad = 0
    w = np.empty(_block(x), x.dtype)
    for c, a, b, q in _chunks(x, out, lo, hi):
        xb, tb, gb, wb = x[a:b], t[a:b], g[a:b], w[: b - a]
        if log_input:
            np.exp(xb, out=gb)  # e^x
            np.multiply(tb, xb, out=wb)
            np.subtract(gb, wb, out=q)
            gb -= tb
        else:
            np.add(xb, param, out=gb)  # z = x + eps
            np.log(gb, out=wb)
            wb *= tb
            np.subtract(xb, wb, out=q)
            np.divide(tb, gb, out=gb)
            np.subtract(1, gb, out=gb)
        if full:
            big = tb > 1  # as the definition: where(t > 1, safe_t log safe_t - safe_t + ..., 0)
            safe = np.where(big, tb, 1).astype(x.dtype, copy=False)
            st = safe * np.log(safe) - safe + 0.5 * np.log(2 * math.pi * safe)
            q += np.where(big, st, 0).astype(x.dtype, copy=False)
        s = q.sum()
        if not math.isfinite(s):
            bad += 1
            continue
        partials[c] = s
        gb *= gscale
    return bad


# --------------------------------------------------------------------------- KL divergence


@np.errstate(invalid="ignore", over="ignore")  # 0 log 0 and overflows: selected away or refused, quietly
def kl_div_chunks(x, t, log_target, gscale, big, out, g, lo, hi, partials) -> bool:
    """The NumPy twin of the numba ``kl_div_chunks``: ``g`` comes in holding ``log t`` (or ``p = exp t``,
    ``log_target``) and leaves holding ``-p gscale``; the terms ``t log t - t x`` (or ``p (t - x)``), 0 where
    the probability is 0, go into ``out`` when sized (in x's dtype), chunk sums into ``partials``. A chunk at a
    time, in place. Returns False for a negative or NaN probability, a term or product that is not finite, or
    sums beyond ``big``, which the caller leaves to the definition."""
    w = np.empty(_block(x), x.dtype)
    zero = np.empty(w.shape, bool)
    for c, a, b, q in _chunks(x, out, lo, hi):
        xb, tb, fb, wb, zb = x[a:b], t[a:b], g[a:b], w[: b - a], zero[: b - a]
        if log_target:  # fb = p = exp(t)
            np.subtract(tb, xb, out=q)
            q *= fb
            np.equal(fb, 0, out=zb)
            np.copyto(q, 0, where=zb)  # p = 0 drops out, whatever t - x holds
            check = float(q.sum())
        else:  # fb = log t; a class of probability 0 drops out, even against an infinite x
            if not tb.min() >= 0:
                return False
            np.multiply(tb, fb, out=q)
            np.multiply(tb, xb, out=wb)
            check = float(wb.sum())  # not finite if an x is (at t = 0: 0 inf is NaN)
            q -= wb
            np.equal(tb, 0, out=zb)
            np.copyto(q, 0, where=zb)
        s = float(q.sum())
        if not (abs(s) <= big and abs(check) <= big):
            return False
        partials[c] = s
        np.multiply(fb if log_target else tb, -gscale, out=fb)
    return True


# --------------------------------------------------------------------------- CTC

CTC_BLOCK = 32  # sequences per block: blocks, not threads, split a call, so its bits never depend on the threads
CTC_SPAN = 500.0  # log-probabilities within this of each other share one shift: e^-span is a normal float64
CTC_TOTAL = 1e-12  # the largest miss of a frame's occupancy total from 1 that a block keeps (rounding: <= 1e-15)
_CTC_TINY = float(np.exp(-600.0))  # smaller probabilities go to the log-space definition, as numba's kernel
_CTC_DROP = 300.0  # rescale the alphas (and betas) before a bound on their decay since the last rescaling passes e^-300
_CTC_GROW = 200  # ... or after this many frames (each grows the scaled values at most 3-fold)
_CTC_TAPS = 512  # rows x states up to which one vecdot per frame beats four ufunc calls


def ctc_blocks(lp, tg, il, tl, blank: int, shift, log_weight, grad, loss, bounds, lo: int, hi: int) -> int:
    """Blocks ``lo:hi`` of :data:`CTC_BLOCK` sequences: each sequence's float64 loss into ``loss`` and its
    gradient (times ``exp(log_weight[n])``) into ``grad[:, n, :]``. ``tg`` holds the labels padded to
    (N, max(tl)), checked by the caller; ``shift`` is the largest log-probability where all lie within
    :data:`CTC_SPAN` of it (one shift serves every frame's softmax), else ``None``; ``bounds`` the smallest
    and largest input and target lengths of all N sequences. Returns the number of blocks left to the
    log-space definition (an input length 0, a probability under e^-600, an impossible target): the caller
    then runs the definition."""
    n = lp.shape[1]
    bad = 0
    for b in range(lo, hi):
        end = min((b + 1) * CTC_BLOCK, n)
        whole = bounds if end - b * CTC_BLOCK == n else None
        if not _ctc_block(lp, tg, il, tl, blank, shift, log_weight, grad, loss, whole, b * CTC_BLOCK, end):
            bad += 1
    return bad


@np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")
def _ctc_block(lp, tg, il, tl, blank: int, shift, log_weight, grad, loss, bounds, lo: int, hi: int) -> bool:
    """Sequences ``lo:hi`` in rescaled probability space, vectorised over the sequences; ``False`` to defer.

    The beta recursion is the alpha recursion of each sequence reversed in time and in states, so both
    run as one recursion over ``2 n`` rows: row ``n + i`` is row ``i`` read backwards (``[::-1]`` views).
    A shorter target's states end where the longest one's do (padding states first), so its reversed row
    starts at state 0; a shorter input's reversed row starts at frame ``T - T_i``. A row is 0 before its
    start and takes its first two states from a tap of 1 in the state before them (a leading zero state,
    or a padding state, at the frame before); padding states, and a reversed row before its start, emit 0.
    The values are rescaled to sum 1 as often as a bound on their decay (each frame multiplies the largest
    by at least the smallest probability, from a start of at least that probability) needs to keep them in
    float64's normal range. The occupancy ``w alpha_t(s) beta_t(s) / y_t(s) / p`` then sums into the class
    posterior gamma and its total (one matrix product with the one-hot labels and a column of ones), and
    the gradient is ``w y sum(gamma) - w gamma``.
    """
    ilb, tlb = il[lo:hi], tl[lo:hi]
    n = hi - lo
    if bounds is not None:  # the block holds every sequence
        t_min, t_run, short, length = bounds
    elif n == 1:
        t_run = t_min = int(ilb[0])
        length = short = int(tlb[0])
    else:
        t_run, t_min = int(ilb.max()), int(ilb.min())
        length, short = int(tlb.max()), int(tlb.min())
    if t_min <= 0:
        return False
    x = lp[:t_run, lo:hi]
    c = x.shape[2]
    if shift is None:  # a wide span: each frame shifted by its own maximum
        prob = np.subtract(x, x.max(axis=2, keepdims=True), dtype=np.float64)
    else:
        prob = np.subtract(x, shift, dtype=np.float64)
    np.exp(prob, out=prob)
    prob /= np.matmul(prob.reshape(-1, c), np.ones(c)).reshape(t_run, n, 1)  # the softmax of every frame used
    floor = float(prob.min())
    if floor < _CTC_TINY:
        return False
    every = max(1, min(_CTC_GROW, int(_CTC_DROP / max(-math.log(floor), 1.0))))
    width = 2 * length + 1
    same_t, same_s = t_min == t_run, short == length
    rows = np.arange(n)
    # extended labels (blank, l1, blank, ..., lL, blank), a shorter target's after padding blanks
    ext = np.full((n, width), blank, np.int64)
    valid = None  # the states of each target (n, S'), where they differ
    if same_s:
        ext[:, 1::2] = tg[lo:hi, :length]
    else:
        tgb = tg[lo:hi]
        pos = np.arange(length) + (tlb - length)[:, np.newaxis]  # the label at each odd state, < 0 on padding
        labels = np.take(tgb, (rows * tgb.shape[1])[:, np.newaxis] + pos)
        ext[:, 1::2] = np.where(pos >= 0, labels, blank)
        valid = np.arange(width) >= (width - 1 - 2 * tlb)[:, np.newaxis]
    live = None if same_t else np.arange(t_run)[:, np.newaxis] < ilb  # (T, n): the frames of each input
    taps_path = 2 * n * width <= _CTC_TAPS
    if taps_path:
        weights = np.empty((t_run, 2 * n, width, 3))  # the weights of the taps s - 2, s - 1, s (y skip, y, y)
        y = weights[..., 1]
    else:  # after two zero states, so that each frame is one flat row (see below)
        y_pad = np.zeros((t_run, 2 * n, width + 2))
        y = y_pad[:, :, 2:]
    # the emission of each state: (T, n, S'), one gather of whole frames
    index = (rows[:, np.newaxis] * c + ext).reshape(-1) if n > 1 else ext.reshape(-1)
    if valid is None and taps_path:  # y[:, :n] is (T, n S') rows of the weights: the gather writes them in place
        y_a = y[:, :n]
        np.take(prob.reshape(t_run, n * c), index, axis=1, out=y_a.reshape(t_run, n * width))
    else:  # (the padded rows do not reshape to (T, n S'): a reshape would write a copy)
        y_a = np.take(prob.reshape(t_run, n * c), index, axis=1).reshape(t_run, n, width)
        np.multiply(y_a, 1 if valid is None else valid, out=y[:, :n])
    if valid is None:
        y[:, n:] = y_a[::-1, :, ::-1]
    else:
        np.multiply(y_a[::-1, :, ::-1], valid[:, ::-1], out=y[:, n:])
    skip = np.zeros((2 * n, width), bool)  # s - 2 -> s onto a label that differs from the label before it (blanks
    # are the even states)
    ext2 = np.concatenate([ext, ext[:, ::-1]])
    np.not_equal(ext2[:, 2:], ext2[:, :-2], out=skip[:, 2:])
    skip[:, 1:2] = True  # state 1 from the first tap (zero but at a row's start)
    # frame 0 is the frame before the first: two leading zero states carry the taps s - 1, s - 2 of states 0, 1,
    # and the first states of each row come through the tap before them (1 up to the row's start)
    a = np.zeros((t_run + 1, 2 * n, width + 2))
    out = a[1:, :, 2:]
    if valid is None:
        a[0, : n if live is not None else None, 1] = 1
    else:
        a[0, rows, width - 2 * tlb] = 1
    if live is None:
        if valid is not None:
            a[0, n:, 1] = 1
    elif taps_path:  # the recursion keeps a row 0 up to its start, and writes no leading state
        a[t_run - ilb, rows + n, 1] = 1
    else:  # the flat rows write the leading states: 1 up to the start through their emission (below)
        a[:, n:, 1] = np.arange(t_run + 1)[:, np.newaxis] <= t_run - ilb
        y[:, n:] *= live[::-1, :, np.newaxis]  # and no emission before it
    logs = np.zeros((t_run, 2 * n))
    if taps_path:
        np.multiply(y, skip, out=weights[..., 0])
        weights[..., 2] = y
        # the taps s, s - 1, s - 2 by a negative stride: NumPy then sums each dot product in a loop of its own
        # instead of a BLAS call per state (2x faster at 8 rows, 21 states)
        step = a.strides[2]
        taps = np.ndarray((t_run + 1, 2 * n, width, 3), a.dtype, a, 2 * step, a.strides[:2] + (step, -step))
        weights = weights[..., ::-1]
        vecdot = np.vecdot
        for t0 in range(0, t_run, every):  # `every` frames, then a rescaling
            t1 = min(t0 + every, t_run)
            for tap, weight_t, out_t in zip(taps[t0:t1], weights[t0:t1], out[t0:t1], strict=True):
                vecdot(tap, weight_t, out_t)  # out by position: a keyword costs ~0.2 us a call
            if t1 - t0 == every:
                _ctc_rescale(out[t1 - 1], logs[t1 - 1], live is not None)
    else:  # each frame as one flat row: the zero emissions of the leading states keep them 0 (3x faster than 2-D)
        skip_pad = np.zeros_like(y_pad)
        np.multiply(y, skip, out=skip_pad[:, :, 2:])
        if live is not None:  # the tap before a reversed row's first state: 1 up to the row's start
            y_pad[:, n:, 1] = ~live[::-1]
        flat = a.reshape(t_run + 1, -1)
        y_flat, skip_flat = y_pad.reshape(t_run, -1)[:, 2:], skip_pad.reshape(t_run, -1)[:, 2:]
        cur = np.empty(flat.shape[1] - 2)
        for t in range(t_run):
            prev, now = flat[t], flat[t + 1, 2:]
            np.add(prev[2:], prev[1:-1], out=cur)
            cur *= y_flat[t]
            np.multiply(prev[:-2], skip_flat[t], out=now)
            now += cur
            if t % every == every - 1:
                _ctc_rescale(out[t], logs[t], live is not None)
    scale = np.add.accumulate(logs, axis=0)  # log of what each row's values were divided by, up to frame t
    # log p from the two end states (the last two of every row) at each sequence's last frame
    if same_t:
        end = out[t_run - 1, :n, width - 1] + (out[t_run - 1, :n, width - 2] if width > 1 else 0.0)
        ll = scale[t_run - 1, :n]
    else:
        last = ilb - 1
        end = out[last, rows, width - 1] + (out[last, rows, width - 2] if width > 1 else 0.0)
        ll = scale[last, rows]
    if not end.min() > 0:
        return False  # an impossible target (or an end below float64's range): the log-space definition
    ll = ll + np.log(end)
    expo = scale[:, :n] + scale[::-1, n:]  # beta in forward time and states: out[::-1, n:, ::-1]
    expo -= ll - log_weight[lo:hi]
    if live is not None:
        np.copyto(expo, -np.inf, where=~live)
    # the occupancy w alpha beta / y / p of each state, 0 past each input length and on the padding states
    occ = np.divide(out[::-1, n:, ::-1], y_a)  # beta / y first: alpha beta underflows where y is tiny
    occ *= out[:, :n]
    occ *= np.exp(expo)[:, :, np.newaxis]
    post = np.matmul(occ.transpose(1, 0, 2), _ctc_classes(c)[ext]).transpose(1, 0, 2)  # (T, n, C + 1)
    # each live frame's occupancies sum to the sequence's weight in exact arithmetic: where they do not, float64
    # lost states of a row that spans beyond its range (labels far below the blank): the log-space definition
    miss = np.abs(post[:, :, c] * np.exp(-log_weight[lo:hi]) - 1)
    if live is not None:
        miss *= live
    if not miss.max() <= CTC_TOTAL:
        return False
    prob *= post[:, :, c:]
    np.subtract(prob, post[:, :, :c], out=grad[:t_run, lo:hi])
    if t_run < grad.shape[0]:
        grad[t_run:, lo:hi] = 0
    loss[lo:hi] = -ll
    return True


@functools.lru_cache(maxsize=8)
def _ctc_classes(c: int) -> np.ndarray:
    """The one-hot rows of ``c`` classes, each with a last column of ones (read-only)."""
    table = np.eye(c, c + 1)
    table[:, c] = 1.0
    table.flags.writeable = False
    return table


def _ctc_rescale(values, logs, zeros: bool) -> None:
    """Rows of ``values`` divided by their sums, logs kept; with ``zeros``, a zero row (a reversed row before its
    start) is left as is."""
    total = values.sum(axis=1)
    if zeros:
        total += total == 0
    values /= total[:, np.newaxis]
    np.log(total, out=logs)


# --------------------------------------------------------------------------- multi-label margin

MULTILABEL_CHUNK = 8  # listed classes per pass: each pass holds (rows, chunk, C) hinges, O(N C) in all


@np.errstate(over="ignore")  # hinges of 1e308 add up to inf, their true sum (as the definitions)
def multilabel_margin_rows(x, t, scale, loss, g, lo: int, hi: int) -> int:
    """Rows ``lo:hi`` of the multi-label margin loss on finite scores ``x`` (N, C) with label lists ``t`` (labels
    in [-1, C), checked by the caller): float64 row losses into ``loss``, the gradient (times ``scale``) into ``g``.

    Each listed position ``k`` (a class listed twice counts twice, as in the definition) adds its hinges
    ``z = (1 - x_j) + x_i`` over the non-target classes ``i``; the positions go
    :data:`MULTILABEL_CHUNK` at a time, so memory stays O(rows x C). No masks: the target classes' scores are
    -inf and an unlisted position's is +inf, so their hinges are -inf (never NaN: every score is finite), never
    active, and ``max(z, 0)`` is the hinge. Returns 0 (every row is taken).
    """
    xb, tb = x[lo:hi], t[lo:hi]
    m, c = xb.shape
    dtype = xb.dtype
    size = m * c
    stop = np.empty((m, c + 1), bool)
    np.equal(tb, -1, out=stop[:, :c])
    stop[:, c] = True
    length = stop.argmax(axis=1)  # each row's first -1, or c
    k_max = int(length.max())
    # flat (row, class) of each listed position, laid out (position, row); unlisted: the extra slot size
    index_t = np.ascontiguousarray(tb[:, :k_max].T) + np.arange(0, size, c)
    np.copyto(index_t, size, where=np.arange(k_max)[:, np.newaxis] >= length)
    count = np.bincount(index_t.reshape(-1), minlength=size + 1)  # multiplicity of each class
    masked = xb.copy()
    np.copyto(masked, -math.inf, where=count[:size].reshape(m, c) > 0)
    # the hinges are laid out (position, class, row): the rows, the longest axis, run innermost (a short
    # class axis innermost makes every broadcast op 5-10x slower)
    xt = np.ascontiguousarray(masked.T)
    scores = np.empty(size + 1, dtype)
    scores[:size] = xb.reshape(-1)
    scores[size] = math.inf
    chunk = min(k_max, MULTILABEL_CHUNK)
    zeros = np.zeros((chunk, c, m), dtype)  # NumPy's maximum against an array: 2x faster than against 0
    active = np.empty((chunk, c, m), dtype)
    gt = np.zeros((c, m), dtype)  # the non-target counts, transposed
    hit = np.zeros(size + 1)
    total = np.zeros(m)
    for k0 in range(0, k_max, MULTILABEL_CHUNK):
        at = index_t[k0 : k0 + MULTILABEL_CHUNK]
        kk = at.shape[0]
        xj = scores[at][:, np.newaxis, :]
        z = np.subtract(1, xj) + xt
        tie = xj == xt
        if np.count_nonzero(tie):  # a listed class and a non-target one of equal scores: exactly 1, at any height
            np.copyto(z, dtype.type(1), where=tie)
        counts = active[:kk]
        np.greater(z, 0, out=counts, casting="unsafe")  # 0/1: float sums are faster than a bool sum(axis)
        np.maximum(z, zeros[:kk], out=z)
        total += z.reshape(-1, m).sum(axis=0, dtype=np.float64)
        gt += counts.sum(axis=0)  # non-target i: one per listed position whose hinge with it is active
        # listed position k: minus its count of active hinges, into its class
        hit += np.bincount(at.reshape(-1), weights=counts.sum(axis=1).reshape(-1), minlength=size + 1)
    gb = g[lo:hi]
    np.subtract(gt.T, hit[:size].reshape(m, c), out=gb, casting="unsafe")
    total /= c
    loss[lo:hi] = total
    gb *= dtype.type(scale / c)
    return 0


# --------------------------------------------------------------------------- multi-label soft margin


@np.errstate(over="ignore", invalid="ignore")  # an infinite score, target or weight: the caller refuses the row
def multilabel_soft_margin_rows(x, t, w, gscale, loss, g, lo: int, hi: int) -> int:
    """Rows ``lo:hi`` of ``(1/C) sum_c w_c [y softplus(-x) + (1 - y) softplus(x)]`` (the definition's
    ``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))``, softplus as ``max(x, 0) + log1p(exp(-|x|))``): float64 row
    losses into ``loss``, ``w (sigmoid(x) - y) gscale`` into ``g`` (``w`` None: ones; ``(1 - y) - sigmoid(-x)``
    for x >= 0). Returns 0."""
    xb, tb, gb = x[lo:hi], t[lo:hi], g[lo:hi]
    e = np.abs(xb)
    np.negative(e, out=e)
    np.exp(e, out=e)  # exp(-|x|) <= 1
    l1 = np.log1p(e)
    pos = np.maximum(xb, 0)
    pos += l1  # softplus(x)
    np.negative(xb, out=gb)
    np.maximum(gb, 0, out=gb)
    gb += l1  # softplus(-x)
    gb *= tb
    np.subtract(1, tb, out=l1)
    l1 *= pos
    gb += l1
    if w is not None:
        gb *= w
    total = gb.sum(axis=1, dtype=np.float64)
    total /= x.shape[1]
    loss[lo:hi] = total
    np.add(e, 1, out=l1)
    np.divide(1, l1, out=pos)
    e *= pos  # e / (1 + e): sigmoid(-|x|)
    np.subtract(e, tb, out=gb)  # sigmoid(x) - y for x < 0
    np.subtract(1, tb, out=pos)
    pos -= e  # (1 - y) - sigmoid(-x) for x >= 0: no cancellation near y = 1
    np.copyto(gb, pos, where=xb >= 0)
    gb *= gscale
    if w is not None:
        gb *= w
    return 0


# --------------------------------------------------------------------------- margin ranking, contrastive


@np.errstate(invalid="ignore", over="ignore")  # a hinge argument that is not finite is reported, not warned
def margin_ranking_chunks(x1, x2, y, margin, gscale, out, g1, g2, lo, hi, partials):
    """Chunks ``lo:hi`` of the margin ranking loss ``max(0, -y (x1 - x2) + m)``, in the inputs' dtype as the
    definition forms it (``y`` holds +-1 in that dtype): terms into ``out`` when it is sized, ``g2 = y gscale``
    and ``g1 = -g2`` where the hinge is active (``>= 0``), else 0; each chunk's float64 sum into ``partials``.
    Returns False where a hinge argument is not finite (the definition then answers)."""
    keep = out.size > 0
    n = x1.size
    step = chunk(x1.dtype, n)
    for c in range(lo, hi):
        s = slice(c * step, min(n, (c + 1) * step))
        z = np.subtract(x1[s], x2[s])
        z *= y[s]
        np.subtract(margin, z, out=z)  # -y d + m
        if not np.isfinite(z).all():
            return False
        active = z >= 0
        np.multiply(y[s], gscale * active, out=g2[s])
        np.negative(g2[s], out=g1[s])
        np.maximum(z, 0, out=z)
        partials[c] = z.sum(dtype=np.float64)
        if keep:
            out[s] = z
    return True


@np.errstate(invalid="ignore", over="ignore", divide="ignore")
def contrastive_rows(x1, x2, similar, margin, scale, loss, g1, g2, lo, hi):
    """Blocks ``lo:hi`` of the contrastive loss: ``d^2 / 2`` (similar) or ``max(0, m - d)^2 / 2`` with
    ``d = ||x1 - x2||_2`` (the differences and their squared sums in the inputs' dtype), and the gradients
    ``+-(x1 - x2)`` times ``1`` or ``-max(0, m - d) / d`` (0 at ``d = 0``), times ``scale``. Returns False
    where a squared distance is not finite (the definition then answers)."""
    n, dim = x1.shape
    rows = embedding_block_rows(dim)
    for r0 in range(lo * rows, min(hi * rows, n), rows):
        r1 = min(r0 + rows, n)
        diff = np.subtract(x1[r0:r1], x2[r0:r1], out=g1[r0:r1])
        sq = _row_dot(diff, diff).astype(np.float64)
        if not np.isfinite(sq).all():
            return False
        sim = similar[r0:r1]
        d = np.sqrt(sq)
        gap = np.maximum(margin - d, 0.0)
        loss[r0:r1] = np.where(sim, 0.5 * sq, 0.5 * gap * gap)
        coef = np.where(sim, 1.0, np.where(d > 0, -gap / np.where(d > 0, d, 1.0), 0.0))
        coef *= scale
        diff *= coef.astype(diff.dtype)[:, np.newaxis]
        np.negative(diff, out=g2[r0:r1])
    return True


# --------------------------------------------------------------------------- binary cross-entropy on probabilities


@np.errstate(divide="ignore", invalid="ignore")
def bce_chunks(x, t, w, step, eps, gscale, out, g, lo, hi, partials):
    """Chunks ``lo:hi`` (``step`` elements each) of the binary cross-entropy, the definition's operations in its
    dtype: ``(t - 1) max(log1p(-x), -100) - t max(log x, -100)`` (times the weight ``w`` tiled to ``step``
    elements, or empty) and ``(x - t) / max((1 - x) x, eps) gscale w``; terms into ``out`` when sized, chunk
    sums into ``partials``. Returns the number of chunks with an entry outside [0, 1] (or NaN), or a weight that
    is not finite, which the caller leaves to the definitions."""
    n = x.size
    m0 = min(step, n)
    u = np.empty(m0, x.dtype)
    scratch = np.empty(0 if out.size else m0, x.dtype)
    bad = 0
    for c in range(lo, hi):
        a = c * step
        b = min(a + step, n)
        m = b - a
        xb, tb, gb, ub = x[a:b], t[a:b], g[a:b], u[:m]
        wb = w[:m] if w.size else None
        q = out[a:b] if out.size else scratch[:m]
        ok = xb.min() >= 0 and xb.max() <= 1 and tb.min() >= 0 and tb.max() <= 1
        if not ok or (wb is not None and not np.isfinite(wb).all()):
            bad += 1
            continue
        np.log(xb, out=q)
        np.maximum(q, -100, out=q)  # log 0 = -inf: -100, as PyTorch
        q *= tb  # t log x
        np.negative(xb, out=ub)
        np.log1p(ub, out=ub)
        np.maximum(ub, -100, out=ub)
        np.subtract(tb, 1, out=gb)
        gb *= ub  # (t - 1) log(1 - x)
        np.subtract(gb, q, out=q)
        if wb is not None:
            q *= wb
        partials[c] = q.sum()
        np.subtract(1, xb, out=ub)
        ub *= xb
        np.maximum(ub, eps, out=ub)
        np.subtract(xb, tb, out=gb)
        gb /= ub
        gb *= gscale
        if wb is not None:
            gb *= wb
    return bad


# --------------------------------------------------------------------------- cross-entropy rows, dense
# (N, C) logits with class weights, label smoothing, ``ignore_index`` or class-probability targets, in blocks
# of whole rows. Where a block's logits lie in a range where ``exp`` neither overflows nor leaves the normal
# numbers (typical logits), ``exp(x)`` is taken without the shift by the row maximum: the row maximum over a
# short last axis and the subtraction cost more than the exp itself. Elsewhere the block is shifted. The
# unshifted ``log(sum exp(x)) - x[t]`` loses about ``eps |x|`` to the cancellation: float32 takes the log in
# float64 (exact enough for any safe x), float64 keeps its range small.

_DENSE_BLOCK = 1 << 16  # elements per block of ce_dense_rows: fixed, so the bits do not depend on the threads
_EXP_SAFE = {np.dtype(np.float32): (-80.0, 64.0), np.dtype(np.float64): (-24.0, 24.0)}


def ce_dense_block_rows(num_classes: int) -> int:
    """Rows per block of :func:`ce_dense_rows`: the dispatcher splits work on multiples of this."""
    return max(1, _DENSE_BLOCK // max(num_classes, 1))


@np.errstate(invalid="ignore", over="ignore", divide="ignore")  # NaN or inf in, NaN or inf out: no warning
def ce_dense_rows(x, t, valid, q, w, wt, ls, wsum, scale, g, loss, lo, hi) -> int:
    """Blocks ``lo:hi`` of the cross-entropy of (N, C) logits ``x``: float64 row losses into ``loss`` and the
    gradient for ``dout = 1`` (times ``scale``) into ``g``.

    Index targets: ``t`` the labels (0 where ignored), ``valid`` the rows not ignored (``None``: all),
    ``wt`` their weights ``w[t]`` (0 where ignored); with ``a = (1 - ls) wt onehot(t) + (ls / C) w``, the
    loss is ``sum(a) lse - sum(a x)`` and the gradient ``sum(a) softmax - a``. Probability targets: ``q``
    (N, C) and ``a = w (q (1 - ls) + ls / C)`` (``t`` is ``None``). ``w`` the class weights (``None``: ones),
    ``wsum`` their sum. Returns 0 (no row is left to the definitions: the caller checks finiteness).
    """
    n, c = x.shape
    rows = ce_dense_block_rows(c)
    dtype = x.dtype
    low, high = _EXP_SAFE[dtype]
    share = ls / c
    one = 1.0 - ls
    ones = np.ones(c, dtype)
    wv = ones if w is None else w
    shift_row = (share * scale * wv).astype(dtype)  # the smoothing part of a, times scale
    for r0 in range(lo * rows, min(hi * rows, n), rows):
        r1 = min(r0 + rows, n)
        xb, gb, lb = x[r0:r1], g[r0:r1], loss[r0:r1]
        if low <= xb.min() and xb.max() <= high:  # NaN fails both: shifted, and the caller sees the NaN
            src = xb
            m = None
        else:
            m = xb.max(axis=1)
            src = np.subtract(xb, m[:, np.newaxis], out=gb)
        if q is not None:
            a = np.multiply(q[r0:r1], dtype.type(one))
            if ls > 0:
                a += dtype.type(share)
            if w is not None:
                a *= w
            asum = (a @ ones).astype(np.float64)
            acc = np.einsum("ij,ij->i", a, src).astype(np.float64)
        else:
            at = np.arange(r1 - r0) * c
            at += t[r0:r1]
            picked = src.reshape(-1)[at].astype(np.float64)
            hit = one * wt[r0:r1]
            asum = hit + share * wsum if ls > 0 else hit
            if ls > 0:
                acc = (src @ wv).astype(np.float64)
        np.exp(src, out=gb)
        tot = (gb @ ones).astype(np.float64)
        lt = np.log(tot)
        if q is not None:
            np.multiply(asum, lt, out=lb)
            lb -= acc
            gb *= (asum * scale / tot).astype(dtype)[:, np.newaxis]
            a *= dtype.type(scale)
            gb -= a
            continue
        np.subtract(lt, picked, out=lb)
        if ls == 0:
            _confident_rows(xb, t[r0:r1], lb)
        lb *= hit
        if ls > 0:
            lb += share * (wsum * lt - acc)
        gb *= (asum * scale / tot).astype(dtype)[:, np.newaxis]
        if ls > 0:
            gb -= shift_row
        gflat = gb.reshape(-1)
        gflat[at] -= (hit * scale).astype(dtype)
        if valid is not None:
            keep = valid[r0:r1]
            if not keep.all():
                lb[~keep] = 0
                gb[~keep] = 0
    return 0


_CONFIDENT = 0.5  # lse - x[t] below this: x[t] is the row's maximum, and the loss is recomputed with log1p


def _confident_rows(xb, tb, diff) -> None:
    """``diff = lse - x[t]`` of the rows under :data:`_CONFIDENT`, again as ``log1p`` of the other classes'
    ``exp(x - x[t])``: a tiny loss keeps its relative precision (the sum with the target's 1 swallows it)."""
    sel = np.flatnonzero(diff < _CONFIDENT)
    if sel.size == 0:
        return
    xs, ts = xb[sel], tb[sel]
    k = np.arange(sel.size)
    e = np.subtract(xs, xs[k, ts][:, np.newaxis])
    np.exp(e, out=e)
    e[k, ts] = 0
    diff[sel] = np.log1p(e.sum(axis=1, dtype=np.float64))
