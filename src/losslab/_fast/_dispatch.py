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
   about 200,000 elements for cross-entropy and BCE-with-logits, 800,000 for the cheapest) run
   on :func:`get_num_threads` threads, split on fixed block boundaries; totals are
   summed in a fixed order, so the result does not depend on the thread count.

The kernels fill the gradient for ``dout = 1`` in the same pass as the loss; the
contract of :mod:`losslab._fast._contract` scales it by ``dout``.
"""

from __future__ import annotations

import errno
import math
import os
import sys
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
_F32 = FLOATS[0]
_F32_ROUNDS_TO_INF = 2.0**128 - 2.0**103  # float32's largest finite value plus half its last step
_ONE = {d: d.type(1) for d in FLOATS}
_MAX = {d: float(np.finfo(d).max) for d in FLOATS}
_UNITS: dict = {}  # (dtype, n) -> dtype's 1 / n: a NumPy scalar costs ~0.5 us to make, a lookup ~0.1 us
# The kernels' loss output when the caller reduces: size 0 means "keep no per-element loss"
# (never written, never returned), so one shared empty array per dtype serves every call.
_NO_OUT = {d: np.empty(0, d) for d in FLOATS}
REDUCTIONS = ("mean", "sum", "none")
# work units: below this, waking a thread (~40 us here) costs more than it saves. Measured with numba on 2 threads
# (float32 MSE, L1, Huber, smooth L1): at 8e5 elements 5-25% faster on two threads, at 6e5 up to 30% slower
PARALLEL_MIN = 3 << 18
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
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"LOSSLAB_NUM_THREADS must be a positive integer (threads), got {env!r}")
        return n
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


def _split(kernel, args: tuple, units: int, parallel: bool) -> None:
    """``kernel(*args, lo, hi)`` over ``0:units``, split over the threads when ``parallel`` (:func:`_count` for
    kernels that return nothing)."""
    if parallel:
        _run(lambda lo, hi: kernel(*args, lo, hi), units)
    else:
        kernel(*args, 0, units)


# --------------------------------------------------------------------------- large fresh arrays

# A fresh array of many MiB comes from the kernel page by page: each first write to a 4 KiB page traps, and the
# kernel finds, zeroes and maps a page (about 1.5 us here). A kernel that writes a few entries of each row (NLL's
# gradient) spends nearly all its time in these faults, on one thread. Linux's MADV_POPULATE_WRITE (5.14) maps a
# range in one call, without the traps; calls on disjoint ranges run on the threads. Measured, a (131072, 100, 8)
# float64 NLL call (an 838 MB gradient, 4 KiB pages): 305 -> 250 ms on one thread, 309 -> 170 ms on two.
# Only arrays that are fresh: glibc's malloc serves a request below its largest mmap threshold (32 MiB) from its
# heap once a large block has been freed, pages already mapped, where populating walks them for nothing (about
# 0.14 us a page: a (16384, 100) float64 NLL call, a 13 MB gradient, took 0.35 -> 0.81 ms with a 4 MiB threshold).
POPULATE_MIN = 1 << 25  # bytes: from glibc's largest mmap threshold up, malloc maps every request afresh
_MADV_POPULATE_WRITE = 23
_madvise: list = []  # [libc's madvise, the page size]; [None, 0] where there is none (not Linux, before 5.14)


def _libc_madvise():
    if not _madvise:
        fn, page = None, 0
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                fn = ctypes.CDLL(None, use_errno=True).madvise
            except (OSError, AttributeError):
                pass
            else:
                fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
                fn.restype = ctypes.c_int
                page = os.sysconf("SC_PAGE_SIZE")
        _madvise[:] = fn, page
    return _madvise[0]


def _populate(g: np.ndarray, small_pages_only: bool = False) -> np.ndarray:
    """``g``, its whole pages mapped up front (from :data:`POPULATE_MIN` bytes, on Linux, on the threads; with
    ``small_pages_only``, only where arrays get 4 KiB pages: :func:`small_pages`)."""
    if g.nbytes < POPULATE_MIN or (small_pages_only and not small_pages()):
        return g
    if (madvise := _libc_madvise()) is not None:
        page = _madvise[1]
        start = -(-g.ctypes.data // page) * page  # whole pages inside the array
        pages = (g.ctypes.data + g.nbytes - start) // page

        def task(lo: int, hi: int) -> None:
            if madvise(start + lo * page, (hi - lo) * page, _MADV_POPULATE_WRITE) != 0:
                import ctypes

                if ctypes.get_errno() == errno.EINVAL:  # a kernel before 5.14 (ENOMEM: the writes fault the rest)
                    _madvise[0] = None

        _run(task, pages)
    return g


def zeros(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """``np.zeros(shape, dtype)``, its pages mapped up front where that is faster: at least
    :data:`POPULATE_MIN` bytes, on Linux, on :func:`get_num_threads` threads. The contents are NumPy's
    zeros whatever happens: populating writes nothing, and where the kernel refuses, the writes fault
    the pages in as without it."""
    return _populate(np.zeros(shape, dtype))


def empty(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` for a kernel's output, written whole (a gradient; the losses of 'none'): from
    :data:`POPULATE_MIN` bytes, where the array gets 4 KiB pages (:func:`small_pages`), its pages mapped up
    front as :func:`zeros`. Measured, TripletMarginLoss 131072 x 64 float32 (three 32 MiB gradients): 60.9 ->
    54.2 ms on one thread, 40.1 -> 31.3 ms on two; MSELoss and CrossEntropyLoss 131072 float64 10-20% faster."""
    return _populate(np.empty(shape, dtype), small_pages_only=True)


def empty_like(x: np.ndarray) -> np.ndarray:
    """``np.empty_like(x)`` (``x``'s layout), its pages mapped up front as :func:`empty`."""
    return _populate(np.empty_like(x), small_pages_only=True)


_THP: list = []  # the machine's transparent_hugepage/enabled mode: 'always', 'madvise', 'never' ('never' without one)


def _thp_mode() -> str:
    if not _THP:
        mode = "never"
        try:
            with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
                text = f.read()
        except OSError:
            pass
        else:
            if "[" in text:
                mode = text[text.index("[") + 1 : text.index("]")]
        _THP.append(mode)
    return _THP[0]


def _numpy_getter():
    """NumPy's ``_get_madvise_hugepage`` (``numpy._core`` from 2.0, ``numpy.core`` before), or ``None``."""
    import importlib

    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(name)._get_madvise_hugepage
        except (ImportError, AttributeError):
            continue
    return None


_GET_MADVISE_HUGEPAGE = _numpy_getter()


def _numpy_hugepages() -> bool:
    """Whether NumPy asks for huge pages for its large arrays (its ``NUMPY_MADVISE_HUGEPAGE``, now)."""
    if _GET_MADVISE_HUGEPAGE is not None:
        return bool(_GET_MADVISE_HUGEPAGE())
    return os.environ.get("NUMPY_MADVISE_HUGEPAGE", "1") != "0"


def small_pages() -> bool:
    """Whether a fresh array of many MiB gets 4 KiB pages here: transparent huge pages are off, or on request
    only and NumPy does not ask (``NUMPY_MADVISE_HUGEPAGE=0``). With huge pages the faults are few, and a
    kernel that writes its output as it faults the pages in finds them in cache: mapping them first measured
    2-15% slower there, so :func:`empty` leaves them to the writes."""
    mode = _thp_mode()
    return mode == "never" or (mode == "madvise" and not _numpy_hugepages())


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
    g = empty_like(x)
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
        scale = unit_scale(dtype, valid) if mean else _ONE[dtype]
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
    if none:
        return _narrow(rowloss, dtype), g
    return _as_scalar(total / valid if mean else total, dtype), g


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
    g = empty_like(x)
    rowloss = np.empty(n, np.float64)
    args = (x, labels, q, wv, row_w, float(label_smoothing), float(wv.sum(dtype=np.float64)), scale, g, rowloss)
    _split(k.ce_general_rows, args, n, _parallel(CE_WORK, x.size))
    if reduction == "none":
        return _narrow(rowloss, dtype), g
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
    ga, gp, gn = empty_like(a), empty_like(a), empty_like(a)
    limit = _MAX[dtype] ** (0.5 if p == 2 else 1.0) / 2  # beyond: the dtype's own sums overflow
    args = (a, pos, neg, float(margin), int(p), float(dtype.type(eps)), swap, scale, limit, loss, ga, gp, gn)
    if k is None:
        if not _numpy_rows(_numpy.triplet_rows, args, n, dim):
            return None
    else:
        _split(k.triplet_rows, args, n, _parallel(8, a.size))
    if not np.isfinite(loss).all():
        return None
    if reduction == "none":
        return loss.astype(dtype), (ga, gp, gn)
    total = k.seq_sum(loss) if k is not None else float(loss.sum())
    return dtype.type(total / n if reduction == "mean" else total), (ga, gp, gn)


