"""Which kernel runs a loss call, on how many threads; ``None`` sends the caller to the reference path.

Rules, applied in order:

1. Only the common cases are fused: NumPy float32/float64 inputs, the plain
   options (see :func:`cross_entropy` and :func:`pointwise`). Anything else, and
   anything invalid, returns ``None``: the caller's reference implementation then
   computes the result or raises its usual error.
2. numba kernels when numba imports (the ``fast`` extra) and ``LOSSLAB_NUMBA`` is
   not ``0``; otherwise the blocked NumPy kernels. numba is imported on the first
   call that gets here, never by ``import losslab``.
3. Calls of at least :data:`PARALLEL_MIN` work units (elements times the kernel's ``work``:
   2^18 elements for cross-entropy and BCE-with-logits, 2^20 for the others) run
   on :func:`get_num_threads` threads, split on fixed block boundaries; totals are
   summed in a fixed order, so the result does not depend on the thread count.

The kernels fill the gradient for ``dout = 1`` in the same pass as the loss; the
contract of :mod:`losslab._fast._contract` scales it by ``dout``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validation as v
from . import _numpy

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_F64 = FLOATS[1]
# The kernels' loss output when the caller reduces: size 0 means "keep no per-element loss"
# (never written, never returned), so one shared empty array per dtype serves every call.
_NO_OUT = {d: np.empty(0, d) for d in FLOATS}
REDUCTIONS = ("mean", "sum", "none")
PARALLEL_MIN = 1 << 20  # work units: below this, waking a thread (~40 us here) costs more than it saves
CE_WORK = 4  # work units per element of cross-entropy (exp-heavy, as BCE-with-logits)

_state: dict = {"kernels": None, "threads": None, "pool": None}
_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when one is needed."""
    global _lock
    _state["pool"] = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


# --------------------------------------------------------------------------- backends and threads


def kernels():
    """The numba kernel module, or ``None`` when numba is missing or disabled (``LOSSLAB_NUMBA=0``)."""
    k = _state["kernels"]
    if k is None:
        k = False
        if os.environ.get("LOSSLAB_NUMBA", "1") != "0":
            try:
                from . import _numba as k
            except ImportError:
                k = False
        _state["kernels"] = k
    return k or None


def backend() -> str:
    """``"numba"`` or ``"numpy"``: the kernels the fused paths use in this process."""
    return "numba" if kernels() is not None else "numpy"


