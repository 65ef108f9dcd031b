"""Losses of a linear output layer: cross-entropy of ``input @ linear_weight.T + linear_bias``, chunked.

``linear_cross_entropy`` is ``torch.nn.functional.linear_cross_entropy`` 2.13: the value is
``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``, but the logits are
computed a block of rows at a time (one BLAS product per block), so with
:class:`LinearCrossEntropyOptions` the ``(N, C)`` logits never exist whole: the loss of a
large-vocabulary language-model head. The gradients for ``input``, ``linear_weight`` and
``linear_bias`` are accumulated block by block in the same pass.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Literal, NamedTuple

import numpy as np

from .. import _fast
from .. import _validation as v
from . import _levels
from .classification import cross_entropy, cross_entropy_backward

__all__ = [
    "LinearCrossEntropyOptions",
    "linear_cross_entropy",
    "linear_cross_entropy_backward",
    "linear_cross_entropy_value_and_grad",
]

AccPolicy = Literal["accurate", "balanced", "compact", "auto"]
# the weight-gradient product of one block of rows is added to the (C, D) gradient this many bytes at a time
_BLOCK_BYTES = 16 * 2**20


@dataclasses.dataclass(frozen=True)
class LinearCrossEntropyOptions:
    """How :func:`linear_cross_entropy` chunks the batch: ``torch.nn.LinearCrossEntropyOptions``' fields.

    - ``batch_chunk_size``: rows per chunk (``None``: from ``chunking_method``, or one chunk).
    - ``chunking_method``: ``"auto"`` (= ``"aspect_ratio:2"``, PyTorch's pick for float32/float64),
      ``"aspect_ratio"`` or ``"aspect_ratio:N"`` (chunks of
      ``next_pow2(ceil(N_rows / ceil(C / D))) // N`` rows, so a chunk's logits take about
      ``1/N`` of the input's memory; :func:`linear_cross_entropy` makes a method's chunks hold 1 MiB of
      logits at least, as many rows as fit), or ``None`` (use ``batch_chunk_size``). Giving both a
      ``batch_chunk_size`` and a method that disagree raises ``ValueError``, as in PyTorch.
    - ``acc_dtype``: the dtype of the softmax statistics (``None``: the input's; ``np.float64``
      with float32 inputs computes each chunk's softmax in float64).
    - ``acc_policy`` and ``allow_retain_graph``: accepted and validated as in PyTorch; NumPy has
      no low-precision matmul nor autograd graph, so they change nothing (``backward`` may always
      be called again).

    >>> LinearCrossEntropyOptions().chunk_rows(8192, 1024, 32000)
    128
    >>> LinearCrossEntropyOptions(batch_chunk_size=512).chunk_rows(8192, 1024, 32000)
    512
    """

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: AccPolicy = "auto"
    acc_dtype: Any = None

    def __post_init__(self) -> None:
        v.check_bool(self.allow_retain_graph, "allow_retain_graph")
        if self.acc_policy not in ("auto", "accurate", "balanced", "compact"):
            raise ValueError(
                f"acc_policy must be one of 'auto', 'accurate', 'balanced', 'compact', got {self.acc_policy!r}"
            )
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = str(self.chunking_method).partition(":")
            if not (
                isinstance(self.chunking_method, str)
                and name == "aspect_ratio"
                and (not sep or (factor.isdigit() and int(factor) > 0))
            ):
                raise ValueError(
                    f"chunking_method must be 'auto', 'aspect_ratio', 'aspect_ratio:N' (N >= 1) "
                    f"or None, got {self.chunking_method!r}"
                )
        size: Any = self.batch_chunk_size
        if size is not None and (
            isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) or size < 1
        ):
            raise ValueError(f"batch_chunk_size must be a positive integer or None, got {size!r}")
        if self.acc_dtype is not None:
            try:
                dt = np.dtype(self.acc_dtype)
            except TypeError:
                dt = None
            if dt not in v.FLOAT_DTYPES:
                raise TypeError(f"acc_dtype must be None, np.float32 or np.float64, got {self.acc_dtype!r}")

    def chunk_rows(self, num_batches: int, in_features: int, num_classes: int) -> int:
        """Rows per chunk for a call of ``num_batches`` rows, ``in_features`` features, ``num_classes`` classes."""
        method = self.chunking_method
        if method == "auto":
            method = None if self.batch_chunk_size is not None else "aspect_ratio:2"
        size = num_batches if self.batch_chunk_size is None else min(int(self.batch_chunk_size), num_batches)
        if method is not None:
            factor = int(method.split(":", 1)[1]) if ":" in method else 1
            target = -(-num_batches // -(-num_classes // in_features))
            by_method = min((1 << (target - 1).bit_length()) // factor, num_batches)
            if self.batch_chunk_size is not None and self.batch_chunk_size != by_method:
                raise ValueError(
                    f"batch_chunk_size (={self.batch_chunk_size}) and chunking_method "
                    f"({method!r}) give different chunk sizes ({self.batch_chunk_size} vs "
                    f"{by_method}); pass only one"
                )
            size = by_method
        return max(1, size)


@dataclasses.dataclass
class _Call:
    """A validated call, in batched 2-D form: ``x`` (N, D), ``w2`` (C * P, D), ``b2`` (C * P,) or None."""

    x: np.ndarray
    w2: np.ndarray
    b2: np.ndarray | None
    target: np.ndarray  # (N, *d) int64 indices, or (N, C, *d) probabilities
    probs: bool
    weight: np.ndarray | None
    ignore_index: int
    label_smoothing: float
    reduction: str
    logits_shape: tuple[int, ...]  # (N, C, *d)
    out_shape: tuple[int, ...]  # the unreduced loss's shape, as the caller sees it
    rows: int  # rows per chunk
    acc: np.dtype
    denominator: float | None  # 'mean' divisor
    finite: bool = True  # input, weight and bias hold finite numbers only
    _w_polys: dict = dataclasses.field(default_factory=dict)

    def w_poly(self, dtype) -> _levels.Poly:
        """The weight (C * P, D) as a polynomial in s (:mod:`._levels`), in ``dtype``."""
        dtype = np.dtype(dtype)
        if dtype not in self._w_polys:
            self._w_polys[dtype] = _levels.split(self.w2.astype(dtype, copy=False))
        return self._w_polys[dtype]


def _prepare(
    input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options
) -> _Call:
    x = v.as_float_array(input, "input")
    v.check_ndim(x, "input", (1, 2), "of shape (in_features,) or (N, in_features)")
    w = v.as_float_array(linear_weight, "linear_weight")
    if w.ndim < 2:
        raise ValueError(
            f"linear_weight must be of shape (C, in_features) or (C, d1, ..., dK, in_features), "
            f"got an array of shape {w.shape}"
        )
    if w.dtype != x.dtype:
        raise TypeError(
            f"input and linear_weight must share one dtype, got input {x.dtype} and linear_weight {w.dtype}"
        )
    in_features, num_classes, out_features = x.shape[-1], w.shape[0], tuple(w.shape[1:-1])
    if w.shape[-1] != in_features:
        raise ValueError(
            f"linear_weight's last axis must be in_features = {in_features} (the input's last "
            f"axis), got linear_weight of shape {w.shape}"
        )
    if num_classes == 0:
        raise ValueError(f"linear_weight must hold at least one class, got shape {w.shape}")
    if out_features and x.ndim == 1:
        raise ValueError(
            f"a K-dimensional loss (linear_weight of shape {w.shape}) needs a batched input "
            f"(N, {in_features}), got input of shape {x.shape}"
        )
    b = None
    if linear_bias is not None:
        b = v.as_float_array(linear_bias, "linear_bias")
        if b.shape != (num_classes, *out_features):
            raise ValueError(
                f"linear_bias must have shape {(num_classes, *out_features)} to match linear_weight "
                f"{w.shape}, got {b.shape}"
            )
        b = b.astype(x.dtype, copy=False).reshape(-1)
    v.check_reduction(reduction)
    v.check_scalar(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    if options is not None and not isinstance(options, LinearCrossEntropyOptions):
        raise TypeError(f"options must be a LinearCrossEntropyOptions or None, got {type(options).__name__}")
    batched = x.ndim == 2
    n = x.shape[0] if batched else 1
    logits_shape = (n, num_classes, *out_features)
    user_logits = logits_shape if batched else (num_classes,)
    t = np.asarray(target)
    probs = t.shape == user_logits and t.dtype.kind == "f"
    if probs:
        if ignore_index is not None:
            raise ValueError(
                f"ignore_index must be None with class-probability targets (target of the logits' "
                f"shape {user_logits}), got ignore_index={ignore_index!r}"
            )
        t = v.as_real_like(v.as_float_array(t, "target"), "target", x, shape=user_logits)
        ignore_index = -100
        index_shape = user_logits[:1] + user_logits[2:] if batched else ()
    else:
        ignore_index = -100 if ignore_index is None else v.check_scalar(ignore_index, "ignore_index", integer=True)
        index_shape = (n, *out_features) if batched else ()
        if t.dtype.kind == "f":
            raise TypeError(
                f"target must hold integer class indices of shape {index_shape} or class "
                f"probabilities of shape {user_logits}, got a float array of shape {t.shape}"
            )
        t = v.as_class_indices(t, "target", num_classes, ignore_index=ignore_index, shape=index_shape)
    wt = v.check_weight(weight, "weight", num_classes, x.dtype)
    if not batched:
        x, t = x[None, :], t[None, ...]
    opts = options if options is not None else LinearCrossEntropyOptions(batch_chunk_size=n, chunking_method=None)
    rows = opts.chunk_rows(n, in_features, num_classes * math.prod(out_features))
    acc = x.dtype if opts.acc_dtype is None else np.dtype(opts.acc_dtype)
    denominator = None
    if reduction == "mean":
        if probs:
            denominator = float(math.prod(index_shape) if batched else 1)
        else:
            valid = t != ignore_index
            denominator = float(valid.sum()) if wt is None else float(wt[np.where(valid, t, 0)][valid].sum())
    return _Call(
        x,
        w.reshape(-1, in_features),
        b,
        t,
        probs,
        wt,
        int(ignore_index),
        float(label_smoothing),
        reduction,
        logits_shape,
        index_shape,
        rows,
        acc,
        denominator,
        _finite(x, w, b),
    )


def _finite(*arrays) -> bool:
    """Whether every entry is finite (``None`` counts as finite); no array of flags is made."""
    return all(a is None or a.size == 0 or (np.isfinite(a.min()) and np.isfinite(a.max())) for a in arrays)


def _chunk_logits(call: _Call, r0: int, r1: int, buf: np.ndarray | None) -> np.ndarray | None:
    """The logits of rows ``r0:r1``, or ``None`` where one is not finite (an infinite or NaN entry, a sum beyond
    the range): those chunks take :func:`_exact_chunk`."""
    if not call.finite:
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the range (inf, or inf - inf): the exact chunk
        z = np.matmul(call.x[r0:r1], call.w2.T, out=None if buf is None else buf[: r1 - r0])
        if call.b2 is not None:
            z += call.b2
    z = z if call.acc == z.dtype else z.astype(call.acc)
    with np.errstate(over="ignore", invalid="ignore"):  # a logit not finite, or two beyond the range of each other
        spread = z.max(axis=1) - z.min(axis=1)
    return z if np.isfinite(spread).all() else None


def _exact_chunk(call: _Call, r0: int, r1: int, g: np.ndarray | None):
    """Rows ``r0:r1`` where a logit is not finite: the limits of :mod:`._levels`. Returns the loss rows, the logits'
    gradient (finite: the limit softmax's), and the input's polynomial (for the weight's gradient)."""
    acc = np.dtype(np.float64)  # float32 products and their differences fit float64's range
    xs = _levels.split(call.x[r0:r1].astype(acc, copy=False))
    z = _levels.matmul(xs, _levels.transpose(call.w_poly(acc)))
    if call.b2 is not None:
        z = _levels.add(z, _levels.split(call.b2.astype(acc, copy=False)))
    rows, num_classes = r1 - r0, call.logits_shape[1]
    logp = _levels.log_softmax_limit(_levels.reshape(z, (rows, num_classes, -1)), axis=1).reshape(rows, -1)
    part, dz = _general_chunk(call, logp, call.target[r0:r1], g)
    return part, dz, xs


def _index_chunk(call: _Call, z: np.ndarray, t: np.ndarray, g: np.ndarray | None):
    """Loss rows of 2-D logits ``z`` (R, C) against labels ``t`` (R,), and, where ``g`` (R,) is given, the
    logits' gradient ``g * ((sum_k a_k) softmax - a)``, computed in place in ``z``."""
    return _index_rows(z, t, g, call.ignore_index, call.label_smoothing, call.weight)


def _index_rows(z: np.ndarray, t: np.ndarray, g, ignore_index: int, ls: float, w: np.ndarray | None):
    """:func:`_index_chunk` with the call's options given: ``g`` (R,) or a scalar."""
    num_classes = z.shape[1]
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    rows = np.arange(z.shape[0])
    wt = valid.astype(z.dtype) if w is None else np.where(valid, w.astype(z.dtype)[safe], 0)
    z -= z.max(axis=1, keepdims=True)  # log-sum-exp on shifted logits: exp never overflows
    picked = z[rows, safe]
    smooth = None
    if ls > 0:
        smooth = z.sum(axis=1) if w is None else z @ w.astype(z.dtype)
    np.exp(z, out=z)
    total = z.sum(axis=1)
    lse = np.log(total)
    loss = wt * (lse - picked)
    if ls > 0:
        wsum = num_classes if w is None else float(w.sum())
        loss = (1 - ls) * loss + (ls / num_classes) * np.where(valid, wsum * lse - smooth, 0)
    if g is None:
        return loss, None
    a_total = (1 - ls) * wt + ((ls / num_classes) * (num_classes if w is None else float(w.sum()))) * valid
    z *= (a_total * g / total)[:, None]
    z[rows, safe] -= (1 - ls) * wt * g
    if ls > 0:
        z -= (ls / num_classes) * ((valid * g)[:, None] * (1.0 if w is None else w.astype(z.dtype)[None, :]))
    return loss, z


def _fused_rows(call: _Call, z: np.ndarray, t: np.ndarray, g: np.ndarray | None):
    """:func:`_index_chunk` by the fused cross-entropy kernels of :mod:`losslab._fast` (numba: one pass over each
    row, the gradient made even for the loss alone, so that both give the same bits); ``None`` without numba, or
    where a kernel declines (every row ignored)."""
    if _fast.backend() != "numba":
        return None
    if call.weight is None and call.label_smoothing == 0:
        hit = _fast.cross_entropy(z, t, None, call.ignore_index, "none", 0.0)
    else:
        valid = t != call.ignore_index
        w = None if call.weight is None else call.weight.astype(z.dtype, copy=False)
        wt = valid.astype(z.dtype) if w is None else np.where(valid, w[np.where(valid, t, 0)], z.dtype.type(0))
        hit = _fast.cross_entropy_general(z, t, w, wt, 1.0, "none", call.label_smoothing, call.ignore_index)
    if hit is None:
        return None
    loss, dz = hit
    if g is None:
        return loss, None
    dz *= g[:, None]  # the kernels' gradient is that of dout = 1: each row times its upstream gradient
    return loss, dz


def _plain_rows(z: np.ndarray, t: np.ndarray, g):
    """:func:`_index_rows` without class weights, smoothing or ignored rows: the same operations on the same
    values (so the same bits), fewer of them. ``g`` (R,) or a scalar."""
    rows = np.arange(z.shape[0])
    z -= z.max(axis=1, keepdims=True)  # log-sum-exp on shifted logits: exp never overflows
    picked = z[rows, t]
    np.exp(z, out=z)
    total = z.sum(axis=1)
    loss = np.log(total) - picked
    if g is None:
        return loss, None
    z *= (np.float64(1.0) * g / total)[:, None]  # as _index_rows' a_total (float64 ones) * g / total
    z[rows, t] -= g
    return loss, z


def _general_chunk(call: _Call, z: np.ndarray, t: np.ndarray, g: np.ndarray | None):
    """Class-probability targets or a K-dimensional loss: the chunk through :func:`cross_entropy`."""
    zk = z.reshape((z.shape[0],) + call.logits_shape[1:])
    weight = None if call.weight is None else call.weight.astype(zk.dtype)
    opts = dict(weight=weight, ignore_index=call.ignore_index, label_smoothing=call.label_smoothing)
    loss = cross_entropy(zk, t if not call.probs else t.astype(zk.dtype), reduction="none", **opts)
    if g is None:
        return loss, None
    dz = cross_entropy_backward(g, zk, t if not call.probs else t.astype(zk.dtype), reduction="none", **opts)
    return loss, dz.reshape(z.shape)


def _run(call: _Call, dout, want_grad: bool):
    """One chunked pass: the unreduced loss (N, *d), and the gradients of ``sum(g * loss)``."""
    x, w2 = call.x, call.w2
    n, num_rows = x.shape[0], call.rows
    loss = np.empty((n,) + call.logits_shape[2:], dtype=call.acc)
    g_all = None
    dw_inf = None  # the coefficient of s in the weight's gradient, where an input row is infinite
    if want_grad:
        g_all = np.broadcast_to(np.asarray(dout, dtype=call.acc), call.out_shape).reshape(loss.shape)
        if call.reduction == "mean":  # a zero denominator (every target ignored): zero gradients, as PyTorch
            g_all = g_all / call.acc.type(call.denominator) if call.denominator else np.zeros_like(g_all)
        dx = np.empty_like(x)
        dw = np.empty_like(w2) if n else np.zeros_like(w2)  # every chunk writes it; no chunk, no gradient
        dx_t = np.empty((x.shape[1], min(num_rows, n)), dtype=x.dtype)
        db = None if call.b2 is None else np.zeros_like(call.b2)
        block = max(1, _BLOCK_BYTES // max(1, w2.shape[1] * w2.itemsize))
        scratch = np.empty((min(block, w2.shape[0]), w2.shape[1]), dtype=w2.dtype)
    buf = np.empty((min(num_rows, n), w2.shape[0]), dtype=x.dtype)
    simple = not call.probs and len(call.logits_shape) == 2
    with np.errstate(over="ignore"):  # a gradient beyond the float range (huge finite entries) is inf
        for r0 in range(0, n, num_rows):
            r1 = min(n, r0 + num_rows)
            hit = dz = None  # the last chunk's gradient goes before this one's is made: one at a time in memory
            z = _chunk_logits(call, r0, r1, buf)
            g = None if g_all is None else g_all[r0:r1]
            if z is None:
                part, dz, xs = _exact_chunk(call, r0, r1, g)
            else:
                hit = _fused_rows(call, z, call.target[r0:r1], g) if simple else None
                part, dz = hit or (_index_chunk if simple else _general_chunk)(call, z, call.target[r0:r1], g)
                if not np.isfinite(part).all():  # a sum beyond the range (smoothing over huge logits): exactly
                    z = None
                    part, dz, xs = _exact_chunk(call, r0, r1, g)
            loss[r0:r1] = part
            if dz is None:
                continue
            dz = dz.astype(x.dtype, copy=False)
            if z is None:  # the limits: a product with an infinite factor is +-inf where its coefficient is nonzero
                dx[r0:r1] = _levels.value(_levels.matmul(_levels.rounded(dz), call.w_poly(x.dtype)))
                x_finite, *x_inf = (m.astype(x.dtype, copy=False) for m, _, _ in xs)
                if r0 == 0:
                    np.matmul(dz.T, x_finite, out=dw)
                else:
                    dw += dz.T @ x_finite
                if x_inf:
                    part_inf = _levels.matmul(_levels.transpose(_levels.rounded(dz)), _levels.exact(x_inf[0]))
                    dw_inf = part_inf if dw_inf is None else _levels.add(dw_inf, part_inf)
                if db is not None:
                    db += dz.sum(axis=0)
                continue
            xc = x[r0:r1]
            _dz_w(dz, w2, dx[r0:r1], dx_t)
            if r0 == 0:  # the first chunk writes dW; the others add to it, a block of classes at a time
                np.matmul(dz.T, xc, out=dw)
            else:
                for c0 in range(0, w2.shape[0], scratch.shape[0]):
                    c1 = min(w2.shape[0], c0 + scratch.shape[0])
                    dw[c0:c1] += np.matmul(dz[:, c0:c1].T, xc, out=scratch[: c1 - c0])
            if db is not None:
                db += dz.sum(axis=0)
    grads: tuple[np.ndarray, ...] | None = None
    if want_grad:
        if dw_inf is not None:
            dw = _levels.value(_levels.exact(dw) + dw_inf)
        grads = (dx, dw)
        if db is not None:
            grads += (db,)
    return loss, grads


def _dz_w(dz: np.ndarray, w: np.ndarray, out: np.ndarray | None = None, scratch: np.ndarray | None = None):
    """``dx = dz W`` (into ``out``): as it stands with at most 1024 classes in float32, 128 in float64; else as
    ``(W^T dz^T)^T`` (into ``scratch`` (D, R)): BLAS runs a long class axis as its inner dimension much faster this
    way (32000 classes on 2 threads: twice as fast). With few classes the transposed copy into ``out`` costs more
    than that gains (32768 x 100 -> 64 float64, one thread: 21.4 ms that way, 15.1 ms as it stands). Every path
    makes dx by this one product."""
    if w.shape[0] <= (1024 if w.dtype == np.float32 else 128):
        return np.matmul(dz, w, out=out)
    t = np.matmul(w.T, dz.T, out=None if scratch is None else scratch[:, : dz.shape[0]]).T
    if out is None:
        return t
    out[...] = t
    return out


def _reduced(call: _Call, loss: np.ndarray, dtype: np.dtype):
    # a total beyond the float range is inf; every target ignored: 0 / 0 = NaN, as PyTorch
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        loss = loss.astype(dtype, copy=False)
        if call.reduction == "none":
            return loss.reshape(call.out_shape)
        total = loss.sum(dtype=np.float64)
        if call.reduction == "sum":
            return dtype.type(total)
        return dtype.type(np.float64(total) / np.float64(call.denominator))


# ------------------------------------------------------------- the direct path: one product each way

_FMAX = {dt: float(np.finfo(dt).max) / 8 for dt in v.FLOAT_DTYPES}  # a bound no sum of the direct path reaches
# Without chunking options, logits of at most _CACHE_ROW_BYTES a row go _CACHE_BYTES of them at a time (256 rows
# or more, so that adding each block's share of dW costs little beside its products): the block stays in L2
# between its product, its fused rows and the products of its gradients. Wider rows are made whole, in one product,
# and so are all wide rows on several threads up to _THREADS_LOGITS_BYTES (then chunks of that): each product wakes the
# BLAS threads, and a few large products keep them busy where many smaller ones wait for them (on a loaded machine,
# most of the time). Chunks that a chunking_method picks hold _CACHE_BYTES of logits at least: its pick for
# 256 x 64 -> 100 classes, 4 chunks of 64 rows, took 216 us on one thread in float32 against 179 us whole (each
# chunk's 5 calls cost more than its products).
_CACHE_BYTES = 1 << 20
_CACHE_ROW_BYTES = _CACHE_BYTES // 256
# On several threads, logits past this go this many bytes of them at a time: whole, the logits and their gradient
# are arrays that malloc maps afresh every call (past 32 MiB), and their first writes fault every page in. Measured,
# (131072, 64) -> 100 classes on 2 threads, whole and by chunks of 8 MiB: float64 ~260 -> ~190 ms, float32
# ~124 -> ~78 ms; (16384, 64) float64 (13 MB of logits) the same either way, and chunks of 4 MiB slowed float32.
_THREADS_LOGITS_BYTES = 1 << 23
# Narrow rows (at most _CACHE_ROW_BYTES) on several threads go 2 MiB of logits at a time: a chunk and its gradient
# stay in the two cores' L2 between the products and the fused rows, and no array reaches NumPy's 4 MiB request for
# huge pages. Measured, 2 threads, chunks of 8 MiB (whole for 16384 rows) against 2 MiB, interleaved: (16384, 64)
# -> 100 classes float32 8.4-13.3 -> 6.6-8.0 ms, float64 16.6-19.9 -> 13.1-13.7 ms; 131072 rows float64 135-137
# -> 117-118 ms, float32 64-81 -> 55-96 ms (two runs of three faster).
_THREADS_NARROW_BYTES = 1 << 21
# On several threads, the products are BLAS's to thread, narrow ones too: chunks of rows under _BLAS_ONE
# multiply-adds (which OpenBLAS runs on the calling thread) spread over this process's threads were slower on a
# quiet machine, their many small calls taking turns at the GIL (16384 x 64 -> 100 classes float32, 2 threads:
# 9.6-13 ms in chunks of 81 rows, 6.1-7.2 ms by whole products; 131072 rows: 75-82 against 64-69 ms). Chunks a
# caller asks for that are that small still go on this process's threads (_direct_chunks). _CE_ONE: a chunk's
# fused rows stay on its thread (under the cross-entropy kernels' own threshold for threads).
_BLAS_ONE = 1 << 19
_CE_ONE = 1 << 18


def _span(a: np.ndarray) -> float:
    """The largest magnitude of ``a``: inf or NaN where an entry is not finite (two reductions, no warning)."""
    return max(-float(np.minimum.reduce(a, axis=None)), float(np.maximum.reduce(a, axis=None)))


def _bounds(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, t: np.ndarray) -> tuple[float, float, float, int, int]:
    """``(|x| max, |w| max, |b| max, min t, max t)`` of the direct path's plain arrays (``b`` None: 0), a magnitude
    inf or NaN where an entry is not finite: one numba call (:func:`losslab._fast.linear_ce_spans`), else NumPy's
    reductions."""
    spans = _fast.linear_ce_spans(x, w, b, t)
    if spans is not None:
        return spans
    return _span(x), _span(w), 0.0 if b is None else _span(b), int(t.min()), int(t.max())


class _Direct(NamedTuple):
    """A call the direct path takes: the checked arrays and options, and bounds on the inputs' magnitudes."""

    x: np.ndarray
    w: np.ndarray
    t: np.ndarray  # int64 labels
    b: np.ndarray | None
    weight: np.ndarray | None
    ignore_index: int
    label_smoothing: float
    reduction: str
    denominator: float  # 'mean' divisor (1 otherwise)
    all_valid: bool  # no label is ignore_index
    x_span: float
    w_span: float
    weight_span: float  # 1 without class weights
    rows: int  # rows per chunk (n: the logits whole)


def _viewed(a):
    """An ndarray subclass (np.memmap, ...) as the plain ndarray it views: the same bits wherever the arrays lie."""
    return a.view(np.ndarray) if a.__class__ is not np.ndarray and isinstance(a, np.ndarray) else a


def _plain(input, linear_weight, target, linear_bias, reduction, ignore_index, label_smoothing):
    """``(x, w, t, b)``: the arrays of a plain call (a 2-D input and weight of one float dtype, integer targets
    (N,), a bias (C,) or None, N and C > 0, a known reduction, an int ``ignore_index``, smoothing in [0, 1]),
    subclasses viewed as ndarrays; ``None`` for any other call. The direct path's and the few rows' door."""
    x, w, t, b = (_viewed(a) for a in (input, linear_weight, target, linear_bias))
    if (
        x.__class__ is not np.ndarray
        or w.__class__ is not np.ndarray
        or t.__class__ is not np.ndarray
        or (b is not None and b.__class__ is not np.ndarray)
        or reduction.__class__ is not str
        or reduction not in ("mean", "sum", "none")
        or label_smoothing.__class__ not in (int, float)
        or not 0 <= label_smoothing <= 1
        or (ignore_index is not None and ignore_index.__class__ is not int)
    ):
        return None
    dt = x.dtype
    if dt not in _FMAX or w.dtype != dt or x.ndim != 2 or w.ndim != 2 or t.ndim != 1 or t.dtype.kind not in "iu":
        return None
    n, d = x.shape
    c = w.shape[0]
    if w.shape[1] != d or t.shape[0] != n or n == 0 or c == 0 or (b is not None and (b.dtype != dt or b.shape != (c,))):
        return None
    return x, w, t, b


def _direct(
    input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options, chunks=False
):
    """The logits of a call the direct path takes, computed whole by one product, and the checked call; ``None``
    for every other call (the chunked pass, with its checks and limits, answers those). With ``chunks``, a call
    chunked by its ``options`` is the direct path's too, its logits ``None`` (:func:`_direct_chunks` makes them a
    chunk at a time).

    The direct path takes plain arrays: a 2-D input and weight of one float dtype, class-index targets (N,)
    holding at most ``ignore_index`` outside [0, C), no chunking (``options`` None or one chunk), and finite
    inputs small enough that no logit, sum or gradient can overflow (so no ``np.errstate`` is needed). Its
    values are those of the chunked pass's finite path: operation for operation without numba, and with numba
    to rounding (both take the logits' gradient from the fused cross-entropy kernels)."""
    plain = _plain(input, linear_weight, target, linear_bias, reduction, ignore_index, label_smoothing)
    if plain is None:
        return None
    x, w, t, b = plain
    dt = x.dtype
    n, d = x.shape
    c = w.shape[0]
    rows = n
    if options is not None:
        if options.__class__ is not LinearCrossEntropyOptions or options.acc_dtype is not None:
            return None
        rows = options.chunk_rows(n, d, c)  # PyTorch's checks: two fields that disagree raise here
        if options.batch_chunk_size is None:  # a method's pick: chunks of _CACHE_BYTES of logits at least
            rows = max(rows, _CACHE_BYTES // (c * dt.itemsize))
        if rows < n and not chunks:
            return None
    elif chunks and c * dt.itemsize <= _CACHE_ROW_BYTES and _fast.get_num_threads() == 1:
        rows = _CACHE_BYTES // (c * dt.itemsize)  # narrow logits on one thread: blocks of rows that stay in L2
    elif chunks and _fast.get_num_threads() > 1:
        size = _THREADS_NARROW_BYTES if c * dt.itemsize <= _CACHE_ROW_BYTES else _THREADS_LOGITS_BYTES
        if n * c * dt.itemsize > size:
            rows = max(1, size // (c * dt.itemsize))
    ii = -100 if ignore_index is None else ignore_index
    x_span, w_span, b_span, t_lo, t_hi = _bounds(x, w, b, t)
    all_valid = 0 <= t_lo and t_hi < c and not t_lo <= ii <= t_hi
    if not all_valid:
        valid = t != ii
        kept = t[valid]
        if kept.size == 0 or int(kept.min()) < 0 or int(kept.max()) >= c:
            return None  # every target ignored, or a label out of range: the checks name it
    if t.dtype != np.int64:
        t = t.astype(np.int64)
    wt = None if weight is None else v.check_weight(weight, "weight", c, dt)
    spans = x_span, w_span, 1.0 if wt is None else max(1.0, _span(wt))
    # every logit is at most zmax, every loss row (and smoothing's sum) at most its bound; NaN and inf fail here
    zmax = x_span * w_span * d + b_span
    total_bound = (2 * zmax + math.log(c) + 1) * spans[2] * 2 * c * n
    denominator = 1.0
    if reduction == "mean":
        if all_valid:
            denominator = float(n) if wt is None else float(wt[t].sum())
        else:
            denominator = float(valid.sum()) if wt is None else float(wt[np.where(valid, t, 0)][valid].sum())
    if not total_bound * max(1.0, 1.0 / abs(denominator) if denominator else math.inf) < _FMAX[dt]:
        return None
    call = _Direct(x, w, t, b, wt, ii, float(label_smoothing), reduction, denominator, all_valid, *spans, min(rows, n))
    if rows < n:
        return call, None
    return call, np.matmul(x, w.T)  # without the bias: _direct_rows and _direct_fused add it


def _direct_rows(call: _Direct, z: np.ndarray, g):
    """The loss rows and (with ``g``: a scalar or (N,)) the logits' gradient, in place in ``z`` (the logits
    without the bias, which this adds)."""
    if call.b is not None:
        _fast.add_bias(z, call.b)
    if call.all_valid and call.weight is None and call.label_smoothing == 0:
        return _plain_rows(z, call.t, g)
    return _index_rows(z, call.t, g, call.ignore_index, call.label_smoothing, call.weight)


def _direct_fused(call: _Direct, z: np.ndarray, g, want_db: bool = False):
    """``(value, logits' gradient, bias gradient or None)`` by the fused cross-entropy kernels of
    :mod:`losslab._fast` (numba: one pass over each row, on the threads for a large batch), the logits ``z``
    without the bias (this adds it); ``None`` without numba. ``g``: as :func:`_direct_rows`. With ``want_db``
    (and a bias), the bias gradient where the rows' one call (:func:`losslab._fast.linear_ce_rows`, below the
    threads) makes it, else None (the caller sums the logits' gradient)."""
    if _fast.backend() != "numba":
        return None
    t, reduction = call.t, call.reduction
    dt, mean = z.dtype, reduction == "mean"
    plain = call.weight is None and call.label_smoothing == 0
    weighted = call.all_valid and call.weight is not None and call.label_smoothing == 0
    if plain or weighted:  # the bias, the rows, their weights and the bias gradient in one call
        dz, loss = np.empty_like(z), np.empty(z.shape[0], np.float64)
        db = np.zeros_like(call.b) if want_db and call.b is not None and (g is None or reduction != "none") else None
        if plain:
            scale: Any = dt.type(1) / dt.type(call.denominator) if mean else dt.type(1)
            total = _fast.linear_ce_rows(z, call.b, t, call.ignore_index, scale, None, dz, loss, db)
        else:
            scale = 1.0 / float(call.denominator) if mean else 1.0  # as ce_weighted_rows
            row_w = None if call.weight is None else call.weight[t]
            total = _fast.linear_ce_rows(z, call.b, t, -1, scale, row_w, dz, loss, db)
        if total is not None:
            if reduction == "none":
                value: Any = loss.astype(dt)
                if g is not None:  # the kernels' gradient is that of dout = 1: each row times its dout
                    dz *= np.reshape(g, (-1, 1))
            else:
                value = dt.type(total / call.denominator if mean else total)
            return value, dz, db
    if call.b is not None:
        _fast.add_bias(z, call.b)
    if call.weight is None and call.label_smoothing == 0:  # the chunks' kernel: the call is checked already
        dz, loss = np.empty_like(z), np.empty(z.shape[0], np.float64)
        _fast.linear_ce_chunk(
            z, t, call.ignore_index, dt.type(1) / dt.type(call.denominator) if mean else dt.type(1), dz, loss
        )
        hit: Any = _fused_value(call, loss), dz
    elif call.all_valid and call.weight is not None:  # no mask to make: the row weights are one gather
        hit = _fast.ce_weighted_rows(z, t, call.weight, call.label_smoothing, call.denominator, reduction)
    else:
        valid = t != call.ignore_index
        wt = (
            valid.astype(z.dtype)
            if call.weight is None
            else np.where(valid, call.weight[np.where(valid, t, 0)], z.dtype.type(0))
        )
        hit = _fast.cross_entropy_general(
            z, t, call.weight, wt, call.denominator, reduction, call.label_smoothing, call.ignore_index
        )
    if hit is None:
        return None
    value, dz = hit
    if reduction == "none" and g is not None:  # the kernels' gradient is that of dout = 1: each row times its dout
        dz *= np.reshape(g, (-1, 1))
    return value, dz, None


def _grads_fit(call: _Direct, g_span: float) -> bool:
    """Whether no gradient can overflow, ``g_span`` the upstream gradient's largest magnitude."""
    x, w = call.x, call.w
    bound = 3 * call.weight_span * g_span  # |dz| <= g (|a| + sum_k a_k)
    return bound * max(1.0, call.w_span * w.shape[0], call.x_span * x.shape[0], x.shape[0]) < _FMAX[x.dtype]


def _direct_grads(call: _Direct, dz: np.ndarray, g_span: float, db: np.ndarray | None = None):
    """``(dx, dW[, db])`` from the logits' gradient ``dz`` (and ``db`` where the fused rows made it); ``None``
    where the upstream gradient's largest magnitude ``g_span`` could make one overflow."""
    x, w = call.x, call.w
    if not _grads_fit(call, g_span):
        return None
    grads: tuple[np.ndarray, ...] = (_dz_w(dz, w), _matmul(dz.T, x))
    if call.b is None:
        return grads
    if db is not None:
        return grads + (db,)
    if _fast.backend() == "numba":  # values to rounding: one BLAS product, 256 x 100 float32 in 2 us against 7 us
        return grads + (np.matmul(np.ones(dz.shape[0], dz.dtype), dz),)
    grads += (dz.sum(axis=0),)  # the checked pass's operations: its bits
    return grads


def _direct_chunks(call: _Direct, g, want_grad: bool):
    """The direct path a chunk of ``call.rows`` rows at a time (a call chunked by its ``options``): per chunk one
    product for its logits, its rows fused, one product each for its share of dx and dW. The direct path's bounds
    hold for the whole call, so no chunk is checked for overflow. ``g``: as :func:`_direct_rows`. Returns the
    value and, with ``want_grad``, the gradients ``(dx, dW[, db])`` (those of ``dout = 1`` where ``g`` is 1 or
    1 / denominator), else ``None``. Memory beyond the outputs: two chunks of logits (the logits, the gradient)
    per thread. Chunks small enough that BLAS runs each product on one thread (:data:`_BLAS_ONE`) go on this
    process's threads, a contiguous range of chunks each, each range adding up its own dW (summed at the end)."""
    x, w, b, t = call.x, call.w, call.b, call.t
    n, d = x.shape
    c, rows, dt = w.shape[0], call.rows, x.dtype
    none, mean = call.reduction == "none", call.reduction == "mean"
    plain = call.weight is None and call.label_smoothing == 0
    fused = _fast.backend() == "numba"
    labels, general, scale = t, None, None
    if fused:  # the fused cross-entropy kernels, as _direct_fused calls them: the same rows, the same bits
        loss = np.empty(n, np.float64)
        if plain:
            scale = dt.type(1) / dt.type(call.denominator) if mean else dt.type(1)
        else:
            wv = np.ones(c, dt) if call.weight is None else np.ascontiguousarray(call.weight, dt)
            if call.all_valid:
                row_w = wv[t]
            else:
                valid = t != call.ignore_index
                labels = np.where(valid, t, -1)
                row_w = np.where(valid, wv[np.where(valid, t, 0)], dt.type(0))
            general = (wv, row_w, call.label_smoothing, float(wv.sum(dtype=np.float64)))
            scale = 1.0 / float(call.denominator) if mean else 1.0
    else:
        loss = np.empty(n, dt)
    # the rows' one call (bias, rows, weights, bias gradient): plain rows, or class weights with every label kept
    one_call = fused and (plain or (call.all_valid and call.label_smoothing == 0))
    ii = call.ignore_index if plain else -1
    dx: Any = None
    dw: Any = None
    db: Any = None
    if want_grad:
        dx, dw = np.empty_like(x), np.empty_like(w)
        db = None if b is None else np.zeros_like(b)

    def pass_rows(lo: int, hi: int, dw, db) -> None:
        """Chunks of rows ``lo:hi``: their loss rows and dx rows, their dW written into ``dw`` (and their db
        added to ``db``)."""
        buf = np.empty((min(rows, hi - lo), c), dt)
        gbuf: Any = np.empty_like(buf) if fused else None
        if want_grad:
            block = max(1, _BLOCK_BYTES // max(1, d * w.itemsize))
            scratch = np.empty((min(block, c), d), dt)
            dx_t = None if dt == np.float32 else np.empty((d, buf.shape[0]), dt)
        for r0 in range(lo, hi, rows):
            r1 = min(hi, r0 + rows)
            z = np.matmul(x[r0:r1], w.T, out=buf[: r1 - r0])
            g_chunk = g[r0:r1] if none and g is not None else g
            summed = None  # the bias gradient's share that the rows' one call added to db
            total = None
            if one_call:  # the bias, the rows, their weights and the bias gradient in one call
                summed = db if want_grad and not (none and g is not None) else None
                rw = None if plain or general is None else general[1][r0:r1]
                dz = gbuf[: r1 - r0]
                total = _fast.linear_ce_rows(z, b, labels[r0:r1], ii, scale, rw, dz, loss[r0:r1], summed)
                if total is None:
                    summed = None
            if total is None and b is not None:
                _fast.add_bias(z, b)
            if total is not None:
                if none and g is not None:  # the kernels' gradient is that of dout = 1: each row times its dout
                    dz *= np.reshape(g_chunk, (-1, 1))
            elif fused:
                dz = gbuf[: r1 - r0]
                part = None if general is None else (general[0], general[1][r0:r1], *general[2:])
                _fast.linear_ce_chunk(z, labels[r0:r1], call.ignore_index, scale, dz, loss[r0:r1], part)
                if none and g is not None:  # the kernels' gradient is that of dout = 1: each row times its dout
                    dz *= np.reshape(g_chunk, (-1, 1))
            elif plain and call.all_valid:
                loss[r0:r1], dz = _plain_rows(z, t[r0:r1], g_chunk)
            else:
                loss[r0:r1], dz = _index_rows(
                    z, t[r0:r1], g_chunk, call.ignore_index, call.label_smoothing, call.weight
                )
            if not want_grad:
                continue
            xc = x[r0:r1]
            _dz_w(dz, w, dx[r0:r1], dx_t)
            if r0 == lo:  # the first chunk writes dW; the others add to it, a block of classes at a time
                np.matmul(dz.T, xc, out=dw)
            else:
                for c0 in range(0, c, scratch.shape[0]):
                    c1 = min(c, c0 + scratch.shape[0])
                    dw[c0:c1] += np.matmul(dz[:, c0:c1].T, xc, out=scratch[: c1 - c0])
            if db is not None and summed is None:
                db += dz.sum(axis=0)

    chunks = -(-n // rows)
    threads = min(_fast.get_num_threads(), chunks // 4)  # a few chunks a thread at least
    if threads > 1 and rows * c * d < _BLAS_ONE and rows * c < _CE_ONE:
        partials: dict[int, tuple] = {}

        def task(lo: int, hi: int) -> None:  # chunks lo:hi; the first range writes the outputs' dW and db
            own = (dw, db) if lo == 0 else (None if dw is None else np.empty_like(dw), _zeros_like(db))
            pass_rows(lo * rows, min(n, hi * rows), *own)
            if lo:
                partials[lo] = own

        _fast.run_ranges(task, chunks)
        for _, (pdw, pdb) in sorted(partials.items()):  # in row order, whatever thread ended first
            if pdw is not None:
                dw += pdw
            if pdb is not None:
                db += pdb
    else:
        pass_rows(0, n, dw, db)
    value = _fused_value(call, loss) if fused else _direct_value(call, loss)
    if not want_grad:
        return value, None
    grads: tuple[np.ndarray, ...] = (dx, dw) if db is None else (dx, dw, db)
    return value, grads


def _zeros_like(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.zeros_like(a)


def _fused_value(call: _Direct, loss: np.ndarray):
    """The reduced loss from the fused kernels' float64 rows: their left-to-right total (as the kernels take it)."""
    dt = call.x.dtype
    if call.reduction == "none":
        return loss.astype(dt)
    total = _fast.seq_sum(loss)
    return dt.type(total / call.denominator if call.reduction == "mean" else total)


def _direct_value(call: _Direct, loss: np.ndarray):
    """The reduced loss, as :func:`_reduced` (no sum here can overflow)."""
    dt = call.x.dtype
    loss = loss.astype(dt, copy=False)
    if call.reduction == "none":
        return loss
    total = loss.sum(dtype=np.float64)
    return dt.type(total) if call.reduction == "sum" else dt.type(np.float64(total) / np.float64(call.denominator))


# ------------------------------------------------------------- a few rows: one numba call, no (N, C) logits


def _small(
    input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options, dout, grad
):
    """``(value, gradients or None)`` of a call of a few plain rows by :func:`losslab._fast.linear_ce_small` (one
    numba call: each row's logits, loss and gradients, the weight read twice, no bound computed beforehand), or
    ``None`` for every other call (the direct path and the checked pass answer those; so do calls it declines: a
    label out of range, a value or a gradient not finite). The calls it takes are the direct path's plain ones,
    the class weights of the input's dtype. ``dout``: validated for ``reduction='none'`` where ``grad``, the
    gradients then those of ``sum(dout * loss)``; else those of ``dout = 1``, which the caller scales."""
    plain = _plain(input, linear_weight, target, linear_bias, reduction, ignore_index, label_smoothing)
    weight = _viewed(weight)
    if (
        plain is None
        or (weight is not None and weight.__class__ is not np.ndarray)
        or (options is not None and options.__class__ is not LinearCrossEntropyOptions)
        or (options is not None and options.acc_dtype is not None)
    ):
        return None
    x, w, t, b = plain
    dt = x.dtype
    n, d = x.shape
    c = w.shape[0]
    if weight is not None and (weight.dtype != dt or weight.shape != (c,)):
        return None
    if options is not None:
        options.chunk_rows(n, d, c)  # PyTorch's checks: two fields that disagree raise here
    g = None
    if grad and reduction == "none":
        g = np.empty(n, np.float64)
        g[...] = v.check_dout(dout, (n,), dt)
    ii = -100 if ignore_index is None else ignore_index
    return _fast.linear_ce_small(x, w, b, t, weight, ii, float(label_smoothing), reduction, g, grad)


def _shaped_grads(grads, input, linear_weight, linear_bias):
    def shaped(g: np.ndarray, like) -> np.ndarray:
        shape = like.shape if like.__class__ is np.ndarray else np.shape(like)
        return g if g.shape == shape else g.reshape(shape)

    out: tuple[np.ndarray, ...] = (shaped(grads[0], input), shaped(grads[1], linear_weight))
    if linear_bias is not None:
        out += (shaped(grads[2], linear_bias),)
    return out


def linear_cross_entropy(
    input,
    linear_weight,
    target,
    linear_bias=None,
    *,
    weight=None,
    reduction: v.Reduction = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
):
    r"""Cross-entropy of a linear projection, ``torch.nn.functional.linear_cross_entropy``.

    .. math:: z = x W^\top + b, \qquad \ell = \operatorname{cross\_entropy}(z, t)

    with :func:`losslab.functional.cross_entropy`'s semantics for ``weight``, ``ignore_index``,
    ``label_smoothing``, class-probability targets and the reduction. ``ignore_index=None`` (the
    default) means -100 for class-index targets and must stay None for class-probability targets,
    as in PyTorch. ``options=None`` computes the logits of the whole batch at once (PyTorch's
    reference path); a :class:`LinearCrossEntropyOptions` computes them ``chunk_rows`` rows at a
    time, so memory beyond the inputs and outputs is about ``chunk_rows x C`` values.

    Shapes: ``input`` (D,) or (N, D); ``linear_weight`` (C, D), or (C, d1, ..., dK, D) for a
    K-dimensional loss (batched input only); ``linear_bias`` (C,) or (C, d1, ..., dK);
    ``target`` class indices (), (N,) or (N, d1, ..., dK), or probabilities of the logits' shape
    (C,) or (N, C, d1, ..., dK); ``weight`` (C,). Output: a scalar, or the index shape for
    ``reduction='none'``.

    Raises ``TypeError`` for non-float inputs, mismatched dtypes, float targets of the index
    shape or a bad ``options``; :class:`~losslab._validation.ClassIndexError` for a label
    outside [0, C); ``ValueError`` for shapes that do not fit, a bad option or reduction.

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> round(float(linear_cross_entropy(x, W, np.array([0, 2]))), 4)
    0.862
    """
    small = _small(
        input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options, 1.0, False
    )
    if small is not None:  # as linear_cross_entropy_value_and_grad: the same kernel, the same bits
        return small[0]
    direct = _direct(
        input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options, True
    )
    # as linear_cross_entropy_value_and_grad, which takes the direct path where the gradients fit too
    if direct is not None and (reduction == "none" or _grads_fit(direct[0], 1.0 / direct[0].denominator)):
        if direct[1] is None:  # chunked
            return _direct_chunks(direct[0], None, want_grad=False)[0]
        fused = _direct_fused(direct[0], direct[1], None)
        if fused is not None:
            return fused[0]
        return _direct_value(direct[0], _direct_rows(direct[0], direct[1], None)[0])
    call = _prepare(
        input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options
    )
    loss, _ = _run(call, None, want_grad=False)
    return _reduced(call, loss, call.x.dtype)


def linear_cross_entropy_backward(
    dout,
    input,
    linear_weight,
    target,
    linear_bias=None,
    *,
    weight=None,
    reduction: v.Reduction = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
):
    r"""Gradients of :func:`linear_cross_entropy`: ``(d_input, d_linear_weight)``, plus ``d_linear_bias`` with a bias.

    With :math:`G = \partial \ell / \partial z` (per row: :math:`g_n ((\sum_k a_{n,k})
    \operatorname{softmax}(z_n) - a_n)`, as for cross-entropy):
    :math:`\partial / \partial x = G W`, :math:`\partial / \partial W = G^\top x`,
    :math:`\partial / \partial b = \sum_n G_n`, accumulated chunk by chunk (one forward pass).

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0]])
    >>> W = np.array([[0.0, 0.0], [0.0, 0.0]])
    >>> dx, dW = linear_cross_entropy_backward(1.0, x, W, np.array([0]))
    >>> dW
    array([[-0.5,  0. ],
           [ 0.5,  0. ]])
    """
    return linear_cross_entropy_value_and_grad(
        dout,
        input,
        linear_weight,
        target,
        linear_bias,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        options=options,
    )[1]


def linear_cross_entropy_value_and_grad(
    dout,
    input,
    linear_weight,
    target,
    linear_bias=None,
    *,
    weight=None,
    reduction: v.Reduction = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
):
    """The loss and its gradients (as :func:`linear_cross_entropy_backward`) in one chunked pass.

    >>> import numpy as np
    >>> out, (dx, dW) = linear_cross_entropy_value_and_grad(1.0, np.ones((1, 2)), np.zeros((2, 2)), np.array([1]))
    >>> round(float(out), 4), dx
    (0.6931, array([[0., 0.]]))
    """
    value: Any = None
    grads: tuple[np.ndarray, ...] | None = None
    g: Any = None
    small = _small(
        input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options, dout, True
    )
    if small is not None:
        value, grads = small
        grads = grads if grads[2] is not None else grads[:2]
        if reduction != "none":
            g = dout if dout.__class__ is float else v.check_dout(dout, (), value.dtype)
        direct = None
    else:
        direct = _direct(
            input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options, True
        )
    if direct is not None:
        call_d, z = direct
        dt = call_d.x.dtype
        g = dout if dout.__class__ is float and reduction != "none" else None
        if g is None:
            g = v.check_dout(dout, call_d.t.shape if reduction == "none" else (), dt)
        # 'none': dout per row; else the pass for dout = 1 ('mean': 1 / denominator), then one scaling below
        g_rows = g if reduction == "none" else dt.type(1) / dt.type(call_d.denominator)
        g_span = _span(g) if reduction == "none" else 1.0 / call_d.denominator
        if z is None:  # chunked: the chunks where the gradients fit, else the checked pass below
            if _grads_fit(call_d, g_span):
                value, grads = _direct_chunks(call_d, g_rows, want_grad=True)
            direct = None
    if direct is not None:
        fused = _direct_fused(call_d, z, g_rows, want_db=True)
        db = None
        if fused is None:
            loss, dz = _direct_rows(call_d, z, g_rows)
        else:
            value, dz, db = fused
        grads = _direct_grads(call_d, dz, g_span, db)
        if grads is not None and fused is None:
            value = _direct_value(call_d, loss)
    if grads is None:
        call = _prepare(
            input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing, options
        )
        dt = call.x.dtype
        g = v.check_dout(dout, call.out_shape if reduction == "none" else (), dt)
        loss, grads = _run(call, dout if reduction == "none" else 1.0, want_grad=True)
        value = _reduced(call, loss, dt)
    if reduction != "none":  # the pass for dout = 1, then one scaling: the bits of the class's forward-then-backward
        if g != 1:
            for gi in grads:
                if g == 0:  # d(0 L) = 0, even where the gradient of L is infinite
                    gi[...] = 0
                else:
                    with np.errstate(over="ignore"):
                        gi *= g
    return value, _shaped_grads(grads, input, linear_weight, linear_bias)


# --------------------------------------------------------------------------- adaptive softmax


def _log_softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)  # shifted: exp never overflows
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _plain_setup(input, target, head_weight, head_bias, tails, cutoffs):
    """:func:`_adaptive_setup`'s answer for a batched call of plain arrays that fit (int64 labels in range, the
    head of the input's dtype), without its general checks; ``None`` for every other call (those checks then
    answer, and name what does not fit)."""
    x, t, hw, hb = input, target, head_weight, head_bias
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or hw.__class__ is not np.ndarray:
        return None
    dt = x.dtype
    if dt not in _FMAX or hw.dtype != dt or x.ndim != 2 or hw.ndim != 2 or t.ndim != 1 or t.dtype != np.int64:
        return None
    n, d = x.shape
    cuts = [int(c) for c in cutoffs]
    heads = cuts[0] + len(cuts) - 1
    if n == 0 or t.shape[0] != n or hw.shape != (heads, d) or len(tails) != len(cuts) - 1:
        return None
    if hb is not None and (hb.__class__ is not np.ndarray or hb.dtype != dt or hb.shape != (heads,)):
        return None
    for i, (w1, w2) in enumerate(tails):
        if (
            w1.__class__ is not np.ndarray
            or w2.__class__ is not np.ndarray
            or w1.ndim != 2
            or w1.shape[1] != d
            or w2.shape != (cuts[i + 1] - cuts[i], w1.shape[0])
        ):
            return None
    if n <= 16:  # a few labels: Python's min and max, no reduction
        labels = t.tolist()
        lo, hi = min(labels), max(labels)
    else:
        lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= cuts[-1]:
        return None
    return x, t, hw, hb, cuts, True


def _adaptive_setup(input, target, head_weight, head_bias, tails, cutoffs):
    plain = _plain_setup(input, target, head_weight, head_bias, tails, cutoffs)
    if plain is not None:
        return plain
    x = v.as_float_array(input, "input")
    hw = v.as_float_array(head_weight, "head_weight")
    if hw.ndim != 2:
        raise ValueError(f"head_weight must be a 2-D array (head size, in_features), got shape {hw.shape}")
    if hw.dtype != x.dtype:
        raise TypeError(f"head_weight must have the input's dtype {x.dtype}, got {hw.dtype}")
    in_features = hw.shape[1]
    cutoffs = [int(c) for c in cutoffs]
    n_classes = cutoffs[-1]
    shortlist = cutoffs[0]
    if hw.shape[0] != shortlist + len(cutoffs) - 1:
        raise ValueError(
            f"head_weight must have shape ({shortlist + len(cutoffs) - 1}, {in_features}) "
            f"(shortlist + clusters, in_features), got {hw.shape}"
        )
    hb = None
    if head_bias is not None:
        hb = v.as_float_array(head_bias, "head_bias").astype(x.dtype, copy=False)
        if hb.shape != (hw.shape[0],):
            raise ValueError(f"head_bias must have shape ({hw.shape[0]},), got {hb.shape}")
    if len(tails) != len(cutoffs) - 1:
        raise ValueError(f"tails must hold one (W1, W2) pair per cluster ({len(cutoffs) - 1}), got {len(tails)}")
    for i, (w1, w2) in enumerate(tails):
        size = cutoffs[i + 1] - cutoffs[i]
        if (
            np.ndim(w1) != 2
            or np.shape(w1)[1] != in_features
            or np.ndim(w2) != 2
            or np.shape(w2) != (size, np.shape(w1)[0])
        ):
            raise ValueError(
                f"cluster {i}'s projections must have shapes (h, {in_features}) and ({size}, h), "
                f"got {np.shape(w1)} and {np.shape(w2)}"
            )
    t = np.asarray(target)
    if t.ndim == 1:
        if x.ndim != 2:
            raise ValueError(f"a 1-D target needs a 2-D input (N, {in_features}), got input of shape {x.shape}")
        if x.shape[0] != t.shape[0]:
            raise ValueError(f"input and target must have the same batch size, got {x.shape[0]} and {t.shape[0]}")
    elif t.ndim == 0:
        if x.ndim != 1:
            raise ValueError(f"a 0-D target needs a 1-D input ({in_features},), got input of shape {x.shape}")
    else:
        raise ValueError(f"target must be 0-D or 1-D class indices, got shape {t.shape}")
    if x.shape[-1] != in_features:
        raise ValueError(f"input must have in_features = {in_features} values per sample, got shape {x.shape}")
    t = v.as_class_indices(t, "target", n_classes)
    batched = t.ndim == 1
    return (x if batched else x[None]), (t if batched else t[None]), hw, hb, cutoffs, batched


def adaptive_log_softmax_with_loss(input, target, head_weight, head_bias, tails, cutoffs):
    r"""Adaptive softmax (Grave et al. 2017), ``torch.nn.AdaptiveLogSoftmaxWithLoss.forward``: ``(output, loss)``.

    The head scores the ``cutoffs[0]`` frequent classes and one entry per cluster; a class ``c``
    of cluster ``i`` has :math:`\log p(c) = \log \operatorname{softmax}(h)_{s+i} +
    \log \operatorname{softmax}(W_2^{(i)} W_1^{(i)} x)_{c - \mathrm{cutoffs}_i}`, with
    :math:`h = W_h x + b_h`. ``output`` is :math:`\log p(t_n)` per sample and
    ``loss`` :math:`= -\frac{1}{N}\sum_n \log p(t_n)`.

    Shapes: ``input`` (D,) or (N, D); ``target`` () or (N,) in [0, n_classes); ``head_weight``
    (cutoffs[0] + clusters, D); ``head_bias`` that length or None; ``tails`` one pair
    ``(W1 (h_i, D), W2 (size_i, h_i))`` per cluster; ``cutoffs`` the class boundaries ending with
    ``n_classes``. Raises ``ValueError``/``TypeError`` naming the argument that does not fit.

    >>> import numpy as np
    >>> out, loss = adaptive_log_softmax_with_loss(np.zeros((1, 2)), np.array([0]), np.zeros((2, 2)), None,
    ...                                             [(np.zeros((1, 2)), np.zeros((2, 1)))], [1, 3])
    >>> out.round(4), round(float(loss), 4)
    (array([-0.6931]), 0.6931)
    """
    x, t, hw, hb, cutoffs, batched = _adaptive_setup(input, target, head_weight, head_bias, tails, cutoffs)
    out = _adaptive_pass(x, t, hw, hb, tails, cutoffs, None)[0]
    with np.errstate(over="ignore"):  # a mean beyond the float range is inf
        loss = x.dtype.type(-out.mean(dtype=np.float64))
    return (out if batched else out[0]), loss


def _sums_finite(*arrays) -> bool:
    """Whether every entry is finite, one reduction an array (under ``np.errstate(all="ignore")``): an infinite
    or NaN entry makes a sum infinite or NaN; a sum of finite entries beyond the range says no too, and leaves
    the call to the exact pass, which answers every call."""
    total = 0.0
    for a in arrays:
        if a is not None and a.size:
            total += float(np.add.reduce(a, axis=None))  # Python floats: inf - inf is NaN, without a warning
    return math.isfinite(total)


def _adaptive_pass(x, t, hw, hb, tails, cutoffs, u):
    """log p(t_n) per row, and with ``u`` (d/d output per row) every gradient.

    The pass on finite numbers answers where its results are finite; an infinite or NaN entry that reaches
    them, or a logit beyond the float range, takes the limits of :func:`_adaptive_exact`."""
    dt = x.dtype
    for w1, w2 in tails:
        if w1.__class__ is not np.ndarray or w2.__class__ is not np.ndarray or w1.dtype != dt or w2.dtype != dt:
            tails = [tuple(np.asarray(w, dtype=dt) for w in pair) for pair in tails]
            break
    small = _fast.adaptive_small(x, t, hw, hb, tails, cutoffs, u)  # a few rows: one numba call
    if small is not None:
        return small
    with np.errstate(all="ignore"):  # a logit beyond the range: the exact pass answers
        # an infinite or NaN input that reaches a result makes it infinite or NaN (inf x 0 is NaN, +inf - inf too),
        # which the checks below send to the exact pass; one that reaches none (a cluster without rows, a logit of
        # -inf no row takes) leaves the values the limits give too
        out, grads = _adaptive_fast(x, t, hw, hb, tails, cutoffs, u)
        if _sums_finite(out) and (grads is None or _sums_finite(*grads[:3], *(w for pair in grads[3] for w in pair))):
            return out, grads
    if x.dtype == np.float64:
        return _adaptive_exact(x, t, hw, hb, tails, cutoffs, u)
    # float32: products and their differences fit float64's range; the results rounded back (inf beyond)
    wide = [None if a is None else a.astype(np.float64) for a in (x, hw, hb, u)]
    tails64 = [tuple(w.astype(np.float64) for w in pair) for pair in tails]
    out, grads = _adaptive_exact(wide[0], t, wide[1], wide[2], tails64, cutoffs, wide[3])
    with np.errstate(over="ignore"):
        out = out.astype(x.dtype)
        if grads is not None:
            dx, dhw, dhb, dtails = grads
            grads = (
                dx.astype(x.dtype),
                dhw.astype(x.dtype),
                None if dhb is None else dhb.astype(x.dtype),
                [(a.astype(x.dtype), b.astype(x.dtype)) for a, b in dtails],
            )
    return out, grads


def _adaptive_exact(x, t, hw, hb, tails, cutoffs, u):
    """:func:`_adaptive_fast` on the limits of :mod:`._levels`: each softmax is the limit softmax of its logits
    (polynomials in s), the gradients of the logits are finite, and the linear maps carry them back exactly."""
    lv = _levels
    shortlist, bounds, n = cutoffs[0], [0, *cutoffs], x.shape[0]
    xp = lv.split(x)
    hwp = lv.split(hw)
    head = lv.matmul(xp, lv.transpose(hwp))
    if hb is not None:
        head = lv.add(head, lv.split(hb))
    head_lp = lv.log_softmax_limit(head, axis=1)
    gather = t.copy()
    for i in range(1, len(bounds) - 1):
        gather[(t >= bounds[i]) & (t < bounds[i + 1])] = shortlist + i - 1
    out = head_lp[np.arange(n), gather]
    if u is not None:
        dhead = -np.exp(head_lp) * u[:, None]
        dhead[np.arange(n), gather] += u
        dx_head = lv.matmul(lv.rounded(dhead), hwp)
        dx = lv.value(dx_head)
        dtails = []
    for i in range(1, len(bounds) - 1):
        rows = np.flatnonzero((t >= bounds[i]) & (t < bounds[i + 1]))
        w1, w2 = tails[i - 1]
        if u is not None:
            dw1, dw2 = np.zeros_like(w1), np.zeros_like(w2)
        if rows.size:
            xs = lv.rows(xp, rows)
            w1p, w2p = lv.split(w1), lv.split(w2)
            h = lv.matmul(xs, lv.transpose(w1p))
            lp = lv.log_softmax_limit(lv.matmul(h, lv.transpose(w2p)), axis=1)
            rel = t[rows] - bounds[i]
            out[rows] += lp[np.arange(rows.size), rel]
            if u is not None:  # d/d o = u (onehot - softmax(o)), finite
                do = -np.exp(lp) * u[rows, None]
                do[np.arange(rows.size), rel] += u[rows]
                dw2 = lv.value(lv.matmul(lv.transpose(lv.rounded(do)), h))
                dh = lv.matmul(lv.rounded(do), w2p)
                dw1 = lv.value(lv.matmul(lv.transpose(dh), xs))
                dx[rows] = lv.value(lv.add(lv.rows(dx_head, rows), lv.matmul(dh, w1p)))
        if u is not None:
            dtails.append((dw1, dw2))
    grads = None
    if u is not None:
        dhw = lv.value(lv.matmul(lv.transpose(lv.rounded(dhead)), xp))
        with np.errstate(over="ignore"):
            dhb = None if hb is None else dhead.sum(axis=0)
        grads = (dx, dhw, dhb, dtails)
    return out, grads


def _adaptive_fast(x, t, hw, hb, tails, cutoffs, u):
    """The adaptive softmax on finite numbers. Each softmax's logits are laid out classes first, (classes, rows):
    every reduction then runs over long contiguous rows (NumPy's reductions over a short last axis are slow)."""
    shortlist, n = cutoffs[0], x.shape[0]
    cols = np.arange(n)
    head = _matmul(hw, x.T)
    if hb is not None:
        head += hb[:, None]
    gather = t.copy()
    grads = None
    bounds = [0] + list(cutoffs)
    # each row's cluster (0: the shortlist), and how many rows each holds: a cluster without rows costs nothing
    cluster = np.searchsorted(np.asarray(cutoffs), t, side="right")
    counts = np.bincount(cluster, minlength=len(bounds) - 1)
    parts = []
    for i in range(1, len(bounds) - 1):
        if counts[i]:
            rows = np.flatnonzero(cluster == i)
            gather[rows] = shortlist + i - 1
            parts.append((i, rows))
    out = np.empty(n, x.dtype)
    if _fast.asm_cols(head, gather, u, out):  # numba: the log-softmax's values and gradient in one call
        dhead = head
    else:
        head_lp = _log_softmax_cols(head)
        out = head_lp[gather, cols]
        if u is not None:
            dhead = np.exp(head_lp)
            dhead *= -u  # d/d logits = u (onehot - softmax)
            dhead[gather, cols] += u
    if u is not None:
        dx = _matmul(dhead.T, hw)
        dtails = [(np.zeros_like(w1), np.zeros_like(w2)) for w1, w2 in tails]
    for i, rows in parts:
        w1, w2 = tails[i - 1]
        xs = _fast.take_rows(x, rows)
        h = _matmul(w1, xs.T)
        o = _matmul(w2, h)
        rel = t[rows] - bounds[i]
        ur = None if u is None else u[rows]
        vals = np.empty(rows.size, x.dtype)
        if _fast.asm_cols(o, rel, ur, vals):
            out[rows] += vals
            do = o
        else:
            lp = _log_softmax_cols(o)
            at = np.arange(rows.size)
            out[rows] += lp[rel, at]
            if ur is not None:
                do = np.exp(lp)
                do *= -ur
                do[rel, at] += ur
        if ur is not None:
            dh = _matmul(w2.T, do)
            dtails[i - 1] = (_matmul(dh, xs), _matmul(do, h.T))
            _fast.add_rows(dx, rows, _matmul(dh.T, w1))
    if u is not None:
        grads = (dx, _matmul(dhead, x), None if hb is None else dhead.sum(axis=1), dtails)
    return out, grads


def _log_softmax_cols(z: np.ndarray) -> np.ndarray:
    """The log-softmax of each column of ``z`` (classes, rows), in place."""
    z -= z.max(axis=0)  # shifted: exp never overflows
    z -= np.log(np.exp(z).sum(axis=0))
    return z


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``; with an inner dimension of 1, the outer product by broadcasting: the same values (one product
    each, no sum), without the slow general loop NumPy takes there."""
    return a * b if a.shape[1] == 1 else a @ b


def adaptive_log_softmax_with_loss_backward(dloss, doutput, input, target, head_weight, head_bias, tails, cutoffs):
    r"""Gradients of ``sum(doutput * output) + dloss * loss`` of :func:`adaptive_log_softmax_with_loss`.

    Returns ``(d_input, d_head_weight, d_head_bias or None, [(d_W1, d_W2) per cluster])``. With
    :math:`u_n = g_n - \text{dloss} / N` (``g`` = ``doutput``, or 0), every softmax contributes
    :math:`u_n(\mathrm{onehot} - \operatorname{softmax})` to its logits' gradient, which the linear
    maps carry back: :math:`\partial/\partial W = G^\top a`, :math:`\partial/\partial a = G W`.

    >>> import numpy as np
    >>> grads = adaptive_log_softmax_with_loss_backward(1.0, None, np.ones((1, 2)), np.array([0]), np.zeros((2, 2)),
    ...                                                 None, [(np.zeros((1, 2)), np.zeros((2, 1)))], [1, 3])
    >>> grads[1]
    array([[-0.5, -0.5],
           [ 0.5,  0.5]])
    """
    x, t, hw, hb, cutoffs, batched = _adaptive_setup(input, target, head_weight, head_bias, tails, cutoffs)
    n = x.shape[0]
    g = np.asarray(v.check_dout(dloss, (), x.dtype), dtype=x.dtype)
    if doutput is None:  # the gradients of the loss, then one scaling: the bits of the class's forward-then-backward
        u = np.full(n, -x.dtype.type(1) / x.dtype.type(n), dtype=x.dtype)
    else:
        u = np.full(n, -g / x.dtype.type(n), dtype=x.dtype)
        u = u + np.reshape(v.check_dout(doutput, (n,) if batched else (), x.dtype), -1)
    _, grads = _adaptive_pass(x, t, hw, hb, tails, cutoffs, u)
    if doutput is None and g != 1:
        grads = _scaled_grads(grads, g)
    dx, dhw, dhb, dtails = grads
    return (dx if batched else dx[0]), dhw, dhb, dtails


def _scaled_grads(grads: tuple, g) -> tuple:
    """The adaptive softmax's gradients ``(dx, dhw, dhb or None, [(dW1, dW2), ...])`` times ``g``: 0 gives zeros
    (d(0 L) = 0, even where the gradient of L is infinite), a product beyond the float range inf."""

    def one(a):
        if a is None:
            return None
        if g == 0:
            return np.zeros_like(a)
        with np.errstate(over="ignore"):
            return a * g

    dx, dhw, dhb, dtails = grads
    return one(dx), one(dhw), one(dhb), [(one(a), one(b)) for a, b in dtails]


def adaptive_log_softmax_with_loss_value_and_grad(input, target, head_weight, head_bias, tails, cutoffs):
    """``(output, loss)`` of :func:`adaptive_log_softmax_with_loss` and the gradients of ``loss`` (those of
    :func:`adaptive_log_softmax_with_loss_backward` with ``dloss = 1``, ``doutput = None``), in one pass.

    >>> import numpy as np
    >>> (out, loss), (dx, dhw, dhb, dtails) = adaptive_log_softmax_with_loss_value_and_grad(
    ...     np.ones((1, 2)), np.array([0]), np.zeros((2, 2)), None, [(np.zeros((1, 2)), np.zeros((2, 1)))], [1, 3])
    >>> round(float(loss), 4), dhw
    (0.6931, array([[-0.5, -0.5],
           [ 0.5,  0.5]]))
    """
    x, t, hw, hb, cutoffs, batched = _adaptive_setup(input, target, head_weight, head_bias, tails, cutoffs)
    n = x.shape[0]
    u = np.empty(n, dtype=x.dtype)
    u.fill(-x.dtype.type(1) / x.dtype.type(n))  # d loss / d output, as the backward's
    out, (dx, dhw, dhb, dtails) = _adaptive_pass(x, t, hw, hb, tails, cutoffs, u)
    if n < 8:  # NumPy's float64 sum of fewer than 8 entries is the sequential one: Python's, without errstate
        loss = x.dtype.type(-(sum(out.tolist()) / n))
    else:
        with np.errstate(over="ignore"):  # a mean beyond the float range is inf: out.mean's sum and division
            loss = x.dtype.type(-(np.add.reduce(out, dtype=np.float64) / n))
    return ((out if batched else out[0]), loss), ((dx if batched else dx[0]), dhw, dhb, dtails)


def adaptive_log_prob(input, head_weight, head_bias, tails, cutoffs) -> np.ndarray:
    """Log-probabilities of every class, (N, n_classes) (or (n_classes,) for one sample).

    A row with an infinite input, or logits beyond the float range, gets the limits the loss takes there (the
    row still a distribution, classes infinitely behind at ``-inf``); a NaN input makes its row NaN.

    >>> import numpy as np
    >>> np.exp(adaptive_log_prob(np.zeros(2), np.zeros((2, 2)), None,
    ...                          [(np.zeros((1, 2)), np.zeros((2, 1)))], [1, 3])).round(3)
    array([0.5 , 0.25, 0.25])
    """
    x = v.as_float_array(input, "input")
    dummy = np.zeros(x.shape[:-1], dtype=np.int64)
    x2, _, hw, hb, cutoffs, batched = _adaptive_setup(x, dummy, head_weight, head_bias, tails, cutoffs)
    tails = [tuple(np.asarray(w, dtype=x2.dtype) for w in pair) for pair in tails]
    with np.errstate(all="ignore"):  # a logit beyond the range: the limits answer its row below
        out = _log_prob_rows(x2, hw, hb, tails, cutoffs, np)
    redo = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if redo.size:  # an infinite input, a logit or a difference of logits beyond the range: the loss's limits
        wide = np.float64
        exact = _log_prob_rows(
            _levels.split(x2[redo].astype(wide)),
            _levels.split(hw.astype(wide)),
            None if hb is None else _levels.split(hb.astype(wide)),
            [tuple(_levels.split(w.astype(wide)) for w in pair) for pair in tails],
            cutoffs,
            _levels,
        )
        with np.errstate(over="ignore"):  # beyond float32's range: -inf, as the loss rounds it
            out[redo] = exact.astype(x2.dtype)
    return out if batched else out[0]


def _log_prob_rows(x, hw, hb, tails, cutoffs, lv) -> np.ndarray:
    """:func:`adaptive_log_prob`'s (N, n_classes) on plain arrays (``lv`` NumPy) or on polynomials in s
    (``lv`` :mod:`._levels`, the limits the loss takes at infinite inputs)."""
    exact = lv is _levels
    matmul: Any = _levels.matmul if exact else np.matmul
    tr: Any = _levels.transpose if exact else np.transpose
    log_softmax: Any = (lambda z: _levels.log_softmax_limit(z, axis=1)) if exact else _log_softmax_rows
    head = matmul(x, tr(hw))
    if hb is not None:
        head = _levels.add(head, hb) if exact else head + hb
    head_lp = log_softmax(head)
    shortlist = cutoffs[0]
    out = np.empty((head_lp.shape[0], cutoffs[-1]), dtype=head_lp.dtype)
    out[:, :shortlist] = head_lp[:, :shortlist]
    for i in range(len(cutoffs) - 1):
        w1, w2 = tails[i]
        out[:, cutoffs[i] : cutoffs[i + 1]] = (
            log_softmax(matmul(matmul(x, tr(w1)), tr(w2))) + head_lp[:, shortlist + i, None]
        )
    return out


__all__ += [
    "adaptive_log_softmax_with_loss",
    "adaptive_log_softmax_with_loss_backward",
    "adaptive_log_softmax_with_loss_value_and_grad",
    "adaptive_log_prob",
]


# ------------------------------------------------------------ the adaptive softmax over flat parameters


def adaptive_tail_shapes(in_features: int, cutoffs, div_value: float = 4.0) -> list[tuple[tuple[int, int], ...]]:
    """The shapes ``((h_i, in_features), (size_i, h_i))`` of each cluster's projections, as PyTorch makes them.

    ``cutoffs`` ends with ``n_classes``; ``h_i = in_features // div_value ** (i + 1)``.

    >>> adaptive_tail_shapes(16, [4, 8, 10])
    [((4, 16), (4, 4)), ((1, 16), (2, 1))]
    """
    return [
        (
            (int(in_features // (div_value ** (i + 1))), in_features),
            (cutoffs[i + 1] - cutoffs[i], int(in_features // (div_value ** (i + 1)))),
        )
        for i in range(len(cutoffs) - 1)
    ]


def _check_cutoffs(cutoffs) -> list[int]:
    try:
        cuts = list(cutoffs)
    except TypeError:
        cuts = None
    if (
        cuts is None
        or len(cuts) < 2
        or any(isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral) for c in cuts)
        or cuts != sorted(set(cuts))
        or cuts[0] < 1
    ):
        raise ValueError(
            f"cutoffs must be unique increasing positive integers ending with n_classes "
            f"(PyTorch's cutoffs, then n_classes), got {cutoffs!r}"
        )
    return [int(c) for c in cuts]


def _flat_args(input, head_weight, tail_weight, cutoffs, div_value, reduction):
    """The checked input, head weight, cutoffs and each cluster's (W1, W2) as views of ``tail_weight``."""
    x = v.as_float_array(input, "input")
    v.check_reduction(reduction)
    cuts = _check_cutoffs(cutoffs)
    div = float(v.check_scalar(div_value, "div_value", low=0.0, low_open=True))
    hw = v.as_float_array(head_weight, "head_weight")
    if hw.ndim != 2:
        raise ValueError(f"head_weight must be a 2-D array (cutoffs[0] + clusters, in_features), got shape {hw.shape}")
    shapes = adaptive_tail_shapes(hw.shape[1], cuts, div)
    tw = v.as_float_array(tail_weight, "tail_weight")
    if tw.dtype != x.dtype:
        raise TypeError(f"tail_weight must have the input's dtype {x.dtype}, got {tw.dtype}")
    sizes = [math.prod(s) for pair in shapes for s in pair]
    if tw.shape != (sum(sizes),):
        raise ValueError(
            f"tail_weight must be 1-D with {sum(sizes)} values (the clusters' projections of shapes "
            f"{shapes}, flattened and concatenated), got shape {tw.shape}"
        )
    parts = np.split(tw, np.cumsum(sizes)[:-1])
    flat = [p.reshape(s) for p, s in zip(parts, [s for pair in shapes for s in pair], strict=True)]
    return x, hw, list(zip(flat[0::2], flat[1::2], strict=True)), cuts


def adaptive_log_softmax_loss(
    input,
    target,
    head_weight,
    head_bias,
    tail_weight,
    *,
    cutoffs,
    div_value: float = 4.0,
    reduction: v.Reduction = "mean",
):
    r"""The loss of :class:`~losslab.nn.AdaptiveLogSoftmaxWithLoss`, its parameters given as arrays.

    .. math:: \ell_n = -\log p(t_n)

    with :math:`\log p` the adaptive softmax of :func:`adaptive_log_softmax_with_loss`;
    ``reduction='mean'`` is PyTorch's ``loss`` (the mean of ``-output``), ``'none'`` gives
    ``-output`` per sample and ``'sum'`` its sum. ``tail_weight`` holds every cluster's two
    projections flattened and concatenated in PyTorch's parameter order (``tail.0.0.weight``,
    ``tail.0.1.weight``, ``tail.1.0.weight``, ...: ``torch.nn.utils.parameters_to_vector``'s
    order), of the shapes :func:`adaptive_tail_shapes` gives.

    Shapes: ``input`` (D,) or (N, D); ``target`` () or (N,); ``head_weight`` (cutoffs[0] +
    clusters, D); ``head_bias`` that length or None; ``tail_weight`` 1-D; ``cutoffs`` PyTorch's
    cutoffs followed by ``n_classes``. Raises ``TypeError`` / ``ValueError`` naming the argument
    that does not fit.

    >>> import numpy as np
    >>> float(adaptive_log_softmax_loss(np.zeros((1, 2)), np.array([0]), np.zeros((2, 2)), None, np.zeros(4),
    ...                                 cutoffs=[1, 3], div_value=2.0)).__round__(4)
    0.6931
    """
    x, hw, tails, cuts = _flat_args(input, head_weight, tail_weight, cutoffs, div_value, reduction)
    output, loss = adaptive_log_softmax_with_loss(x, target, hw, head_bias, tails, cuts)
    if reduction == "mean":
        return loss
    with np.errstate(over="ignore"):  # a sum beyond the float range is inf
        return -output.sum() if reduction == "sum" else -output


def adaptive_log_softmax_loss_backward(
    dout,
    input,
    target,
    head_weight,
    head_bias,
    tail_weight,
    *,
    cutoffs,
    div_value: float = 4.0,
    reduction: v.Reduction = "mean",
):
    r"""Gradients of :func:`adaptive_log_softmax_loss`: ``(d_input, d_head_weight, d_head_bias, d_tail_weight)``.

    ``d_head_bias`` is None where ``head_bias`` is; ``d_tail_weight`` is flat, in ``tail_weight``'s
    layout. The gradients are those of :func:`adaptive_log_softmax_with_loss_backward` with
    ``dloss = dout`` ('mean') or ``doutput = -dout`` ('sum', 'none').

    >>> import numpy as np
    >>> dx, dhw, dhb, dtail = adaptive_log_softmax_loss_backward(
    ...     1.0, np.ones((1, 2)), np.array([0]), np.zeros((2, 2)), None, np.zeros(4), cutoffs=[1, 3], div_value=2.0)
    >>> dhw
    array([[-0.5, -0.5],
           [ 0.5,  0.5]])
    """
    x, hw, tails, cuts = _flat_args(input, head_weight, tail_weight, cutoffs, div_value, reduction)
    if reduction == "mean":
        dloss, doutput = dout, None
    else:
        shape = np.shape(target) if reduction == "none" else ()
        g = np.asarray(v.check_dout(dout, shape, x.dtype), dtype=x.dtype)
        dloss, doutput = 0.0, -np.broadcast_to(g, np.shape(target))
    grads = adaptive_log_softmax_with_loss_backward(dloss, doutput, x, target, hw, head_bias, tails, cuts)
    dx, dhw, dhb, dtails = grads
    return dx, dhw, dhb, np.concatenate([w.reshape(-1) for pair in dtails for w in pair])


__all__ += ["adaptive_tail_shapes", "adaptive_log_softmax_loss", "adaptive_log_softmax_loss_backward"]