def triplet_cosine(anchor, positive, negative, margin, eps, swap, reduction):
    """``(loss, (grad_a, grad_p, grad_n))`` of the triplet loss with the cosine distance
    (``1 - cosine_similarity``, norms clamped below at ``eps``), or ``None``.

    numba's kernel, else NumPy's; three float arrays of one shape (N, D) (or (D,): one triplet) and
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
    ga, gp, gn = empty_like(a), empty_like(a), empty_like(a)
    args = (a, pos, neg, float(margin), float(eps), swap, scale, loss, ga, gp, gn)
    k = kernels()
    if k is not None:
        if _count(k.triplet_cosine_rows, args, n, _parallel(8, a.size)):
            return None
    elif not _numpy_rows(_numpy.triplet_cosine_rows, args, n, dim):
        return None
    if reduction == "none":
        return loss.astype(dtype), (ga, gp, gn)
    total = k.seq_sum(loss) if k is not None else float(loss.sum())
    return dtype.type(total / n if reduction == "mean" else total), (ga, gp, gn)


_LABEL_TYPES = (np.dtype(np.int64), np.dtype(np.float32), np.dtype(np.float64))  # the label types the kernel takes


def cosine_embedding(input1, input2, target, margin, eps, reduction):
    """``(loss, (grad1, grad2))`` of the cosine embedding loss, or ``None``.

    Two float arrays of one shape (N, D) (or (D,): one pair) and dtype, a target of labels exactly 1 or
    -1, a finite ``margin``; ``eps`` is added inside each squared norm. numba's kernel, else NumPy's.
    """
    k = kernels()
    x1, x2, y = input1, input2, target
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    if x1.__class__ is not np.ndarray or x2.__class__ is not np.ndarray or y.__class__ is not np.ndarray:
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
    if not -math.inf < margin < math.inf:
        return None
    if y.dtype not in _LABEL_TYPES:
        y = y.astype(np.float64)  # exact for every label 1 or -1; anything else stays other than 1 and -1
    if k is None and not (np.abs(y) == 1).all():  # numba's kernel checks the labels in its loop
        return None
    n = x1.shape[0]
    dtype = x1.dtype
    x1, x2 = np.ascontiguousarray(x1), np.ascontiguousarray(x2)
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    g1, g2 = empty_like(x1), empty_like(x2)
    if k is None:
        args = (x1, x2, y > 0, float(margin), float(eps), scale, loss, g1, g2)
        if not _numpy_rows(_numpy.cosine_embedding_rows, args, n, x1.shape[1]):
            return None
    else:
        args = (x1, x2, y, float(margin), float(eps), scale, loss, g1, g2)
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
LOG_COSH = Pointwise("log_cosh", "log_cosh_chunks", 4, lambda unit, p, one: (unit,))
CHARBONNIER = Pointwise("charbonnier", "charbonnier_chunks", 2, lambda unit, p, one: (unit, p), param=True)
KINDS: dict[str, Pointwise] = {
    k.name: k for k in (MSE, L1, HUBER, SMOOTH_L1, BCE_LOGITS, SOFT_MARGIN, LOG_COSH, CHARBONNIER)
}


def _flat_pair(input, target):
    """``(x, t)`` of an elementwise kernel: a float input and a real target of its shape as flat C-order arrays
    of the input's dtype (views where they can be), or ``None`` for any other pair."""
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray:
        return None
    dtype = input.dtype
    if dtype not in FLOATS or target.shape != input.shape or input.size == 0 or target.dtype.kind not in "biuf":
        return None
    if target.dtype == dtype:
        return input.ravel(), target.ravel()
    with np.errstate(over="ignore"):  # a float64 target beyond float32's range is +-inf, as the definitions cast it
        return input.ravel(), np.ascontiguousarray(target, dtype).reshape(-1)


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
    pair = _flat_pair(input, target) if isinstance(reduction, str) and reduction in REDUCTIONS else None
    if pair is None:
        return None
    x, t = pair
    dtype = x.dtype
    if kind.param:
        if param.__class__ not in (int, float) or not 0 < param < float("inf"):
            return None
        param = dtype.type(param)
    n = x.size
    one = _ONE[dtype]
    unit = unit_scale(dtype, n) if reduction == "mean" else one
    g = empty_like(x)
    out = empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    k = kernels() or _numpy
    fn, args = getattr(k, kind.chunks), kind.args(unit, param, one)
    pieces = -(-n // k.chunk(dtype, n))
    partials = np.empty(pieces, np.float64)
    if n * kind.work < PARALLEL_MIN or not _parallel(kind.work, n):
        total = fn(x, t, g, out, *args, 0, pieces, partials)
        if k is _numpy:
            total = _numpy.total(partials)
    else:
        _run(lambda lo, hi: fn(x, t, g, out, *args, lo, hi, partials), pieces)
        total = k.seq_sum(partials) if k is not _numpy else _numpy.total(partials)
    shape = input.shape
    if reduction == "none":
        return out.reshape(shape), g.reshape(shape)
    if reduction == "mean":
        total = total / n
    return _as_scalar(total, dtype), g.reshape(shape)


def unit_scale(dtype: np.dtype, n: int):
    """``dtype.type(1) / dtype.type(n)``, the scale of a mean over ``n`` (the same bits, made once per size)."""
    key = (dtype, n)
    u = _UNITS.get(key)
    if u is None:
        if len(_UNITS) >= 1024:
            _UNITS.clear()
        u = _UNITS[key] = dtype.type(1) / dtype.type(n)
    return u


def _as_scalar(total: float, dtype: np.dtype):
    """``total`` as a scalar of ``dtype``: a float64 total beyond float32's range is +-inf, its true value
    (without the overflow warning, or the cost of an ``np.errstate``, that the cast would take)."""
    if dtype == _F32 and _F32_ROUNDS_TO_INF <= abs(total) < math.inf:
        return dtype.type(math.copysign(math.inf, total))
    return dtype.type(total)


# --------------------------------------------------------------------------- row and chunk kernels


def _count(kernel, args: tuple, units: int, parallel: bool, *tail) -> int:
    """``kernel(*args, lo, hi, *tail)`` over ``0:units``, split over the threads when ``parallel``: the sum of
    what it returns, the count of rows or entries it leaves to the definitions."""
    if not parallel:
        return kernel(*args, 0, units, *tail)
    counts: list[int] = []
    _run(lambda lo, hi: counts.append(kernel(*args, lo, hi, *tail)), units)
    return sum(counts)


def _rows_result(rowloss: np.ndarray, grad: np.ndarray, n: int, reduction: str, dtype: np.dtype, k):
    """``(loss, grad)`` from float64 row losses: the rows for 'none', else their sum in row order (the same
    whatever the threads), divided by ``n`` for 'mean'."""
    if reduction == "none":
        return _narrow(rowloss, dtype), grad
    total = k.seq_sum(rowloss)
    return _as_scalar(total / n if reduction == "mean" else total, dtype), grad


# --------------------------------------------------------------------------- sigmoid focal loss


def sigmoid_focal(input, target, alpha, gamma, reduction):
    """``(loss, gradient for dout=1)`` of the sigmoid focal loss without per-class options, or ``None``.

    numba only; a float input, a real target of its shape (cast to the input's dtype), ``alpha`` <= 1,
    ``gamma`` in 0, 1, 2, 3, 4; finite logits and targets in [0, 1] (else the definitions answer).
    """
    k = kernels()
    if k is None or not isinstance(reduction, str) or reduction not in REDUCTIONS:
        return None
    pair = _flat_pair(input, target)
    if pair is None:
        return None
    x, t = pair
    dtype = x.dtype
    if alpha.__class__ not in (int, float) or not -math.inf < alpha <= 1:
        return None
    if gamma.__class__ not in (int, float) or gamma not in (0, 1, 2, 3, 4):
        return None
    n = x.size
    unit = float(unit_scale(dtype, n)) if reduction == "mean" else 1.0
    g = empty_like(x)
    out = empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    pieces = -(-n // k.chunk(dtype, n))
    partials = np.empty(pieces, np.float64)
    args = (x, t, g, out, unit, float(alpha), int(gamma))
    bad = _count(k.sigmoid_focal_chunks, args, pieces, _parallel(8, n), partials)
    if bad:
        return None
    if reduction == "none":
        return out.reshape(input.shape), g.reshape(input.shape)
    total = k.seq_sum(partials)
    return _as_scalar(total / n if reduction == "mean" else total, dtype), g.reshape(input.shape)


# --------------------------------------------------------------------------- Poly-1 cross-entropy


def poly1(input, target, epsilon, reduction):
    """``(loss, gradient for dout=1)`` of the Poly-1 cross-entropy on (N, C) logits, or ``None``.

    numba only; class indices (N,) in [0, C) or probabilities (N, C) >= 0 of the input's dtype;
    no ``where``, the classes on the last axis; logits below +inf (NaN and +inf: the definitions).
    """
    k = kernels()
    if k is None or not isinstance(reduction, str) or reduction not in REDUCTIONS:
        return None
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray:
        return None
    x, t = input, target
    if x.dtype not in FLOATS or x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        return None
    if epsilon.__class__ not in (int, float) or not -math.inf < epsilon < math.inf:
        return None
    n, c = x.shape
    if t.shape == (n,) and t.dtype.kind in "iu":
        if int(t.min()) < 0 or int(t.max()) >= c:
            return None
        t = t.astype(np.intp, copy=False)
        q = np.empty((0, c), x.dtype)
    elif t.shape == x.shape and t.dtype == x.dtype:
        if not (t >= 0).all() or not (t < math.inf).all():
            return None
        q, t = np.ascontiguousarray(t), np.empty(0, np.intp)
    else:
        return None
    x = np.ascontiguousarray(x)
    dtype = x.dtype
    scale = 1.0 / n if reduction == "mean" else 1.0
    g = empty_like(x)
    rowloss = np.empty(n, np.float64)
    args = (x, t, q, float(epsilon), scale, g, rowloss)
    bad = _count(k.poly1_rows, args, n, _parallel(8, x.size))
    if bad:
        return None
    return _rows_result(rowloss, g, n, reduction, dtype, k)


# --------------------------------------------------------------------------- Crammer-Singer hinge


def multiclass_hinge(input, target, reduction):
    """``(loss, gradient for dout=1)`` of the multi-class hinge on (N, C) scores, or ``None``.

    numba only; class indices (N,) in [0, C); scores below +inf, not all -inf in a row (else the definitions).
    """
    k = kernels()
    if k is None or not isinstance(reduction, str) or reduction not in REDUCTIONS:
        return None
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray:
        return None
    x, t = input, target
    if x.dtype not in FLOATS or x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        return None
    n, c = x.shape
    if t.shape != (n,) or t.dtype.kind not in "iu" or int(t.min()) < 0 or int(t.max()) >= c:
        return None
    x, t = np.ascontiguousarray(x), t.astype(np.intp, copy=False)
    dtype = x.dtype
    scale = unit_scale(dtype, n) if reduction == "mean" else _ONE[dtype]
    g = empty_like(x)
    rowloss = np.empty(n, np.float64)
    bad = _count(k.multiclass_hinge_rows, (x, t, scale, g, rowloss), n, _parallel(2, x.size))
    if bad:
        return None
    return _rows_result(rowloss, g, n, reduction, dtype, k)


# --------------------------------------------------------------------------- softmax focal loss


_NO_FOCAL_W = {d: np.empty(0, d) for d in FLOATS}


def focal(input, target, gamma, weight, ignore_index, reduction):
    """``(loss, gradient for dout=1)`` of the softmax focal loss on (N, C) logits, or ``None``.

    numba only; class indices (N,), ``weight`` None or a finite float (C,) array, ``ignore_index`` an int;
    logits below +inf and not all -inf in a row, labels in [0, C) where not ignored; for 'mean' at least
    one row kept with a nonzero weight sum (else the definitions answer, as for every other case).
    """
    k = kernels()
    if k is None or not isinstance(reduction, str) or reduction not in REDUCTIONS:
        return None
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray:
        return None
    x, t = input, target
    if x.dtype not in FLOATS or x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        return None
    n, c = x.shape
    if t.shape != (n,) or t.dtype.kind not in "iu" or ignore_index.__class__ is not int:
        return None
    if gamma.__class__ not in (int, float) or not 0 <= gamma < math.inf:
        return None
    dtype = x.dtype
    if weight is None:
        w = _NO_FOCAL_W[dtype]
    elif weight.__class__ is np.ndarray and weight.shape == (c,) and weight.dtype.kind == "f":
        w = np.ascontiguousarray(weight, dtype)  # a weight not finite: the kernel declines every row
    else:
        return None
    if not -(2**62) < ignore_index < 2**62:
        return None
    x, t = np.ascontiguousarray(x), t.astype(np.int64, copy=False)
    g = empty_like(x)
    rowloss = np.empty(n, np.float64)
    rowweight = np.empty(n, np.float64)
    args = (x, t, w, ignore_index, float(gamma), g, rowloss, rowweight)
    bad = _count(k.focal_rows, args, n, _parallel(8, x.size))
    if bad:
        return None
    if reduction == "none":
        return _narrow(rowloss, dtype), g
    total = k.seq_sum(rowloss)
    if reduction == "mean":
        # the definitions' denominator: the count of kept rows (the kernel's row weights are 1 and 0: their
        # sum is the count), or the sum of their weights in the dtype (one row: its weight, rounded)
        if weight is None:
            denominator = k.seq_sum(rowweight)
        elif n == 1:
            denominator = float(dtype.type(rowweight[0]))
        else:
            denominator = float(rowweight.astype(dtype).sum(dtype=dtype))
        if denominator == 0:
            return None
        total /= denominator
        np.multiply(g, dtype.type(1) / dtype.type(denominator), out=g)
    return _as_scalar(total, dtype), g


# --------------------------------------------------------------------------- sparsemax loss


def sparsemax_loss(input, target, reduction):
    """``(loss, gradient for dout=1)`` of the multi-class sparsemax loss on (N, C) scores, or ``None``.

    numba only; class indices (N,) in [0, C) or finite probabilities (N, C) >= 0 of the input's dtype;
    scores below +inf and not all -inf in a row (else the definitions answer).
    """
    k = kernels()
    if k is None or not isinstance(reduction, str) or reduction not in REDUCTIONS:
        return None
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray:
        return None
    x, t = input, target
    if x.dtype not in FLOATS or x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        return None
    n, c = x.shape
    dtype = x.dtype
    if t.shape == (n,) and t.dtype.kind in "iu":
        if int(t.min()) < 0 or int(t.max()) >= c:
            return None
        t, q = t.astype(np.intp, copy=False), np.empty((0, c), dtype)
    elif t.shape == x.shape and t.dtype == dtype:
        if not (t >= 0).all() or not (t < math.inf).all():
            return None
        t, q = np.empty(0, np.intp), np.ascontiguousarray(t)
    else:
        return None
    x = np.ascontiguousarray(x)
    scale = unit_scale(dtype, n) if reduction == "mean" else _ONE[dtype]
    g = empty_like(x)
    rowloss = np.empty(n, np.float64)
    args = (x, t, q, scale, g, rowloss)
    bad = _count(k.sparsemax_loss_rows, args, n, _parallel(8, x.size))
    if bad:
        return None
    return _rows_result(rowloss, g, n, reduction, dtype, k)


# --------------------------------------------------------------------------- Poisson NLL


def poisson_nll(input, target, log_input, full, eps, reduction):
    """``(loss, gradient for dout=1)`` of the Poisson negative log-likelihood, or ``None``.

    A float input, a real target of its shape (cast to the input's dtype), boolean ``log_input`` and ``full``,
    ``eps`` >= 0; entries in the kernel's domain (numba: |x| <= 700 for log inputs, 87 in float32, x + eps > 0
    otherwise, finite targets >= 0; NumPy: finite terms), else the definitions answer.
    """
    k = kernels() or _numpy
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        return None
    pair = _flat_pair(input, target)
    if pair is None:
        return None
    x, t = pair
    dtype = x.dtype
    if log_input.__class__ is not bool or full.__class__ is not bool:
        return None
    if eps.__class__ not in (int, float) or not 0 <= eps < math.inf:
        return None
    n = x.size
    g = empty_like(x)
    pieces = -(-n // k.chunk(dtype, n))
    partials = np.empty(pieces, np.float64)
    unit_x = unit_scale(dtype, n) if reduction == "mean" else _ONE[dtype]
    out = empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    # in x's dtype, as the definition: e^x - t x (param: the largest x), or x - t log(x + eps) (param: eps)
    param = dtype.type(_POISSON_XMAX[dtype] if log_input else eps)
    args = (x, t, log_input, full, param, unit_x, out, g)
    bad = _count(k.poisson_chunks, args, pieces, pieces > 1 and _parallel(4, n), partials)
    if bad:
        return None
    if reduction == "none":
        return out.reshape(input.shape), g.reshape(input.shape)
    total = k.seq_sum(partials) if k is not _numpy else _numpy.total(partials)
    return _as_scalar(total / n if reduction == "mean" else total, dtype), g.reshape(input.shape)


# |x| of a log input within which e^x and e^-x are normal numbers of the dtype: beyond, the definitions answer
_POISSON_XMAX = {_F32: 87.0, _F64: 700.0}


# --------------------------------------------------------------------------- quantile (pinball) loss


def quantile(input, target, quantiles, reduction):
    """``(loss, gradient for dout=1)`` of the pinball loss on (N, Q) predictions, or ``None``.

    numba only; a real (N,) target, levels a tuple, list or float array of Q numbers strictly in (0, 1).
    """
    k = kernels()
    if k is None or reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray:
        return None
    x, t = input, target
    dtype = x.dtype
    if dtype not in FLOATS or x.ndim != 2 or x.size == 0 or t.shape != x.shape[:1] or t.dtype.kind not in "biuf":
        return None
    n, nq = x.shape
    qq = _quantile_levels(quantiles, dtype, nq, n)
    if qq is None:
        return None
    rows = _quantile_rows(nq)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if t.dtype != dtype:
        with np.errstate(over="ignore"):  # a float64 target beyond float32's range is +-inf, as the definition casts it
            t = t.astype(dtype)
    size = x.size
    scale = unit_scale(dtype, size) if reduction == "mean" else _ONE[dtype]
    g = empty((n, nq), dtype)
    out = empty((n, nq), dtype) if reduction == "none" else _NO_OUT[dtype]
    pieces = -(-n // rows)
    partials = np.empty(pieces, np.float64)
    args = (x.reshape(-1), t, qq, rows, scale, g.reshape(-1), out.reshape(-1))
    if _parallel(1, size):
        _run(lambda lo, hi: k.quantile_chunks(*args, lo, hi, partials), pieces)
    else:
        k.quantile_chunks(*args, 0, pieces, partials)
    if reduction == "none":
        return out, g
    total = k.seq_sum(partials)
    return _as_scalar(total / size if reduction == "mean" else total, dtype), g


def _quantile_rows(nq: int) -> int:
    """Rows per chunk of the flat pinball kernel: about 2^14 elements, which stay in L2 between its loops."""
    return max(1, (1 << 14) // nq)


_QUANTILE_LEVELS: dict = {}  # (levels, dtype, rows) -> the levels repeated over a chunk's rows, for tuple levels


def _quantile_levels(quantiles, dtype: np.dtype, nq: int, n: int) -> np.ndarray | None:
    """The Q levels in ``dtype``, repeated over min(rows per chunk, n) rows, or ``None`` for levels the kernel
    leaves to the definition (not Q real numbers strictly in (0, 1))."""
    cls = quantiles.__class__
    rows = min(_quantile_rows(nq), n)
    if cls is tuple or cls is list:
        if len(quantiles) != nq:
            return None
        key = (tuple(quantiles), dtype.char, rows) if cls is tuple else None
        hit = _QUANTILE_LEVELS.get(key) if key is not None else None
        if hit is not None:
            return hit
        if not all(v.__class__ in (int, float) for v in quantiles):
            return None
        levels = np.array(quantiles, np.float64)
    elif cls is np.ndarray and quantiles.dtype.kind == "f":
        key = None
        levels = quantiles
    else:
        return None
    if levels.shape != (nq,) or not ((levels > 0) & (levels < 1)).all():
        return None
    qq = np.tile(levels.astype(dtype), rows)
    if key is not None:
        if len(_QUANTILE_LEVELS) >= 64:
            _QUANTILE_LEVELS.clear()
        _QUANTILE_LEVELS[key] = qq
    return qq


# --------------------------------------------------------------------------- Gaussian NLL


def gaussian_nll(input, target, var, full, eps, reduction):
    """``(loss, (grad input, grad var))`` of the Gaussian NLL for dout = 1, or ``None``.

    numba only; a float input of at least one dimension, a float target of its shape, ``var`` a float
    array of the input's shape (heteroscedastic) or that shape with its last dimension dropped or set
    to 1, entries >= 0; everything finite (else the definitions answer). The clamp at ``eps`` and the log of
    the variance are the kernel's.
    """
    k = kernels()
    if k is None or not isinstance(reduction, str) or reduction not in REDUCTIONS:
        return None
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray or var.__class__ is not np.ndarray:
        return None
    x, t = input, target
    dtype = x.dtype
    if dtype not in FLOATS or x.ndim == 0 or x.size == 0 or t.shape != x.shape or t.dtype != dtype:
        return None
    if var.dtype.kind != "f" or full.__class__ is not bool or eps.__class__ not in (int, float):
        return None
    if not 0 <= eps < math.inf:
        return None
    shape = x.shape
    if var.shape == shape:
        per_row = False
    elif (var.shape == shape[:-1] or var.shape == shape[:-1] + (1,)) and reduction != "none":
        per_row = True  # ('none': a row's summed variance gradient does not scale by a per-entry dout)
    else:
        return None
    dim = shape[-1]
    rows = x.size // dim
    x2 = np.ascontiguousarray(x).reshape(rows, dim)
    t2 = np.ascontiguousarray(t).reshape(rows, dim)
    if var.dtype == dtype and var.flags.c_contiguous:  # nothing to cast (np.errstate costs ~1.3 us, a B = 1 call ~10)
        v2 = var.reshape(rows, 1 if per_row else dim)
    else:
        with np.errstate(over="ignore"):  # a float64 variance beyond float32's range is inf: the kernel refuses it
            v2 = np.ascontiguousarray(var, dtype).reshape(rows, 1 if per_row else dim)
    n = x.size
    gscale = float(unit_scale(dtype, n)) if reduction == "mean" else 1.0
    constant = 0.5 * math.log(2 * math.pi) if full else 0.0
    gx = empty_like(x2)
    gv = empty((rows, 1 if per_row else dim), dtype)
    out = empty((rows, dim), np.float64) if reduction == "none" else _NO_LOSS
    rowsum = np.empty(rows, np.float64)
    args = (x2, t2, v2, float(dtype.type(eps)), per_row, gscale, constant, gx, gv, out, rowsum)
    if _count(k.gaussian_nll_rows, args, rows, rows > 1 and _parallel(2, n)):
        return None
    grads = gx.reshape(shape), gv.reshape(var.shape)
    if reduction == "none":
        return _narrow(out, dtype).reshape(shape), grads
    total = k.seq_sum(rowsum)
    return _as_scalar(total / n if reduction == "mean" else total, dtype), grads


# --------------------------------------------------------------------------- Dice and Tversky, plain options


DICE, TVERSKY, GENERALIZED_DICE = 0, 1, 2  # the overlap kernel's losses
_W_TYPES = {"square": 0, "simple": 1, "uniform": 2}
# the kernel's activation codes (0: none, 1: sigmoid, 2: softmax over the classes), for C > 1 and for C = 1
_ACTS = {"none": 0, "auto": 2, "sigmoid": 1, "softmax": 2}
_ACTS_ONE = {"none": 0, "auto": 1, "sigmoid": 1, "softmax": -1}  # softmax=True needs two classes: its error
_MODES = {"none": 0, "mean": 1, "sum": 2}


def overlap(input, target, kind, smooth, act, alpha, beta, ignore_index, reduction, w_type="square"):
    """``(loss, gradient for dout=1)`` of the soft Dice (``kind`` :data:`DICE`), Tversky (:data:`TVERSKY`) or
    generalized Dice (:data:`GENERALIZED_DICE`, weights ``w_type``) loss with the plain options
    (``include_background``, no ``weight``, 'macro' per sample, class axis 1) and the activation ``act``:
    ``"none"`` (probabilities), ``"auto"`` (``logits=True``: sigmoid for one class, else softmax),
    ``"sigmoid"`` or ``"softmax"`` (two classes at least); or ``None``.
    numba only; (N, C, ...) float input, a float target of its shape or integer class indices (N, ...).
    """
    k = kernels()
    x, t = input, target
    if (
        k is None
        or x.__class__ is not np.ndarray
        or t.__class__ is not np.ndarray
        or reduction.__class__ is not str
        or ignore_index.__class__ is not int
        or not -(2**62) < ignore_index < 2**62
    ):
        return None
    # every check is cheap and inline: at B = 1 this is most of the call's time
    dtype = x.dtype
    shape = x.shape
    mode = _MODES.get(reduction)
    wt = _W_TYPES.get(w_type) if w_type.__class__ is str else None
    if mode is None or wt is None or (dtype is not _F32 and dtype is not _F64) or len(shape) < 2 or x.size == 0:
        return None
    if not (
        (smooth.__class__ is float or smooth.__class__ is int)
        and 0 <= smooth < math.inf
        and (alpha.__class__ is float or alpha.__class__ is int)
        and 0 <= alpha < math.inf
        and (beta.__class__ is float or beta.__class__ is int)
        and 0 <= beta < math.inf
    ):
        return None
    n, c = shape[0], shape[1]
    code = (_ACTS if c > 1 else _ACTS_ONE).get(act, -1)
    if code < 0:
        return None
    x3 = x.reshape(n, c, -1) if x.flags.c_contiguous else np.ascontiguousarray(x).reshape(n, c, -1)
    td: np.ndarray
    ti: np.ndarray
    if t.shape == shape and t.dtype.kind == "f":
        if t.dtype.itemsize > dtype.itemsize:  # a narrowing cast could overflow: the definitions say how
            return None
        td = t if t.dtype is dtype and t.flags.c_contiguous else np.ascontiguousarray(t, dtype)
        td, ti = td.reshape(x3.shape), _NO_T
    elif t.shape == shape[:1] + shape[2:] and t.dtype.kind in "iu":
        td, ti = _NO_Q[dtype], (t if t.dtype is _I64 else t.astype(np.int64)).reshape(n, -1)
    else:
        return None
    g = empty(x3.shape, dtype)
    rowloss = np.empty(n, np.float64)
    scale = 1.0 / n if mode == 1 else 1.0
    args = (x3, td, ti, kind, code, float(smooth), float(alpha), float(beta), wt, ignore_index, scale, g)
    if _parallel(8, x3.size):
        bad = _count(k.overlap_rows, args + (rowloss,), n, True)
    else:
        bad = k.overlap_rows(*args, rowloss, 0, n)
    if bad:
        return None
    # every sample's loss lies in [0, 1]: float32 holds them and their total
    if mode == 0:
        return (rowloss if dtype is _F64 else rowloss.astype(dtype)), g.reshape(shape)
    total = k.seq_sum(rowloss) if n > 1 else rowloss[0]
    return dtype.type(total / n if mode == 1 else total), g.reshape(shape)


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
    one = _ONE[dtype]
    unit = unit_scale(dtype, n) if reduction == "mean" else one
    x = x.ravel()
    t = t.ravel() if t.dtype == dtype else np.ascontiguousarray(t, dtype).reshape(-1)
    g = empty_like(x)
    out = empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    step = max(1, k.chunk(dtype, n) // period) * period
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


# --------------------------------------------------------------------------- CTC

CTC_WORK = 16  # work units per (frame, sequence, class) entry: the two recursions walk 2 L + 1 states per frame


def _int64(a) -> np.ndarray | None:
    """An integer array (or scalar) as int64 (a copy only when it is another integer type), else ``None``."""
    if a.__class__ is int or isinstance(a, np.integer):
        a = np.asarray(a)
    if a.__class__ is not np.ndarray or a.dtype.kind not in "iu":
        return None
    if a.dtype == np.int64:
        return a
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        return None
    return a.astype(np.int64)


def ctc(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.ctc_loss`, or ``None``.

    numba's kernel, else NumPy's (:func:`ctc_numpy`). Fused: float (T, N, C) log-probabilities with
    padded (N, S) or concatenated integer targets and (N,) integer lengths, or one (T, C) sequence with
    1-D targets and 0-d lengths; a reducing ``reduction`` ('mean' or 'sum'); every loss finite or
    ``zero_infinity``. The checks on values run in the kernel, which answers ``None`` for every call the
    definition would refuse.
    """
    k = kernels()
    if reduction.__class__ is not str or reduction not in ("mean", "sum"):
        return None
    if zero_infinity.__class__ is not bool or blank.__class__ is not int:
        return None
    lp = log_probs
    if lp.__class__ is not np.ndarray or lp.dtype not in FLOATS or lp.size == 0:
        return None
    il, tl, tg = _int64(input_lengths), _int64(target_lengths), _int64(targets)
    if il is None or tl is None or tg is None:
        return None
    if lp.ndim == 3:
        t_max, n, c = lp.shape
        if il.shape != (n,) or tl.shape != (n,) or tg.ndim not in (1, 2) or (tg.ndim == 2 and tg.shape[0] != n):
            return None
        width = tg.shape[1] if tg.ndim == 2 else -1
    elif lp.ndim == 2:
        t_max, c = lp.shape
        n = 1
        if il.shape != () or tl.shape != () or tg.ndim != 1:
            return None
        width = tg.shape[0]
        if width != tl:
            return None
        lp = lp[:, np.newaxis, :]
        il, tl = il.reshape(1), tl.reshape(1)
    else:
        return None
    if not 0 <= blank < c:
        return None
    flat = np.ascontiguousarray(tg).reshape(-1)
    if k is None:
        return ctc_numpy(lp, flat, width, il, tl, blank, reduction, log_probs.ndim)
    off = k.ctc_offsets(tl, width, flat.size)
    if off is None:
        return None
    dtype = lp.dtype
    lp = np.ascontiguousarray(lp)
    mean = reduction == "mean"
    limit = _MAX[dtype] / (8.0 * (t_max + 1))
    grad = empty(lp.shape, dtype)
    loss = np.empty(n, np.float64)
    args = (lp, flat, off, il, tl, blank, zero_infinity, mean, limit, grad, loss)
    if n > 1 and _parallel(CTC_WORK, lp.size):
        status: list[int] = []
        _run(lambda lo, hi: status.append(k.ctc_rows(*args, lo, hi)), n)
        if any(status):
            return None
    elif k.ctc_rows(*args, 0, n):
        return None
    if mean:
        loss /= np.maximum(tl, 1)
    total = k.seq_sum(loss)
    if mean:
        total /= n
    return _as_scalar(total, dtype), (grad if log_probs.ndim == 3 else grad[:, 0, :])


# --------------------------------------------------------------------------- multi-class margin


def multi_margin(input, target, p, margin, weight, reduction):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.multi_margin_loss`, or ``None``.

    numba only. Fused: (N, C) float scores, (N,) signed integer labels, p = 1 or 2, a finite margin,
    no weight or a float (C,) weight; the label range and the finiteness of the scores are checked in
    the kernel, which answers ``None`` where the definition decides (an error, a non-finite score or loss).
    """
    k = kernels()
    x, t = input, target
    if k is None or x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in FLOATS:
        return None
    if x.ndim != 2 or t.dtype.kind != "i" or x.size == 0 or t.shape != x.shape[:1]:
        return None
    if reduction.__class__ is not str or reduction not in REDUCTIONS or p.__class__ is not int or p not in (1, 2):
        return None
    if margin.__class__ not in (int, float) or not -np.inf < margin < np.inf:
        return None
    n, c = x.shape
    dtype = x.dtype
    if weight is None:
        w = np.ones(c, dtype)
    elif weight.__class__ is not np.ndarray or weight.dtype.kind != "f" or weight.shape != (c,):
        return None
    else:
        w = np.ascontiguousarray(weight, dtype)
    x = np.ascontiguousarray(x)
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    g = empty_like(x)
    args = (x, t, p, dtype.type(margin), w, _MAX[dtype], scale, loss, g)
    if _parallel(2, x.size):
        ok: list[bool] = []
        _run(lambda lo, hi: ok.append(k.multi_margin_rows(*args, lo, hi)), n)
        if not all(ok):
            return None
    elif not k.multi_margin_rows(*args, 0, n):
        return None
    if reduction == "none":
        return loss.astype(dtype), g
    total = k.seq_sum(loss)
    return _as_scalar(total / n if reduction == "mean" else total, dtype), g  # beyond float32's range: inf


# --------------------------------------------------------------------------- KL divergence

_BIG = {d: float(np.finfo(d).max) / 4 for d in FLOATS}  # products past this may overflow in the dtype


def kl_div(input, target, reduction, log_target):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.kl_div`, or ``None``.

    numba's kernel, else NumPy's. Fused: a float input of at least one dimension and a float target of its
    shape, every entry finite, probabilities >= 0 (``log_target=False``); the entries are checked in the
    kernel, which answers ``None`` for every call the definition would refuse or take a limit in.
    """
    k = kernels()
    x, t = input, target
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or log_target.__class__ is not bool:
        return None
    if reduction.__class__ is not str or reduction not in ("none", "mean", "sum", "batchmean"):
        return None
    dtype = x.dtype
    if dtype not in FLOATS or t.shape != x.shape or x.ndim == 0 or x.size == 0 or t.dtype.kind != "f":
        return None
    n = x.size
    divisor = n if reduction == "mean" else x.shape[0] if reduction == "batchmean" else 1
    xf = x.ravel()
    tf = t.ravel() if t.dtype == dtype else np.ascontiguousarray(t, dtype).reshape(-1)
    if log_target and k is not None:
        return _kl_div_log(k, xf, tf, x.shape, divisor, reduction)
    if k is None:
        k = _numpy
    out = empty(n, np.float64 if k is not _numpy else dtype) if reduction == "none" else _NO_OUT[_F64]
    g = empty(n, dtype)
    pieces = -(-n // k.chunk(dtype, n))
    partials = np.empty(pieces, np.float64)
    scale = unit_scale(dtype, divisor)
    args: tuple
    if k is not _numpy and not log_target:  # numba: log t in the kernel, chunk by chunk
        kernel, args = k.kl_div_prob_chunks, (xf, tf, scale, _BIG[dtype], out, g)
    else:
        # g = log t (or exp t) by NumPy's vectorised functions; log 0, log of a negative and an exp beyond the
        # range are quiet here: the kernel selects around log 0 and refuses the others
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            (np.exp if log_target else np.log)(tf, out=g)
        kernel, args = k.kl_div_chunks, (xf, tf, log_target, scale, _BIG[dtype], out, g)
    if pieces > 1 and _parallel(4, n):
        ok: list[bool] = []
        _run(lambda lo, hi: ok.append(kernel(*args, lo, hi, partials)), pieces)
        if not all(ok):
            return None
    elif not kernel(*args, 0, pieces, partials):
        return None
    if reduction == "none":
        return out.astype(dtype, copy=False).reshape(x.shape), g.reshape(x.shape)
    total = (k.seq_sum(partials) if k is not _numpy else _numpy.total(partials)) / divisor
    return _as_scalar(total, dtype), g.reshape(x.shape)  # beyond float32's range: inf, without an errstate


def _kl_div_log(k, x: np.ndarray, t: np.ndarray, shape: tuple, divisor: int, reduction: str):
    """:func:`kl_div` with ``log_target``: ``exp(t)`` in the kernel, in the chunk that uses it."""
    dtype = x.dtype
    n = x.size
    out = empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    g = empty(n, dtype)
    pieces = -(-n // k.chunk(dtype, n))
    partials = np.empty(pieces, np.float64)
    args = (x, t, dtype.type(_POISSON_XMAX[dtype]), unit_scale(dtype, divisor), _BIG[dtype], out, g)
    if _parallel(4, n):
        ok: list[bool] = []
        _run(lambda lo, hi: ok.append(k.kl_div_log_chunks(*args, lo, hi, partials)), pieces)
        if not all(ok):
            return None
    elif not k.kl_div_log_chunks(*args, 0, pieces, partials):
        return None
    if reduction == "none":
        return out.reshape(shape), g.reshape(shape)
    return _as_scalar(k.seq_sum(partials) / divisor, dtype), g.reshape(shape)


# --------------------------------------------------------------------------- multi-label margin


def multilabel_margin(input, target, reduction):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.multilabel_margin_loss`, or ``None``.

    Fused: float scores (C,) or (N, C), signed integer label lists of their shape; the values (labels in
    [-1, C), finite scores) are checked in the kernel (numba's, else NumPy's: :func:`multilabel_margin_numpy`),
    which answers ``None`` where the definition decides.
    """
    k = kernels()
    x, t = input, target
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in FLOATS:
        return None
    if x.ndim not in (1, 2) or t.shape != x.shape or t.dtype.kind != "i" or x.size == 0:
        return None
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    c = x.shape[-1]
    dtype = x.dtype
    x2, t2 = np.ascontiguousarray(x).reshape(-1, c), t.reshape(-1, c)
    if k is None:
        return multilabel_margin_numpy(x2, t2, reduction, x.shape)
    n = x2.shape[0]
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    g = empty_like(x2)
    args = (x2, t2, _ONE[dtype], _MAX[dtype], scale, loss, g)
    if _parallel(2 * c, n):
        ok: list[bool] = []
        _run(lambda lo, hi: ok.append(k.multilabel_margin_rows(*args, lo, hi)), n)
        if not all(ok):
            return None
    elif not k.multilabel_margin_rows(*args, 0, n):
        return None
    if reduction == "none":
        return loss.astype(dtype).reshape(x.shape[:-1]), g.reshape(x.shape)
    total = k.seq_sum(loss)
    return _as_scalar(total / n if reduction == "mean" else total, dtype), g.reshape(x.shape)  # beyond: inf


# --------------------------------------------------------------------------- hinge embedding, multi-label soft margin


def hinge_embedding(input, target, margin, reduction):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.hinge_embedding_loss`, or ``None``.

    numba only; small calls (the per-call cost is the checks). Fused: a float input, a real target of its
    shape holding only 1 and -1, a finite margin; the values are checked in the kernel.
    """
    k = kernels()
    x, t = input, target
    if k is None or x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in FLOATS:
        return None
    if t.shape != x.shape or x.size == 0 or t.dtype.kind not in "iuf":
        return None
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    if margin.__class__ not in (int, float) or not -np.inf < margin < np.inf:
        return None
    n = x.size
    dtype = x.dtype
    out = empty(n, np.float64) if reduction == "none" else _NO_OUT[_F64]
    g = empty(n, dtype)
    gscale = 1.0 / n if reduction == "mean" else 1.0
    total = k.hinge_embedding_flat(x.ravel(), t.ravel(), dtype.type(margin), _BIG[dtype], gscale, out, g)
    if total != total:
        return None
    if reduction == "none":
        return out.astype(dtype).reshape(x.shape), g.reshape(x.shape)
    return dtype.type(total / n if reduction == "mean" else total), g.reshape(x.shape)


def multilabel_soft_margin(input, target, weight, reduction):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.multilabel_soft_margin_loss`, or ``None``.

    Fused: float scores with the classes on the last axis (at least one dimension), a float target of their
    shape, no weight or a float (C,) weight; every entry finite (checked in the kernel: numba's, else NumPy's,
    :func:`multilabel_soft_margin_numpy`).
    """
    k = kernels()
    x, t = input, target
    if x.__class__ is not np.ndarray or t.__class__ is not np.ndarray or x.dtype not in FLOATS:
        return None
    if x.ndim == 0 or t.shape != x.shape or x.size == 0 or t.dtype.kind != "f":
        return None
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    c = x.shape[-1]
    dtype = x.dtype
    if weight is None:
        w = np.ones(c, dtype)
    elif weight.__class__ is not np.ndarray or weight.dtype.kind != "f" or weight.shape != (c,):
        return None
    else:
        w = np.ascontiguousarray(weight, dtype)
    x2 = np.ascontiguousarray(x).reshape(-1, c)
    t2 = np.ascontiguousarray(t, dtype).reshape(-1, c)
    if k is None:
        return multilabel_soft_margin_numpy(x2, t2, w, reduction, x.shape)
    n = x2.shape[0]
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    g = empty_like(x2)
    args = (x2, t2, w, _BIG[dtype], scale, loss, g)
    if _parallel(4, x2.size):
        ok: list[bool] = []
        _run(lambda lo, hi: ok.append(k.multilabel_soft_margin_rows(*args, lo, hi)), n)
        if not all(ok):
            return None
    elif not k.multilabel_soft_margin_rows(*args, 0, n):
        return None
    if reduction == "none":
        return loss.astype(dtype).reshape(x.shape[:-1]), g.reshape(x.shape)
    total = k.seq_sum(loss)
    return dtype.type(total / n if reduction == "mean" else total), g.reshape(x.shape)


# --------------------------------------------------------------------------- K-dimensional cross-entropy and NLL

_KDIM_SPAN = 256  # positions per block of the numba kernel (its _KDIM_SPAN)
KDIM_NUMPY_WORK = 32  # work units per element of NumPy's index-target K-dim cross-entropy (~8x numba's time)
_KDIM_NARROW = 32  # fewer positions (float32; float64 half): the numba kernel by samples, as rows (its _KDIM_NARROW)
_NO_LOSS = np.empty((0, 0), np.float64)
_I64 = np.dtype(np.int64)
_NO_T = np.empty((0, 0), np.int64)
_NO_Q = {d: np.empty((0, 0, 0), d) for d in FLOATS}


def _kdim_index(x, t, ignore_index):
    """``(t2, w)`` of a K-dim index-target call on ``x`` (``t2`` the labels as (N, S) int64, ``w`` the
    class weights in ``x``'s dtype or ``None``), or ``None`` for anything not fused. Labels are checked
    by the kernels."""
    if (
        t.__class__ is not np.ndarray
        or t.dtype.kind != "i"
        or ignore_index.__class__ is not int
        or not -(2**63) <= ignore_index < 2**63
        or t.shape != x.shape[:1] + x.shape[2:]
    ):
        return None
    t2 = (t if t.flags.c_contiguous and t.dtype is _I64 else np.ascontiguousarray(t, np.int64)).reshape(x.shape[0], -1)
    return t2


def _class_weight(weight, x):
    """``weight`` as a contiguous (C,) array of ``x``'s dtype; ``None`` for no weight; ``False`` if not fused."""
    if weight is None:
        return None
    if weight.__class__ is not np.ndarray or weight.dtype.kind != "f" or weight.shape != (x.shape[1],):
        return False
    return np.ascontiguousarray(weight, x.dtype)


def cross_entropy_kdim(input, target, weight, ignore_index, reduction, label_smoothing):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.cross_entropy` on K-dimensional logits
    ``(N, C, d1, ..., dK)``, or ``None``.

    Fused: class-index targets ``(N, d1, ..., dK)`` with any ``weight``, ``ignore_index`` and
    ``label_smoothing``, and class-probability targets of the input's shape (``ignore_index`` negative).
    The class axis stays axis 1: no transpose copy; the only full-size array made is the gradient.
    A non-finite loss (an infinite logit) is left to the definition.
    """
    x, t = input, target
    if (
        x.__class__ is not np.ndarray
        or t.__class__ is not np.ndarray
        or x.ndim < 3
        or x.dtype not in FLOATS
        or x.size == 0
        or label_smoothing.__class__ not in (int, float)
        or not 0 <= label_smoothing <= 1
        or reduction.__class__ is not str
        or reduction not in REDUCTIONS
    ):
        return None
    dtype = x.dtype
    n, c = x.shape[:2]
    w = _class_weight(weight, x)
    if w is False:
        return None
    x3 = (x if x.flags.c_contiguous else np.ascontiguousarray(x)).reshape(n, c, -1)
    s = x3.shape[2]
    probs = t.shape == x.shape
    q: np.ndarray
    if probs:
        if t.dtype.kind != "f" or ignore_index.__class__ is not int or ignore_index >= 0:
            return None
        q = t.astype(dtype, copy=False).reshape(x3.shape)  # any strides (a moveaxis view): no full-size copy
        t2 = _NO_T
    else:
        t2 = _kdim_index(x, t, ignore_index)
        if t2 is None:
            return None
        q = _NO_Q[dtype]
    ls = float(label_smoothing)
    wsum = float(c if w is None or ls == 0 else w.sum(dtype=np.float64))  # only label smoothing reads it
    mean = reduction == "mean"
    none = reduction == "none"
    g = empty(x3.shape, dtype)
    k = kernels()
    parallel = _parallel(CE_WORK, x3.size)
    if k is not None and not parallel:
        loss = np.empty((n, s), np.float64) if none else _NO_LOSS
        den, total = k.ce_kdim_small(
            x3, t2, q, _NO_OUT[dtype] if w is None else w, ignore_index, ls, wsum, mean, g, loss
        )
        if den < 0 or (mean and den == 0):
            return None
    else:
        if probs:
            den = float(n * s)
            wt = None
        elif k is not None:
            den = k.kdim_count(t2, _NO_OUT[dtype] if w is None else w, ignore_index, c)
        else:
            valid = t2 != ignore_index
            if (valid & ((t2 < 0) | (t2 >= c))).any():
                return None
            wt = valid.astype(dtype) if w is None else np.where(valid, w[np.where(valid, t2, 0)], dtype.type(0))
            den = float(wt.sum(dtype=np.float64))
        if den < 0 or (mean and den == 0):  # a bad label, or all ignored (the definition's NaN)
            return None
        scale = 1.0 / den if mean else 1.0
        loss = np.empty((n, s), np.float64)
        if k is not None:
            wv = _NO_OUT[dtype] if w is None else w
            narrow = s < (_KDIM_NARROW if dtype.itemsize == 4 else _KDIM_NARROW // 2)
            units = n if narrow else n * -(-s // _KDIM_SPAN)

            def task(lo, hi):
                kernel = k.ce_kdim_narrow if narrow else k.ce_kdim_blocks
                kernel(x3, t2, q, wv, ignore_index, ls, wsum, scale, g, loss, lo, hi)

        else:
            rows = _numpy.kdim_block_rows(c * s)
            units = -(-n // rows)

            def task(lo, hi):
                _numpy.ce_kdim_rows(
                    x3, t2, q, w, wt, ignore_index, ls, wsum, scale, g, loss, lo * rows, min(hi * rows, n)
                )

        if parallel or (k is None and not probs and units > 1 and _parallel(KDIM_NUMPY_WORK, x3.size)):
            _run(task, units)
        else:
            task(0, units)
        total = k.seq_sum(loss.reshape(-1)) if k is not None else float(loss.sum())
    g = g.reshape(x.shape)
    if not math.isfinite(total):
        return None  # a non-finite logit: the definition takes the limits
    if none:
        return _narrow(loss, dtype).reshape(x.shape[:1] + x.shape[2:]), g
    return _as_scalar(total / den if mean else total, dtype), g


def nll_kdim(input, target, weight, ignore_index, reduction):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.nll_loss` on batched log-probabilities
    ``(N, C)`` or ``(N, C, d1, ..., dK)`` with integer targets, any ``weight`` and ``ignore_index``, in one
    numba call; ``None`` without numba (the loss's NumPy kernel answers) or for a non-finite result."""
    x, t = input, target
    k = kernels()
    if (
        k is None
        or x.__class__ is not np.ndarray
        or t.__class__ is not np.ndarray
        or x.dtype not in FLOATS
        or x.ndim < 2
        or t.dtype.kind != "i"
        or ignore_index.__class__ is not int
        or not -(2**63) <= ignore_index < 2**63
        or reduction.__class__ is not str
        or reduction not in REDUCTIONS
    ):
        return None
    dtype = x.dtype
    n, c = x.shape[:2]
    if t.shape != x.shape[:1] + x.shape[2:] or x.size == 0:
        return None
    if weight is None:
        w = _NO_OUT[dtype]
    elif weight.__class__ is not np.ndarray or weight.dtype.kind != "f" or weight.shape != (c,):
        return None
    else:
        w = np.ascontiguousarray(weight, dtype)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if not t.flags.c_contiguous or t.dtype is not _I64:
        t = np.ascontiguousarray(t, np.int64)
    none = reduction == "none"
    mean = reduction == "mean"
    g = zeros(x.shape, dtype)  # written at the labels only: mapping its pages is most of the call
    if x.ndim == 2:
        loss = np.empty(n, np.float64) if none else _NO_OUT[_F64]
        den, total = k.nll_rows(x, t, w, ignore_index, mean, g, loss)
    else:
        loss = np.empty((n, t.size // n), np.float64) if none else _NO_LOSS
        den, total = k.nll_kdim(x.reshape(n, c, -1), t.reshape(n, -1), w, ignore_index, mean, g.reshape(n, c, -1), loss)
    if den < 0 or (mean and den == 0) or not math.isfinite(total):
        return None  # a bad label, all ignored (NaN), or a non-finite loss: the definition answers
    if none:
        return _narrow(loss, dtype).reshape(t.shape), g
    return _as_scalar(total / den if mean else total, dtype), g


def _narrow(loss: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``loss`` (float64) as ``dtype``, an overflow to float32's inf without a warning."""
    if dtype is _F64:
        return loss
    with np.errstate(over="ignore"):
        return loss.astype(dtype)


# --------------------------------------------------------------------------- CTC without numba


def ctc_numpy(lp, flat, width: int, il, tl, blank: int, reduction: str, ndim: int):
    """:func:`ctc` on NumPy's kernel (:func:`losslab._fast._numpy.ctc_blocks`): the checks on values that numba's
    kernel makes, then blocks of sequences in rescaled probability space, on the threads for large calls.
    ``lp`` is (T, N, C), ``flat`` the targets' labels (padded rows of ``width``, or concatenated where
    ``width < 0``). ``None`` where the definition decides: an invalid call, a log-probability that is not
    finite or beyond ``+-limit``, an input length 0, a probability under e^-600, an impossible target.
    """
    t_max, n, c = lp.shape
    if n == 1:  # one sequence: its lengths read as ints (a reduction costs more)
        i_lo = i_hi = int(il[0])
        s_lo = s_max = int(tl[0])
    else:
        i_lo, i_hi, s_lo, s_max = int(il.min()), int(il.max()), int(tl.min()), int(tl.max())
    if i_lo < 0 or i_hi > t_max or s_lo < 0:
        return None
    if width >= 0:
        if s_max > width:
            return None
        tg = flat.reshape(n, width)[:, :s_max]
    else:
        if int(tl.sum()) != flat.size:
            return None
        starts = np.cumsum(tl) - tl
        tg = flat[np.minimum(starts[:, np.newaxis] + np.arange(s_max), max(flat.size - 1, 0))] if s_max else flat
        tg = tg.reshape(n, s_max)
    if s_max:
        low_label, high_label = int(tg.min()), int(tg.max())
        if low_label < 0 or high_label >= c or low_label <= blank <= high_label:  # else every label is valid
            bad = (tg.view(np.uint64) >= c) | (tg == blank)  # a negative label is a large uint64
            if s_lo < s_max:
                bad &= np.arange(s_max) < tl[:, np.newaxis]
            if bad.any():
                return None
    dtype = lp.dtype
    limit = _MAX[dtype] / (8.0 * (t_max + 1))
    low, high = float(lp.min()), float(lp.max())
    if not (-limit <= low and high <= limit):  # NaN, +-inf or beyond: the definition
        return None
    shift = high if high - low <= _numpy.CTC_SPAN else None  # one shift for every frame's softmax
    mean = reduction == "mean"
    if n == 1:  # Python numbers for one sequence (each NumPy call costs a microsecond)
        per = max(s_lo, 1) if mean else 1
        log_weight = np.array([-math.log(per)])
    else:  # 'mean' weighs sequence n by 1 / (N max(tl[n], 1))
        per = np.maximum(tl, 1) if mean else 1
        log_weight = -np.log(n * per) if mean else np.zeros(n)
    grad = empty(lp.shape, dtype)
    loss = np.empty(n, np.float64)
    args = (lp, tg, il, tl, blank, shift, log_weight, grad, loss, (i_lo, i_hi, s_lo, s_max))
    blocks = -(-n // _numpy.CTC_BLOCK)
    if _count(_numpy.ctc_blocks, args, blocks, blocks > 1 and _parallel(CTC_WORK, lp.size)):
        return None
    if n == 1:
        total = float(loss[0]) / per
    else:
        if mean:
            loss /= per
        total = float(loss.sum())
        if mean:
            total /= n
    out = _as_scalar(total, dtype)
    return out, (grad if ndim == 3 else grad[:, 0, :])


# --------------------------------------------------------------------------- NumPy row kernels on the threads

NUMPY_BLOCK = 1 << 16  # elements per row block of a NumPy kernel: its temporaries stay in L2


def numpy_rows(kernel, args: tuple, n: int, cols: int, work: int, block: int | None = None) -> int:
    """``kernel(*args, lo, hi)`` over rows ``0:n``, a call per fixed block of about ``block`` elements
    (:data:`NUMPY_BLOCK` by default; ``cols`` per row), on :func:`get_num_threads` threads when the call is large
    (``work`` units per element, as :func:`_parallel`): NumPy releases the GIL in its loops, so the blocks run
    at once. The blocks do not depend on the thread count, so neither do the bits. Returns the sum of what
    ``kernel`` returns (the rows it leaves to the definitions).

    A call per block keeps the kernel's temporaries a block's size, reused from malloc's heap: a call over
    a thread's whole range made them fresh arrays of hundreds of MiB at large N, faulted in page by page
    (MultiLabelSoftMarginLoss 131072 x 100 float64, one thread: 1.4 s -> 0.17 s)."""
    rows = max(1, (NUMPY_BLOCK if block is None else block) // max(cols, 1))
    blocks = -(-n // rows)

    def task(lo, hi):  # block by block: the kernel's temporaries are a block's, reused from malloc's heap
        return sum(kernel(*args, b * rows, min((b + 1) * rows, n)) for b in range(lo, hi))

    return _count(task, (), blocks, blocks > 1 and _parallel(work, n * cols))


# --------------------------------------------------------------------------- multi-label margin without numba


def multilabel_margin_numpy(x2, t2, reduction, shape):
    """:func:`multilabel_margin` on NumPy's kernel (:func:`losslab._fast._numpy.multilabel_margin_rows`): finite
    (N, C) scores, integer label lists in [-1, C); ``None`` for anything else (the definitions answer)."""
    n, c = x2.shape
    if not (-math.inf < x2.min() and x2.max() < math.inf) or int(t2.min()) < -1 or int(t2.max()) >= c:
        return None
    dtype = x2.dtype
    if t2.dtype != np.int64:
        t2 = t2.astype(np.int64)
    scale = 1.0 / n if reduction == "mean" else 1.0
    loss = np.empty(n, np.float64)
    g = empty_like(x2)
    cols = c * min(c, _numpy.MULTILABEL_CHUNK)
    # blocks of 4 NUMPY_BLOCK hinges: a block is ~40 NumPy calls, and on two threads smaller ones wait on the
    # GIL (131072 x 20 float64: 99 -> 58 ms on two threads, 76 -> 64 ms on one)
    numpy_rows(_numpy.multilabel_margin_rows, (x2, t2, scale, loss, g), n, cols, 1, 4 * NUMPY_BLOCK)
    grad = g.reshape(shape)
    if reduction == "none":
        return _narrow(loss, dtype).reshape(shape[:-1]), grad
    total = float(loss.sum())
    return _as_scalar(total / n if reduction == "mean" else total, dtype), grad


# --------------------------------------------------------------------------- multi-label soft margin without numba


def multilabel_soft_margin_numpy(x2, t2, w, reduction, shape):
    """:func:`multilabel_soft_margin` on NumPy's kernel (:func:`losslab._fast._numpy.multilabel_soft_margin_rows`)
    over blocks of rows, on the threads for large calls. ``None`` where a row's loss is not finite or beyond
    the dtype's safe range (an infinite or huge score, target or weight): the definition takes those limits."""
    n, c = x2.shape
    dtype = x2.dtype
    unit = unit_scale(dtype, n) if reduction == "mean" else _ONE[dtype]
    loss = np.empty(n, np.float64)
    g = empty_like(x2)
    weight = None if (w == 1).all() else w
    numpy_rows(_numpy.multilabel_soft_margin_rows, (x2, t2, weight, unit / dtype.type(c), loss, g), n, c, 4)
    if not (np.abs(loss) <= _BIG[dtype]).all():
        return None
    grad = g.reshape(shape)
    if reduction == "none":
        return _narrow(loss, dtype).reshape(shape[:-1]), grad
    total = float(loss.sum())
    return _as_scalar(total / n if reduction == "mean" else total, dtype), grad


# --------------------------------------------------------------------------- margin ranking, contrastive


def margin_ranking(input1, input2, target, margin, reduction):
    """``(loss, (grad1, grad2))`` of :func:`losslab.functional.margin_ranking_loss`, or ``None``.

    Two float arrays of one shape (any, 0-d included) and dtype, a real target of that shape holding only 1
    and -1, a finite margin, every hinge argument finite. numba's kernel, else NumPy's (one pass each: the
    call is memory-bound, a thread costs more than it saves below some millions of elements).
    """
    x1, x2, t = input1, input2, target
    if x1.__class__ is not np.ndarray or x2.__class__ is not np.ndarray or t.__class__ is not np.ndarray:
        return None
    dtype = x1.dtype
    if dtype not in FLOATS or x2.dtype != dtype or x2.shape != x1.shape or t.shape != x1.shape or x1.size == 0:
        return None
    if t.dtype.kind not in "biuf" or reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    if margin.__class__ not in (int, float) or not -math.inf < margin < math.inf:
        return None
    n = x1.size
    shape = x1.shape
    one = _ONE[dtype]
    gscale = unit_scale(dtype, n) if reduction == "mean" else one  # the definitions' upstream for dout = 1
    m = dtype.type(margin)
    out = empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    g1, g2 = empty(n, dtype), empty(n, dtype)
    k = kernels()
    a, b, y = x1.reshape(-1), x2.reshape(-1), t.reshape(-1)
    if k is not None:
        total = k.margin_ranking_flat(a, b, y, m, gscale, out, g1, g2)
        if total != total:
            return None
    else:
        if not ((y == 1) | (y == -1)).all():
            return None
        pieces = -(-n // _numpy.chunk(dtype, n))
        partials = np.empty(pieces, np.float64)
        y = y if y.dtype == dtype else y.astype(dtype)
        if not _numpy.margin_ranking_chunks(a, b, y, m, gscale, out, g1, g2, 0, pieces, partials):
            return None
        total = _numpy.total(partials)
    if reduction == "none":
        return out.reshape(shape), (g1.reshape(shape), g2.reshape(shape))
    return _as_scalar(total / n if reduction == "mean" else total, dtype), (g1.reshape(shape), g2.reshape(shape))


def contrastive(input1, input2, target, margin, reduction):
    """``(loss, (grad1, grad2))`` of :func:`losslab.functional.contrastive_loss`, or ``None``.

    Two float arrays of one shape (N, D) (or (D,): one pair) and dtype, a real target (N,) holding only 0 and
    1, a finite margin > 0, every squared distance finite. numba's kernel (on threads for large calls), else
    NumPy's.
    """
    x1, x2, t = input1, input2, target
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    if x1.__class__ is not np.ndarray or x2.__class__ is not np.ndarray or t.__class__ is not np.ndarray:
        return None
    if x1.ndim == 1 and x2.ndim == 1 and t.ndim == 0:  # one pair: a batch of one, the same bits
        hit = contrastive(x1[None], x2[None], t[None], margin, reduction)
        if hit is None:
            return None
        return (hit[0].reshape(()) if reduction == "none" else hit[0]), tuple(g[0] for g in hit[1])
    dtype = x1.dtype
    if x1.ndim != 2 or dtype not in FLOATS or x2.dtype != dtype or x2.shape != x1.shape or x1.size == 0:
        return None
    if t.shape != x1.shape[:1] or t.dtype.kind not in "biuf":
        return None
    if margin.__class__ not in (int, float) or not 0 < margin < math.inf:
        return None
    n, dim = x1.shape
    x1, x2 = np.ascontiguousarray(x1), np.ascontiguousarray(x2)
    scale = 1.0 / n if reduction == "mean" else 1.0
    m = float(dtype.type(margin))  # the margin the definitions subtract from
    loss = np.empty(n, np.float64)
    g1, g2 = empty_like(x1), empty_like(x2)
    k = kernels()
    if k is not None:
        if _count(k.contrastive_rows, (x1, x2, t, m, scale, loss, g1, g2), n, _parallel(4, x1.size)):
            return None
    else:
        similar = t == 1
        if not (similar | (t == 0)).all():
            return None
        if not _numpy_rows(_numpy.contrastive_rows, (x1, x2, similar, m, scale, loss, g1, g2), n, dim):
            return None
    if reduction == "none":
        return _narrow(loss, dtype), (g1, g2)
    total = k.seq_sum(loss) if k is not None else float(loss.sum())
    return _as_scalar(total / n if reduction == "mean" else total, dtype), (g1, g2)


# --------------------------------------------------------------------------- NT-Xent, small batches

NTXENT_SMALL = 1 << 16  # m^2 D at most: numba's direct kernel (above, the blocks of BLAS products)
_NO_LABELS = np.empty(0, np.int64)
_NORM_FLOOR = {d: float(np.sqrt(d.type(np.finfo(d).eps))) for d in FLOATS}  # optax clips the squared norm at eps


def ntxent_small(embeddings, labels, temperature, reduction):
    """``(loss, gradient for dout=1)`` of NT-Xent on ``m`` embeddings (m, D) with group ``labels`` (or ``None``:
    two views stacked, ``[view1; view2]``), for small batches (``m^2 D`` at most :data:`NTXENT_SMALL`), or
    ``None``.

    numba only; the caller has checked the embeddings (a float array: the kernel checks that they are finite),
    the labels (integers, (m,)), the temperature (a finite number > 0) and the reduction ('mean' or 'sum').
    """
    k = kernels()
    e = embeddings
    m, dim = e.shape
    if k is None or m * m * dim > NTXENT_SMALL:
        return None
    dtype = e.dtype
    loss = np.empty(m, np.float64)
    g = empty_like(e)
    lab = _NO_LABELS if labels is None else labels
    total = k.ntxent_small(e, lab, float(dtype.type(temperature)), _NORM_FLOOR[dtype], reduction == "mean", loss, g)
    if total != total:
        return None
    return _as_scalar(total, dtype), g


# --------------------------------------------------------------------------- binary cross-entropy on probabilities

_BCE_EPS = {d: d.type(np.float32(1e-12)) for d in FLOATS}  # the gradient's floor: PyTorch's float32 1e-12
_BCE_TILES: dict = {}  # (weight bytes, dtype, step) -> the weight tiled to one chunk, for small weights


def bce(input, target, weight, reduction):
    """``(loss, gradient for dout=1)`` of :func:`losslab.functional.binary_cross_entropy`, or ``None``.

    numba's kernel, else NumPy's; a float input, a real target of its shape (cast to the input's dtype), no weight
    or a real weight array whose shape is a trailing part of the input's (leading 1s aside: a class weight);
    every entry in the kernel's domain (probabilities in [0, 1], a finite weight), else the definitions answer.
    """
    k = kernels() or _numpy
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        return None
    pair = _flat_pair(input, target)
    if pair is None:
        return None
    x, t = pair
    dtype = x.dtype
    n = x.size
    step = k.chunk(dtype, n)
    if weight is None:
        w = _NO_OUT[dtype]
    else:
        if weight.__class__ is not np.ndarray or weight.dtype.kind not in "biuf" or not 0 < weight.ndim <= input.ndim:
            return None
        shape = weight.shape
        while shape and shape[0] == 1:
            shape = shape[1:]
        if shape != input.shape[input.ndim - len(shape) :] or weight.size == 0:
            return None
        period = max(weight.size, 1)
        step = max(1, k.chunk(dtype, n) // period) * period
        w = _bce_tile(weight, dtype, min(step, n))
    unit = unit_scale(dtype, n) if reduction == "mean" else _ONE[dtype]
    g = empty_like(x)
    out = empty(n, dtype) if reduction == "none" else _NO_OUT[dtype]
    pieces = -(-n // step)
    partials = np.empty(pieces, np.float64)
    args = (x, t, w, step, _BCE_EPS[dtype], unit, out, g)
    if _count(k.bce_chunks, args, pieces, pieces > 1 and _parallel(4, n), partials):
        return None
    if reduction == "none":
        return out.reshape(input.shape), g.reshape(input.shape)
    total = k.seq_sum(partials) if k is not _numpy else _numpy.total(partials)
    return _as_scalar(total / n if reduction == "mean" else total, dtype), g.reshape(input.shape)


def _bce_tile(weight: np.ndarray, dtype: np.dtype, length: int) -> np.ndarray:
    """``weight`` (flat, in ``dtype``) repeated to ``length`` elements, kept for small weights seen again."""
    small = weight.size <= 4096
    key = (weight.tobytes(), weight.dtype.char, dtype.char, length) if small else None
    hit = _BCE_TILES.get(key) if small else None
    if hit is not None:
        return hit
    with np.errstate(over="ignore"):  # a float64 weight beyond float32's range is inf: the kernel refuses it
        flat = np.ascontiguousarray(weight, dtype).reshape(-1)
    tiled = np.tile(flat, length // flat.size) if length > flat.size else flat
    if small:
        if len(_BCE_TILES) >= 64:
            _BCE_TILES.clear()
        _BCE_TILES[key] = tiled
    return tiled


# --------------------------------------------------------------------------- cross-entropy rows without numba


def cross_entropy_dense(x, t, valid, w, wt, denominator, reduction, label_smoothing):
    """:func:`cross_entropy_general` on NumPy's kernel (:func:`losslab._fast._numpy.ce_dense_rows`): fixed
    blocks of rows, on the threads for large calls. ``t`` the labels with 0 where ``valid`` is False and
    ``wt`` the rows' weights (0 where ignored), or ``t`` class probabilities of ``x``'s shape (``valid`` and
    ``wt`` then ``None``); ``w`` the class weights or ``None``. The caller has checked the call. ``None`` with
    numba (its kernel answers) or for a non-finite loss (the definition takes the limits)."""
    if kernels() is not None:
        return None
    n, c = x.shape
    dtype = x.dtype
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    w = None if w is None else np.ascontiguousarray(w, dtype)
    wsum = float(c if w is None else w.sum(dtype=np.float64))
    scale = 1.0 / float(denominator) if reduction == "mean" else 1.0
    g = empty_like(x)
    loss = np.empty(n, np.float64)
    ls = float(label_smoothing)
    if t.shape == x.shape:
        args = (x, None, None, t, w, None, ls, wsum, scale, g, loss)
    else:
        keep = None if valid.all() else valid
        args = (x, t, keep, None, w, wt.astype(np.float64), ls, wsum, scale, g, loss)
    blocks = -(-n // _numpy.ce_dense_block_rows(c))
    _count(_numpy.ce_dense_rows, args, blocks, blocks > 1 and _parallel(CE_WORK, x.size))
    with np.errstate(over="ignore", invalid="ignore"):  # infinite row losses: the definition answers
        total = float(loss.sum())
    if not math.isfinite(total):
        return None
    if reduction == "none":
        return _narrow(loss, dtype), g
    return _as_scalar(total / float(denominator) if reduction == "mean" else total, dtype), g


def cross_entropy_small(x, t, weight, ignore_index, reduction, label_smoothing):
    """:func:`cross_entropy_kdim` of a small (N, C) call (index or probability targets, every option) with
    numba, as the (N, C, 1) views it would take (the same kernel, so the same bits), with only the checks a
    2-D call needs: at B = 1 the checks cost more than the kernel. ``None`` where that function would answer
    ``None``, or without numba."""
    k = kernels()
    if (
        k is None
        or x.dtype not in FLOATS
        or label_smoothing.__class__ not in (int, float)
        or not 0 <= label_smoothing <= 1
        or reduction.__class__ is not str
        or reduction not in REDUCTIONS
    ):
        return None
    n, c = x.shape
    dtype = x.dtype
    w = _class_weight(weight, x)
    if w is False:
        return None
    if t.shape == x.shape:
        if t.dtype.kind != "f" or ignore_index.__class__ is not int or ignore_index >= 0:
            return None
        q = t.astype(dtype, copy=False).reshape(n, c, 1)
        t2 = _NO_T
    elif t.shape == (n,) and t.dtype.kind == "i" and ignore_index.__class__ is int:
        if not -(2**63) <= ignore_index < 2**63:
            return None
        t2 = (t if t.dtype is _I64 and t.flags.c_contiguous else np.ascontiguousarray(t, np.int64)).reshape(n, 1)
        q = _NO_Q[dtype]
    else:
        return None
    ls = float(label_smoothing)
    wsum = float(c if w is None or ls == 0 else w.sum(dtype=np.float64))
    mean = reduction == "mean"
    none = reduction == "none"
    g = empty((n, c, 1), dtype)
    loss = np.empty((n, 1), np.float64) if none else _NO_LOSS
    x3 = (x if x.flags.c_contiguous else np.ascontiguousarray(x)).reshape(n, c, 1)
    den, total = k.ce_kdim_small(x3, t2, q, _NO_OUT[dtype] if w is None else w, ignore_index, ls, wsum, mean, g, loss)
    if den < 0 or (mean and den == 0) or not math.isfinite(total):
        return None
    if none:
        return _narrow(loss, dtype).reshape(n), g.reshape(n, c)
    return _as_scalar(total / den if mean else total, dtype), g.reshape(n, c)


# --------------------------------------------------------------------------- adaptive softmax, a few rows

ASM_SMALL = 1 << 18  # rows x (weights of the head and of every cluster) at most: numba's row kernel (above: BLAS)
_NO_U = {d: np.empty(0, d) for d in FLOATS}


def adaptive_small(x, t, hw, hb, tails, cutoffs, u):
    """``(out, grads or None)`` of the adaptive softmax on a few rows, in one numba call, or ``None``.

    ``grads`` is ``(dx, dhw, dhb or None, [(dW1, dW2), ...])`` for the upstream gradient ``u`` (N,) per row
    (``None``: the values alone), as :func:`losslab.functional.projection._adaptive_fast` gives them. The caller
    has checked the call (``x`` (N, D), ``t`` class indices (N,), the head and each cluster's ``(W1, W2)`` of the
    input's dtype, ``cutoffs`` ending with the class count); ``None`` without numba, for a call past
    :data:`ASM_SMALL`, for arrays that are not C-contiguous, and where a value or a gradient is not
    finite (the definitions then answer: their limits).
    """
    k = kernels()
    if k is None:
        return None
    n = x.shape[0]
    dt = x.dtype
    key = (dt, hw.shape, *cutoffs, *[(w1.shape, w2.shape) for w1, w2 in tails])
    layout = _ASM_LAYOUTS.get(key)
    if layout is None:
        if dt not in FLOATS:
            return None
        offsets = [0]
        for w1, w2 in tails:
            offsets += [offsets[-1] + w1.size, offsets[-1] + w1.size + w2.size]
        shapes = [s for w1, w2 in tails for s in (w1.shape, w2.shape)]
        layout = (hw.size + offsets[-1], np.array(cutoffs, np.int64), np.array(offsets, np.int64), offsets, shapes)
        if len(_ASM_LAYOUTS) < 64:  # the layouts of a few models: kept, so that a call makes none
            _ASM_LAYOUTS[key] = layout
    work, cut_arr, off_arr, offsets, shapes = layout
    if n * work > ASM_SMALL:
        return None
    w1s = tuple(w1 for w1, _ in tails)
    w2s = tuple(w2 for _, w2 in tails)
    bias = _NO_U[dt] if hb is None else hb
    for a in (x, hw, bias, *w1s, *w2s):
        if a.__class__ is not np.ndarray or a.dtype != dt or not a.flags.c_contiguous:
            return None
    uu = _NO_U[dt] if u is None else u
    ti = t if t.dtype == np.int64 else t.astype(np.int64)
    x, ti, hw, bias, uu, *ws = _one_flag(x, ti, hw, bias, uu, *w1s, *w2s)
    w1s, w2s = tuple(ws[: len(w1s)]), tuple(ws[len(w1s) :])
    finite, out, dx, dhw, dhb, dtail = k.asm_small(x, ti, hw, bias, w1s, w2s, cut_arr, off_arr, uu)
    if not finite:
        return None
    if u is None:
        return out, None
    parts = [dtail[offsets[i] : offsets[i + 1]].reshape(shape) for i, shape in enumerate(shapes)]
    dtails = list(zip(parts[0::2], parts[1::2], strict=True))
    return out, (dx, dhw, None if hb is None else dhb, dtails)


def _one_flag(*arrays):
    """``arrays`` as they are if all are writeable, else read-only views of them all: a read-only input is
    answered by the same kernel (numba types a read-only array apart: one flag for all of them keeps the
    kernel to two compiled versions, and a tuple of arrays uniform)."""
    if all(a.flags.writeable for a in arrays):
        return arrays
    views = []
    for a in arrays:
        v = a.view()
        v.flags.writeable = False
        views.append(v)
    return tuple(views)


_ASM_LAYOUTS: dict = {}  # (dtype, shapes, cutoffs) -> (work, cutoffs, offsets as arrays, offsets, tail shapes)


# --------------------------------------------------------------------------- weighted cross-entropy, every label kept

_NO_PROBS = {d: np.empty((0, 0), d) for d in FLOATS}


def ce_weighted_rows(x, t, w, label_smoothing, denominator, reduction):
    """:func:`cross_entropy_general` for index targets that are all kept (``t`` int64 in [0, C), no
    ``ignore_index`` among them) with class weights ``w`` (C,) of ``x``'s dtype: ``(loss, gradient for dout=1)``,
    or ``None`` without numba. The same kernel, with the row weights ``w[t]`` made in one gather and no masks (a
    call with one row costs a few allocations). The caller has checked the call; ``x`` (N, C) is C-contiguous.
    """
    k = kernels()
    if k is None:
        return None
    n, c = x.shape
    dtype = x.dtype
    wv = np.ascontiguousarray(w, dtype)
    row_w = wv[t]
    ls = float(label_smoothing)
    wsum = float(wv.sum(dtype=np.float64)) if ls else 0.0  # label smoothing's sum of the class weights
    scale = 1.0 / float(denominator) if reduction == "mean" else 1.0
    g = empty_like(x)
    rowloss = np.empty(n, np.float64)
    if ls:
        args = (x, t, _NO_PROBS[dtype], wv, row_w, ls, wsum, scale, g, rowloss)
        task = lambda lo, hi: k.ce_general_rows(*args, lo, hi)  # noqa: E731
    else:  # the plain rows' kernel, then each row times its weight: 256 x 100 float32 in 21 us against 35 us

        def task(lo, hi):
            k.ce_rows(x, t, -1, 1.0, g, rowloss, lo, hi)  # every label is in [0, C): none is -1
            k.weigh_rows(g, rowloss, row_w, scale, lo, hi)

    if _parallel(CE_WORK, x.size):
        _run(task, n)
    else:
        task(0, n)
    if reduction == "none":
        return _narrow(rowloss, dtype), g
    total = k.seq_sum(rowloss)
    return dtype.type(total / float(denominator) if reduction == "mean" else total), g


def linear_ce_chunk(x, t, ignore_index, scale, g, rowloss, general=None) -> bool:
    """The fused cross-entropy of one chunk of the linear cross-entropy's logits ``x`` (R, C), C-contiguous: the
    gradient ``scale ((sum a) softmax - a)`` into ``g`` (R, C) and the float64 row losses into ``rowloss`` (R,),
    on the threads for a large chunk. ``general``: ``(w, row_w, label_smoothing, wsum)`` for class weights or
    smoothing (``t`` then holds -1 where a row is ignored, ``row_w`` 0 there: :func:`cross_entropy_general`'s
    layout); without it, plain labels (rows labelled ``ignore_index`` get zeros). The caller has checked the
    labels. Returns False without numba (nothing written)."""
    k = kernels()
    if k is None:
        return False
    n = x.shape[0]
    if general is None:

        def task(lo, hi):
            k.ce_rows(x, t, ignore_index, scale, g, rowloss, lo, hi)
    else:
        w, row_w, ls, wsum = general

        def task(lo, hi):
            k.ce_general_rows(x, t, _NO_PROBS[x.dtype], w, row_w, ls, wsum, scale, g, rowloss, lo, hi)

    if _parallel(CE_WORK, x.size):
        _run(task, n)
    else:
        task(0, n)
    return True


def seq_sum(a: np.ndarray) -> float:
    """The left-to-right float64 sum of ``a`` (float64) that the fused kernels' totals are (numba), else NumPy's."""
    k = kernels()
    return k.seq_sum(a) if k is not None else float(a.sum())


# --------------------------------------------------------------------------- linear cross-entropy, a few rows

LCE_SMALL = 1 << 18  # rows x classes x features at most, or LCE_SMALL_ROWS rows of any width: numba's row kernel
LCE_SMALL_ROWS = 2  # a row's logits and gradient read the weight twice: BLAS and the bounds' checks read it 4 times
_NO_G = np.empty(0, np.float64)
_FMAX = {d: float(np.finfo(d).max) for d in FLOATS}


def linear_ce_small(x, w, b, t, weight, ignore_index: int, label_smoothing: float, reduction: str, g, grad: bool):
    """``(value, (dx, dW, db or None) or None)`` of the linear cross-entropy of a few rows in one numba call,
    or ``None``.

    The caller has checked the call's types and shapes: ``x`` (N, D) and ``w`` (C, D) of one float dtype,
    ``b`` (C,) and ``weight`` (C,) of that dtype or None, ``t`` (N,) integer labels, ``reduction`` one of
    'none', 'sum', 'mean'; ``g`` (N,) float64 the upstream gradient per row ('none') or None (that of
    ``dout = 1``). ``None`` without numba, past :data:`LCE_SMALL`, for arrays that are not C-contiguous, and
    wherever :func:`losslab._fast._numba.lce_small` declines (a label out of range, every label
    ignored, a value or a gradient not finite): the checked pass then answers, with its errors and limits.
    """
    k = kernels()
    if k is None:
        return None
    n, d = x.shape
    if n > LCE_SMALL_ROWS and n * w.shape[0] * d > LCE_SMALL:
        return None
    dt = x.dtype
    bias = _NO_U[dt] if b is None else b
    cw = _NO_U[dt] if weight is None else weight
    for a in (x, w, bias, cw):
        if not a.flags.c_contiguous:
            return None
    ti = t if t.dtype == np.int64 else t.astype(np.int64)
    gg = _NO_G if g is None else g
    x, w, bias, ti, cw, gg = _one_flag(x, w, bias, ti, cw, gg)
    mean = reduction == "mean"
    ok, total, den, rowloss, dx, dw, db = k.lce_small(
        x, w, bias, ti, cw, ignore_index, label_smoothing, mean, gg, grad, _FMAX[dt]
    )
    if not ok:
        return None
    if reduction == "none":
        value = rowloss if dt is _F64 else rowloss.astype(dt)
    else:
        total = total / den if mean else total
        if not abs(total) <= _FMAX[dt]:
            return None
        value = dt.type(total)
    return value, ((dx, dw, None if b is None else db) if grad else None)


# ------------------------------------------------------------------ linear cross-entropy: the direct path's bounds

_SPAN_BITS: dict[np.dtype, tuple[Any, Any, Any]] = {
    np.dtype(np.float32): (np.int32, np.int32(0x7FFFFFFF), np.int32(0x7F800000)),
    np.dtype(np.float64): (np.int64, np.int64(0x7FFFFFFFFFFFFFFF), np.int64(0x7FF0000000000000)),
}


def linear_ce_spans(x, w, b, t):
    """``(|x| max, |w| max, |b| max, min t, max t)`` in one numba call, the magnitudes inf where an entry is not
    finite; ``None`` without numba, for arrays that are not C-contiguous or labels that are not int64 (the caller
    then reduces each with NumPy: 8 reductions, about 15 us at 256 x 64 -> 100 classes, against 3 us here).
    ``x`` (N, D), ``w`` (C, D), ``b`` (C,) or None, of one float dtype; ``t`` (N,), N > 0."""
    k = kernels()
    if k is None or t.dtype != np.int64:
        return None
    bits = _SPAN_BITS.get(x.dtype)
    if bits is None:
        return None
    arrays = (x, w) if b is None else (x, w, b)
    for a in arrays:
        if not a.flags.c_contiguous:
            return None
    view, mask, inf_bits = bits
    bb = _NO_U[x.dtype] if b is None else b
    xv, wv, bv, tv = _one_flag(x.reshape(-1).view(view), w.reshape(-1).view(view), bb.view(view), t)
    finite, xs, ws, bs, lo, hi = k.lce_spans(xv, wv, bv, tv, mask, inf_bits)
    if not finite:
        return math.inf, math.inf, math.inf, lo, hi
    return xs, ws, bs, lo, hi


def add_bias(z, b) -> None:
    """``z += b`` for the logits ``z`` (R, C), C-contiguous and writeable, and a bias ``b`` (C,) of their dtype: by
    numba where it is installed and ``b`` is contiguous (256 x 100 float32: 1.5 us against NumPy's broadcast 6 us),
    else by NumPy. The same sums either way. A read-only bias takes the kernel's read-only version (no copy)."""
    k = kernels()
    if k is None or not b.flags.c_contiguous:
        z += b
        return
    k.add_bias(z, *_one_flag(b))


# --------------------------------------------------------------------------- rows by index: gather, scatter-add


def _row_kernel_ok(a: np.ndarray, m: np.ndarray, rows: np.ndarray) -> bool:
    return (
        a.ndim == 2
        and m.ndim == 2
        and a.flags.c_contiguous
        and m.flags.c_contiguous
        and a.dtype == m.dtype
        and a.shape[1] == m.shape[1]
        and rows.dtype == _I64
        and rows.shape == (m.shape[0],)
    )


def take_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows]`` for a 2-D ``x`` and int64 row indices in range (the adaptive softmax's rows of one cluster), by
    numba, on the threads when large; else ``np.take``. The same values either way. NumPy's fancy indexing
    copies each row by a general loop: 52302 of 131072 x 64 float64 rows in 8.9 ms (``np.take`` 6.5 ms)."""
    k = kernels()
    out = empty((rows.size,) + x.shape[1:], x.dtype)
    if k is None or not _row_kernel_ok(x, out, rows):
        return np.take(x, rows, axis=0, out=out)
    _split(k.take_rows, (x, rows, out), rows.size, _parallel(1, out.size))
    return out


def add_rows(a: np.ndarray, rows: np.ndarray, m: np.ndarray) -> None:
    """``a[rows] += m`` for distinct int64 row indices in range, by numba (one pass, on the threads when large),
    else by NumPy (which gathers ``a[rows]``, adds and scatters back: three passes). The same sums either way."""
    k = kernels()
    if k is None or not a.flags.writeable or not _row_kernel_ok(a, m, rows):
        a[rows] += m
        return
    _split(k.add_rows, (a, rows, m), rows.size, _parallel(1, m.size))


# --------------------------------------------------------------------------- adaptive softmax: one softmax's columns


def asm_cols(z, rel, u, vals) -> bool:
    """One softmax of the adaptive softmax by :func:`losslab._fast._numba.asm_cols`: its logits ``z`` (K, M),
    C-contiguous and writeable, classes first; ``vals`` (M,) gets each column's log-softmax at ``rel`` (M,) (class
    indices in [0, K)), and with ``u`` (M,) (``None``: the values alone) ``z`` becomes the logits' gradient
    ``u (onehot - softmax)``. One pass over the columns replaces NumPy's ten calls (22 x 256 float32: 5 us against
    22 us). On the calling thread: the columns split over two threads took as long at 16384 and 131072 rows (the
    products dominate), and a thread the machine is slow to schedule would stall the call. Returns False without
    numba (nothing written)."""
    k = kernels()
    if k is None:
        return False
    uu = _NO_U[z.dtype] if u is None else u
    ti = rel if rel.dtype == np.int64 else rel.astype(np.int64)
    k.asm_cols(z, ti, uu, vals, 0, z.shape[1])
    return True


# --------------------------------------------------------------------------- linear cross-entropy: the direct rows


def linear_ce_rows(z, b, t, ignore_index: int, scale, row_w, g, rowloss, db):
    """The direct path's fused rows in one numba call (:func:`losslab._fast._numba.lce_rows`): the bias ``b``
    (C,) or None added to the logits ``z`` (R, C) in place, the gradient ``scale (softmax - onehot)`` (with
    ``row_w`` (R,), each row times its weight: the labels then all in [0, C)) into ``g``, the float64 row losses
    into ``rowloss`` (R,), and with ``db`` (C,) zeros, the gradient's column sums into it. Returns the row losses'
    left-to-right sum (what :func:`seq_sum` gives), or ``None`` (nothing written) without numba and for a call
    large enough for the threads (the caller then adds the bias and takes the other kernels). One call where
    the bias, the rows, their weights, their sum and the bias gradient took five (the whole value and gradients of
    256 x 64 -> 100 classes, 1 thread: float64 319 -> 313 us, float32 168 -> 165 us). The caller has
    checked the call: ``z``, ``g`` C-contiguous and writeable, ``t`` int64 labels in [0, C) or ``ignore_index``,
    ``b``, ``row_w``, ``db`` of ``z``'s dtype."""
    k = kernels()
    if k is None or _parallel(CE_WORK, z.size):
        return None
    dt = z.dtype
    none = _NO_U[dt]
    bb, tt, ww = _one_flag(none if b is None else b, t, none if row_w is None else row_w)
    return k.lce_rows(z, bb, tt, ignore_index, scale, ww, g, rowloss, none if db is None else db)