def _default_threads() -> int:
    env = os.environ.get("LOSSLAB_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """Threads a large fused call may use (``LOSSLAB_NUM_THREADS``, else the CPUs this process may run on)."""
    n = _state["threads"]
    if n is None:
        n = _state["threads"] = _default_threads()
    return n


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for large fused calls from now on (as ``torch.set_num_threads``)."""
    n = int(v.check_scalar(n, "n", low=1, integer=True))
    with _lock:
        if n != _state["threads"] and _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
            _state["pool"] = None
        _state["threads"] = n


def _parallel(work: int, size: int) -> bool:
    return size * work >= PARALLEL_MIN and get_num_threads() > 1


def _run(task, pieces: int) -> None:
    """``task(lo, hi)`` over ``0:pieces``, split into contiguous ranges, one per thread."""
    threads = min(get_num_threads(), pieces)
    if threads <= 1:
        task(0, pieces)
        return
    with _lock:
        pool = _state["pool"]
        if pool is None:
            pool = _state["pool"] = ThreadPoolExecutor(get_num_threads() - 1, thread_name_prefix="losslab")
    bounds = [pieces * k // threads for k in range(threads + 1)]
    futures = [pool.submit(task, bounds[k], bounds[k + 1]) for k in range(1, threads)]
    task(bounds[0], bounds[1])
    for f in futures:
        f.result()


# --------------------------------------------------------------------------- cross-entropy


def cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.cross_entropy`, or ``None``.

    Fused: a 2-D float input ``(N, C)``, integer class indices ``(N,)``, no
    ``weight``, no label smoothing, any ``ignore_index`` (at least one row not ignored).
    """
    if (
        weight is not None
        or label_smoothing.__class__ not in (int, float)
        or label_smoothing != 0
        or ignore_index.__class__ is not int
        or not -(2**63) <= ignore_index < 2**63
        or not isinstance(reduction, str)
        or reduction not in REDUCTIONS
        or input.__class__ is not np.ndarray
        or target.__class__ is not np.ndarray
    ):
        return None
    x, t = input, target
    if x.ndim != 2 or t.ndim != 1 or x.dtype not in FLOATS or t.dtype.kind not in "iu":
        return None
    n, num_classes = x.shape
    if t.shape[0] != n or n == 0 or num_classes == 0:
        return None
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if t.dtype != np.int64:
        if t.dtype.kind == "u" and t.dtype.itemsize == 8 and t.size and t.max() > np.iinfo(np.int64).max:
            return None
        t = t.astype(np.int64)
    dtype = x.dtype
    mean = reduction == "mean"
    none = reduction == "none"
    g = np.empty_like(x)
    k = kernels()
    parallel = _parallel(CE_WORK, x.size)
    if k is not None and not parallel:
        rowloss = np.empty(n, np.float64) if none else _NO_OUT[_F64]
        valid, total = k.ce_small(x, t, ignore_index, mean, g, rowloss)
        if valid <= 0:
            return None
    else:
        if k is not None:
            valid = k.ce_count(t, num_classes, ignore_index)
            any_ignored = valid != n
            rows = 1
        else:
            valid, any_ignored = _numpy.ce_check(t, num_classes, ignore_index)
            rows = _numpy.ce_block_rows(num_classes)
        if valid <= 0:
            return None
        scale = dtype.type(1) / dtype.type(valid) if mean else dtype.type(1)
        rowloss = np.empty(n, np.float64)
        if k is not None:

            def task(lo, hi):
                k.ce_rows(x, t, ignore_index, scale, g, rowloss, lo * rows, min(hi * rows, n))
        else:

            def task(lo, hi):
                _numpy.ce_rows(x, t, ignore_index, scale, g, rowloss, lo * rows, min(hi * rows, n), any_ignored)

        if parallel:
            _run(task, -(-n // rows))
        else:
            task(0, -(-n // rows))
        total = k.seq_sum(rowloss) if k is not None else float(rowloss.sum())
    with np.errstate(over="ignore"):  # a float64 loss beyond float32's range is inf, its true value
        if none:
            return rowloss.astype(dtype, copy=False), g
        if mean:
            total = total / valid
        return dtype.type(total), g


def cross_entropy_general(x, t, w, wt, denominator, reduction, label_smoothing, ignore_index):
    """Cross-entropy of 2-D logits with class weights ``w`` (None: ones), label smoothing and index
    targets ``t`` with row weights ``wt`` (0 where ignored), or class-probability targets ``t`` of
    ``x``'s shape: ``(loss, gradient for dout=1)``, or ``None`` without numba.

    The caller has checked the call (the definition's layout); ``denominator`` is the 'mean' divisor.
    """
    k = kernels()
    if k is None:
        return None
    n, c = x.shape
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    probs = t.shape == x.shape
    wv = np.ones(c, dtype) if w is None else np.ascontiguousarray(w, dtype)
    q = np.ascontiguousarray(t, dtype) if probs else np.empty((0, c), dtype)
    labels = np.zeros(n, np.int64) if probs else np.where(t != ignore_index, t, -1).astype(np.int64)
    row_w = np.ones(n, dtype) if probs else np.ascontiguousarray(wt, dtype)
    if not probs:
        labels_safe = np.maximum(labels, 0)
        labels = np.where(labels < 0, -1, labels_safe)
        row_w = np.where(labels < 0, 0, row_w).astype(dtype)
    scale = 1.0 / float(denominator) if reduction == "mean" else 1.0
    g = np.empty_like(x)
    rowloss = np.empty(n, np.float64)
    args = (x, labels, q, wv, row_w, float(label_smoothing), float(wv.sum(dtype=np.float64)), scale, g, rowloss)
    if _parallel(CE_WORK, x.size):
        _run(lambda lo, hi: k.ce_general_rows(*args, lo, hi), n)
    else:
        k.ce_general_rows(*args, 0, n)
    if reduction == "none":
        return rowloss.astype(dtype), g
    total = k.seq_sum(rowloss)
    return dtype.type(total / float(denominator) if reduction == "mean" else total), g


def triplet(anchor, positive, negative, margin, p, eps, swap, reduction):
    """``(loss, (grad_a, grad_p, grad_n))`` of the triplet margin loss with the p = 1 or 2 distance, or ``None``.

    Three float arrays of one shape (N, D) (or (D,): one triplet) and dtype, finite options in range, a
    bool ``swap``; numba's kernel, else NumPy's. A distance beyond the float range is left to the definition.
    """
    k = kernels()
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    a, pos, neg = anchor, positive, negative
    if any(u.__class__ is not np.ndarray for u in (a, pos, neg)):
        return None
    if a.ndim == 1 and pos.ndim == 1 and neg.ndim == 1:  # one triplet: a batch of one, the same bits
        hit = triplet(a[None], pos[None], neg[None], margin, p, eps, swap, reduction)
        if hit is None:
            return None
        return (hit[0].reshape(()) if reduction == "none" else hit[0]), tuple(g[0] for g in hit[1])
    if a.ndim != 2 or a.dtype not in FLOATS or pos.dtype != a.dtype or neg.dtype != a.dtype:
        return None
    if pos.shape != a.shape or neg.shape != a.shape or a.size == 0 or swap.__class__ is not bool:
        return None
    if p.__class__ not in (int, float) or p not in (1, 2) or margin.__class__ not in (int, float):
        return None
    if eps.__class__ not in (int, float) or not 0 <= eps < float("inf") or not 0 < margin < float("inf"):
        return None
    n, dim = a.shape
    dtype = a.dtype
    a, pos, neg = (np.ascontiguousarray(u) for u in (a, pos, neg))
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    ga, gp, gn = np.empty_like(a), np.empty_like(a), np.empty_like(a)
    limit = float(np.finfo(dtype).max) ** (0.5 if p == 2 else 1.0) / 2  # beyond: the dtype's own sums overflow
    args = (a, pos, neg, float(margin), int(p), float(dtype.type(eps)), swap, scale, limit, loss, ga, gp, gn)
    if k is None:
        if not _numpy_rows(_numpy.triplet_rows, args, n, dim):
            return None
    elif _parallel(8, a.size):
        _run(lambda lo, hi: k.triplet_rows(*args, lo, hi), n)
    else:
        k.triplet_rows(*args, 0, n)
    if not np.isfinite(loss).all():
        return None
    if reduction == "none":
        return loss.astype(dtype), (ga, gp, gn)
    total = k.seq_sum(loss) if k is not None else float(loss.sum())
    return dtype.type(total / n if reduction == "mean" else total), (ga, gp, gn)


def triplet_cosine(anchor, positive, negative, margin, eps, swap, reduction):
    """``(loss, (grad_a, grad_p, grad_n))`` of the triplet loss with the cosine distance
    (``1 - cosine_similarity``, norms clamped below at ``eps``), or ``None``.

    NumPy's kernel on either backend; three float arrays of one shape (N, D) (or (D,): one triplet) and
    dtype, a finite ``margin`` > 0, a bool ``swap``. Rows with a norm at most ``eps`` go to the definition.
    """
    a, pos, neg = anchor, positive, negative
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    if any(u.__class__ is not np.ndarray for u in (a, pos, neg)):
        return None
    if a.ndim == 1 and pos.ndim == 1 and neg.ndim == 1:  # one triplet: a batch of one, the same bits
        hit = triplet_cosine(a[None], pos[None], neg[None], margin, eps, swap, reduction)
        if hit is None:
            return None
        return (hit[0].reshape(()) if reduction == "none" else hit[0]), tuple(g[0] for g in hit[1])
    if a.ndim != 2 or a.dtype not in FLOATS or pos.dtype != a.dtype or neg.dtype != a.dtype:
        return None
    if pos.shape != a.shape or neg.shape != a.shape or a.size == 0 or swap.__class__ is not bool:
        return None
    if margin.__class__ not in (int, float) or not 0 < margin < float("inf"):
        return None
    n, dim = a.shape
    dtype = a.dtype
    a, pos, neg = (np.ascontiguousarray(u) for u in (a, pos, neg))
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    ga, gp, gn = np.empty_like(a), np.empty_like(a), np.empty_like(a)
    args = (a, pos, neg, float(margin), float(eps), swap, scale, loss, ga, gp, gn)
    if not _numpy_rows(_numpy.triplet_cosine_rows, args, n, dim):
        return None
    if reduction == "none":
        return loss.astype(dtype), (ga, gp, gn)
    total = float(loss.sum())
    return dtype.type(total / n if reduction == "mean" else total), (ga, gp, gn)


def cosine_embedding(input1, input2, target, margin, eps, reduction):
    """``(loss, (grad1, grad2))`` of the cosine embedding loss, or ``None``.

    Two float arrays of one shape (N, D) (or (D,): one pair) and dtype, a target of labels exactly 1 or
    -1, a finite ``margin``; ``eps`` is added inside each squared norm. numba's kernel, else NumPy's.
    """
    k = kernels()
    x1, x2, y = input1, input2, target
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    if any(u.__class__ is not np.ndarray for u in (x1, x2, y)):
        return None
    if x1.ndim == 1 and x2.ndim == 1 and y.ndim == 0:  # one pair: a batch of one, the same bits
        hit = cosine_embedding(x1[None], x2[None], y[None], margin, eps, reduction)
        if hit is None:
            return None
        return (hit[0].reshape(()) if reduction == "none" else hit[0]), tuple(g[0] for g in hit[1])
    if x1.ndim != 2 or x1.dtype not in FLOATS or x2.dtype != x1.dtype or x2.shape != x1.shape or x1.size == 0:
        return None
    if y.shape != x1.shape[:1] or y.dtype.kind not in "iuf" or margin.__class__ not in (int, float):
        return None
    if not -float("inf") < margin < float("inf") or not (np.abs(y) == 1).all():
        return None
    n = x1.shape[0]
    dtype = x1.dtype
    x1, x2 = np.ascontiguousarray(x1), np.ascontiguousarray(x2)
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    g1, g2 = np.empty_like(x1), np.empty_like(x2)
    if k is None:
        args = (x1, x2, y > 0, float(margin), float(eps), scale, loss, g1, g2)
        if not _numpy_rows(_numpy.cosine_embedding_rows, args, n, x1.shape[1]):
            return None
    else:
        args = (x1, x2, (y > 0).astype(np.int8) * 2 - 1, float(margin), float(eps), scale, loss, g1, g2)
        if _parallel(8, x1.size):
            ok = []
            _run(lambda lo, hi: ok.append(k.cosine_embedding_rows(*args, lo, hi)), n)
            if not all(ok):
                return None
        elif not k.cosine_embedding_rows(*args, 0, n):
            return None
    if reduction == "none":
        return loss.astype(dtype), (g1, g2)
    total = k.seq_sum(loss) if k is not None else float(loss.sum())
    return dtype.type(total / n if reduction == "mean" else total), (g1, g2)


def _numpy_rows(rows_fn, args, n: int, dim: int) -> bool:
    """Run a NumPy embedding kernel over its fixed row blocks (on threads for large calls); its verdict."""
    blocks = -(-n // _numpy.embedding_block_rows(dim))
    if not _parallel(8, n * dim):
        return rows_fn(*args, 0, blocks)
    ok: list[bool] = []
    _run(lambda lo, hi: ok.append(rows_fn(*args, lo, hi)), blocks)
    return all(ok)


# --------------------------------------------------------------------------- pointwise losses


@dataclass(frozen=True)
class Pointwise:
    """One elementwise fused loss: its chunk kernel and how its scale factors come from the call.

    ``chunks`` names the ``*_chunks`` function of :mod:`._numba` and :mod:`._numpy`;
    ``work`` is its cost per element (the exp-heavy losses count 4: they go parallel at a
    quarter of the size); ``args(unit, param, one)`` are the kernel's scale arguments,
    from ``unit`` (1, or 1/n for 'mean') and the loss's parameter (``None`` if it has none).
    """

    name: str
    chunks: str
    work: int
    args: Callable[[Any, Any, Any], tuple]
    param: bool = False  # takes a Python number > 0 (Huber's delta, smooth L1's beta)


MSE = Pointwise("mse", "mse_chunks", 1, lambda unit, p, one: (2 * unit,))
L1 = Pointwise("l1", "l1_chunks", 1, lambda unit, p, one: (unit,))
HUBER = Pointwise("huber", "huber_chunks", 1, lambda unit, p, one: (unit, p, one), param=True)
# smooth_l1 = huber(delta=beta) / beta
SMOOTH_L1 = Pointwise("smooth_l1", "huber_chunks", 1, lambda unit, p, one: (unit / p, p, one / p), param=True)
BCE_LOGITS = Pointwise("bce_logits", "bce_logits_chunks", 4, lambda unit, p, one: (unit,))
SOFT_MARGIN = Pointwise("soft_margin", "soft_margin_chunks", 4, lambda unit, p, one: (unit,))
KINDS: dict[str, Pointwise] = {k.name: k for k in (MSE, L1, HUBER, SMOOTH_L1, BCE_LOGITS, SOFT_MARGIN)}


def pointwise(kind, input, target, reduction, param=None):
    """``(loss, gradient for dout=1)`` of an elementwise loss, or ``None``.

    ``kind`` is a :class:`Pointwise` (or its name in :data:`KINDS`); ``param`` is
    Huber's ``delta`` or smooth L1's ``beta`` (a Python number, > 0). Fused: a float
    input array and a real target array of the same shape (cast to the input's dtype), no weights.
    """
    if kind.__class__ is not Pointwise:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
        kind = KINDS[kind]
    if (
        not isinstance(reduction, str)
        or reduction not in REDUCTIONS
        or input.__class__ is not np.ndarray
        or target.__class__ is not np.ndarray
    ):
        return None
    x, t = input, target
    dtype = x.dtype
    if dtype not in FLOATS or t.shape != x.shape or x.size == 0 or t.dtype.kind not in "biuf":
        return None
    if kind.param:
        if param.__class__ not in (int, float) or not 0 < param < float("inf"):
            return None
        param = dtype.type(param)
    n = x.size
    one = dtype.type(1)
    unit = one / dtype.type(n) if reduction == "mean" else one
    x = x.ravel()  # a view when contiguous, else a C-order copy
    t = t.ravel() if t.dtype == dtype else np.ascontiguousarray(t, dtype).reshape(-1)
    g = np.empty_like(x)
    out = np.empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    k = kernels() or _numpy
    fn, args = getattr(k, kind.chunks), kind.args(unit, param, one)
    pieces = -(-n // k.CHUNK)
    partials = np.empty(pieces, np.float64)
    if not _parallel(kind.work, n):
        total = fn(x, t, g, out, *args, 0, pieces, partials)
        if k is _numpy:
            total = float(partials.sum())
    else:
        _run(lambda lo, hi: fn(x, t, g, out, *args, lo, hi, partials), pieces)
        total = k.seq_sum(partials) if k is not _numpy else float(partials.sum())
    shape = input.shape
    if reduction == "none":
        return out.reshape(shape), g.reshape(shape)
    if reduction == "mean":
        total = total / n
    with np.errstate(over="ignore"):  # a float64 total beyond float32's range is inf, its true value
        return dtype.type(total), g.reshape(shape)


# --------------------------------------------------------------------------- BCE-with-logits, weighted


def _period(w, x: np.ndarray) -> np.ndarray | None:
    """``w`` as the flat vector it repeats along ``x``'s last axes (a scalar: one entry), in ``x``'s dtype;
    ``None`` for other broadcasts and for a weight of ``x``'s whole shape."""
    if w is None:
        return np.ones(1, x.dtype)
    if w.__class__ is not np.ndarray or w.dtype.kind != "f" or w.ndim > x.ndim:
        return None
    shape = tuple(w.shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    if shape != x.shape[x.ndim - len(shape) :] or len(shape) == x.ndim:
        return None
    return np.ascontiguousarray(w, x.dtype).reshape(-1)


def bce_logits_weighted(input, target, weight, pos_weight, reduction):
    """``(loss, gradient for dout=1)`` of BCE-with-logits with ``weight`` and/or ``pos_weight``, or ``None``.

    Each weight a scalar or a vector along the input's last axes (one period for both: a scalar repeats
    to the other's length). Float input, a float target of its shape. numba's kernel, else NumPy's.
    """
    k = kernels() or _numpy
    if reduction.__class__ is not str or reduction not in REDUCTIONS or input.__class__ is not np.ndarray:
        return None
    x, t = input, target
    dtype = x.dtype
    if dtype not in FLOATS or t.__class__ is not np.ndarray or t.shape != x.shape or x.size == 0 or t.dtype.kind != "f":
        return None
    w, pw = _period(weight, x), _period(pos_weight, x)
    if w is None or pw is None:
        return None
    period = max(w.size, pw.size)
    if w.size != period:
        w = np.full(period, w[0]) if w.size == 1 else None
    if w is None or (pw.size != period and pw.size != 1):
        return None
    if pw.size != period:
        pw = np.full(period, pw[0])
    n = x.size
    one = dtype.type(1)
    unit = one / dtype.type(n) if reduction == "mean" else one
    x = x.ravel()
    t = t.ravel() if t.dtype == dtype else np.ascontiguousarray(t, dtype).reshape(-1)
    g = np.empty_like(x)
    out = np.empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    step = max(1, k.CHUNK // period) * period
    pieces = -(-n // step)
    partials = np.empty(pieces, np.float64)
    if not _parallel(BCE_LOGITS.work, n):
        total = k.bce_logits_weighted_chunks(x, t, w, pw, g, out, unit, 0, pieces, partials)
    else:
        _run(lambda lo, hi: k.bce_logits_weighted_chunks(x, t, w, pw, g, out, unit, lo, hi, partials), pieces)
        total = k.seq_sum(partials) if k is not _numpy else None
    if k is _numpy:
        total = float(partials.sum())
    shape = input.shape
    if reduction == "none":
        return out.reshape(shape), g.reshape(shape)
    if reduction == "mean":
        total = total / n
    return dtype.type(total), g.reshape(shape)
