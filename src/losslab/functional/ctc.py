"""Connectionist temporal classification (CTC), ``torch.nn.functional.ctc_loss``.

The loss of a label sequence given per-frame class log-probabilities, summed over
every frame-level alignment that collapses to it (Graves et al. 2006,
"Connectionist Temporal Classification: Labelling Unsegmented Sequence Data with
Recurrent Neural Networks", ICML). The forward pass is the alpha recursion and the
backward pass the alpha-beta (forward-backward) recursion, both in log space,
vectorised over the batch and the extended label sequence (the loop runs over time
only). Options, checks and reductions follow PyTorch's ``aten/src/ATen/native/LossCTC.cpp``.

Array libraries (:mod:`losslab._array_api`). NumPy inputs take the NumPy functions below,
unchanged. Other eager libraries (array-api-strict, PyTorch, CuPy) run the same recursions
written against the array API standard (``_xp_*``), in their own library and on their own
device: a Python loop over time, each step an operation over the batch x extended-label
axes; only the integer bookkeeping reads values (the largest and total target length, and
the value checks). Dask: a lazy recursion over a chunked time axis is impractical, so the
loss maps the NumPy functions over chunks of the batch axis (``dask.array.blockwise``):
``log_probs`` is rechunked to one chunk along time and classes (each task holds whole
sequences), padded targets and the lengths follow the batch chunks, and concatenated
targets and ``target_lengths`` go whole to every task (they are small integer arrays).
Nothing is computed before ``.compute()``; the value checks (and the infinite-loss error of
the backward pass) run inside the tasks and name sequences by their index in the batch.
"""

from __future__ import annotations

import numpy as np

from .. import _array_api as xpa
from .. import _fast
from .. import _validation as v
from ._reduction import reduce, upstream

__all__ = ["ctc_loss", "ctc_loss_backward"]


# --------------------------------------------------------------------------- checks


def _lengths(x, name: str, batched: bool, batch: int) -> np.ndarray:
    """Integer lengths: shape (N,) for a batch, 0-d for one sequence; returned as int64 (N,)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold integer lengths, got {v._describe(arr)}; convert with np.asarray({name}, dtype=np.int64)"
        )
    expected = (batch,) if batched else ()
    if arr.shape != expected:
        what = f"a 1-D array of {batch} lengths, one per sequence" if batched else "a scalar (unbatched log_probs)"
        raise ValueError(f"{name} must be {what}, shape {expected}, got shape {arr.shape}")
    arr = arr.astype(np.int64).reshape(batch)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {int(arr[arr < 0][0])}")
    return arr


def _padded_targets(targets, batched: bool, tl: np.ndarray) -> np.ndarray:
    """The targets as an int64 (N, max(tl)) array, whatever their layout (padding left as is)."""
    arr = np.asarray(targets)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"targets must hold integer class indices, got {v._describe(arr)}; convert with targets.astype(np.int64)"
        )
    arr = arr.astype(np.int64)
    n, s_max = len(tl), int(tl.max(initial=0))
    if not batched:
        if arr.shape != (int(tl[0]),):
            raise ValueError(
                f"unbatched targets must be a 1-D array of target_lengths={int(tl[0])} labels, got shape {arr.shape}"
            )
        return arr.reshape(1, -1)
    if arr.ndim == 2:
        if arr.shape[0] != n or arr.shape[1] < s_max:
            raise ValueError(
                f"padded targets must have shape (N, S) with N={n} and S >= max(target_lengths)="
                f"{s_max}, got shape {arr.shape}"
            )
        return arr[:, :s_max]
    if arr.ndim == 1:
        total = int(tl.sum())
        if arr.shape[0] != total:
            raise ValueError(
                f"concatenated 1-D targets must hold sum(target_lengths)={total} labels, got {arr.shape[0]}"
            )
        if total == 0:
            return np.zeros((n, 0), dtype=np.int64)
        starts = np.cumsum(tl) - tl
        pos = starts[:, np.newaxis] + np.arange(s_max)
        return np.where(pos < (starts + tl)[:, np.newaxis], arr[np.minimum(pos, total - 1)], 0)
    raise ValueError(
        f"targets must be padded (N, S) or concatenated (sum(target_lengths),), got an array of shape {arr.shape}"
    )


def _args(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, rows=None):
    lp = v.as_float_array(log_probs, "log_probs")
    v.check_ndim(lp, "log_probs", (2, 3), "a 3-D (T, N, C) batch or a 2-D (T, C) sequence of log-probabilities")
    if lp.size == 0:
        raise ValueError(f"log_probs must not be empty, got shape {lp.shape}")
    if np.any(np.isnan(lp) | (lp == np.inf)):
        bad = tuple(int(i) for i in np.argwhere(np.isnan(lp) | (lp == np.inf))[0])
        raise ValueError(f"log_probs must hold log-probabilities (finite values or -inf), got {lp[bad]} at {bad}")
    batched = lp.ndim == 3
    lp3 = lp if batched else lp[:, np.newaxis, :]
    t_max, n, c = lp3.shape
    v.check_scalar(blank, "blank", low=0, high=c - 1, integer=True)
    v.check_reduction(reduction)
    zero_infinity = v.check_bool(zero_infinity, "zero_infinity")
    il = _lengths(input_lengths, "input_lengths", batched, n)
    tl = _lengths(target_lengths, "target_lengths", batched, n)
    if np.any(il > t_max):
        raise ValueError(f"input_lengths must be <= T={t_max} (log_probs.shape[0]), got {int(il.max())}")
    tg = _padded_targets(targets, batched, tl)
    used = np.arange(tg.shape[1]) < tl[:, np.newaxis]  # padding beyond each target length is ignored
    bad = used & ((tg < 0) | (tg >= c) | (tg == blank))
    if bad.any():
        b, s = (int(i) for i in np.argwhere(bad)[0])
        raise v.ClassIndexError(
            f"targets hold the label {int(tg[b, s])} (sequence {b if rows is None else int(rows[b])}, position {s}): "
            f"expected labels in "
            f"[0, {c - 1}] for {c} classes, other than blank={blank}"
        )
    return lp3, batched, tg, il, tl, int(blank), zero_infinity


# --------------------------------------------------------------------------- recursions


def _log_softmax(lp: np.ndarray) -> np.ndarray:
    """Renormalise over classes; rows of -inf only (probability 0 everywhere) stay -inf."""
    m = lp.max(axis=-1, keepdims=True)
    shifted = lp - np.where(np.isfinite(m), m, 0)
    s = np.exp(shifted).sum(axis=-1, keepdims=True)
    return shifted - np.where(s > 0, np.log(np.where(s > 0, s, 1)), 0)


def _extended(tg: np.ndarray, tl: np.ndarray, blank: int):
    """The extended labels l' = (blank, l1, blank, l2, ..., blank), the valid states and the allowed skips."""
    n, s_max = tg.shape
    ext = np.full((n, 2 * s_max + 1), blank, dtype=np.int64)
    ext[:, 1::2] = np.where(np.arange(s_max) < tl[:, np.newaxis], tg, blank)
    states = np.arange(ext.shape[1])
    valid = states < 2 * tl[:, np.newaxis] + 1
    skip = np.zeros_like(valid)  # s-2 -> s: allowed onto a label that differs from the label before it
    skip[:, 2:] = (states[2:] % 2 == 1) & (ext[:, 2:] != ext[:, :-2])
    return ext, valid, skip & valid


def _forward(lp3, tg, il, tl, blank):
    """Normalised log-probabilities, the extended labels, per-state emissions, log alpha and log p(l | x).

    The recursions run in float64 whatever the input's dtype: in float32, ``alpha + beta - log p`` cancels
    terms of magnitude ~T and would leave the gradient with relative errors ~1e-4. ``log p(l | x)`` is -inf
    where the loss is infinite in the input's dtype (the loss that ``zero_infinity`` zeroes).
    """
    lpn = _log_softmax(lp3.astype(np.float64, copy=False))
    t_max, n, _ = lpn.shape
    ext, valid, skip = _extended(tg, tl, blank)
    neg = lpn.dtype.type(-np.inf)
    em = np.where(valid, lpn[:, np.arange(n)[:, np.newaxis], ext], neg)  # (T, N, S') emission of state s
    alpha = np.full(em.shape, neg)
    alpha[0, :, :2] = em[0, :, :2]  # start in the first blank or on the first label
    for t in range(1, t_max):
        prev = alpha[t - 1]
        a = prev.copy()
        a[:, 1:] = np.logaddexp(a[:, 1:], prev[:, :-1])
        a[:, 2:] = np.where(skip[:, 2:], np.logaddexp(a[:, 2:], prev[:, :-2]), a[:, 2:])
        alpha[t] = a + em[t]
    rows = np.arange(n)
    last = alpha[np.maximum(il - 1, 0), rows]  # (N, S') at each sequence's last frame
    end_blank = last[rows, 2 * tl]
    end_label = np.where(tl > 0, last[rows, np.maximum(2 * tl - 1, 0)], neg)
    log_lik = np.logaddexp(end_blank, end_label)
    log_lik = np.where(il > 0, log_lik, np.where(tl == 0, 0, neg))
    with np.errstate(over="ignore"):  # a loss beyond float32's range is inf there, its true value
        log_lik = np.where(np.isinf(log_lik.astype(lp3.dtype)), neg, log_lik)
    return lpn, (ext, valid, skip), em, alpha, log_lik


def _occupancy(lpn, labels, em, alpha, log_lik, il, tl):
    """gamma[t, n, c]: posterior probability that frame t of sequence n emits class c (0 where p = 0)."""
    t_max, n, c = lpn.shape
    ext, valid, skip = labels
    neg = lpn.dtype.type(-np.inf)
    beta = np.full(em.shape, neg)  # log beta_t(s), including the emission at t (as aten's)
    ends = valid & (np.arange(ext.shape[1]) >= 2 * tl[:, np.newaxis] - 1)
    nxt = np.full(em.shape[1:], neg)
    for t in range(t_max - 1, -1, -1):
        b = nxt.copy()
        b[:, :-1] = np.logaddexp(b[:, :-1], nxt[:, 1:])
        b[:, :-2] = np.where(skip[:, 2:], np.logaddexp(b[:, :-2], nxt[:, 2:]), b[:, :-2])  # s <- s+2
        start = np.where(ends, em[t], neg)
        inner = (t < il - 1)[:, np.newaxis]
        at_end = (t == il - 1)[:, np.newaxis]
        beta[t] = np.where(at_end, start, np.where(inner, b + em[t], neg))
        nxt = beta[t]
    # alpha_t(s) beta_t(s) / y_t(l'_s) / p(l | x): the occupancy of state s at frame t, in [0, 1]
    ok = np.isfinite(alpha) & np.isfinite(beta) & np.isfinite(log_lik)[np.newaxis, :, np.newaxis]
    safe = [np.where(ok, a, 0) for a in (alpha, beta, em)]
    ll = np.where(np.isfinite(log_lik), log_lik, 0)[np.newaxis, :, np.newaxis]
    with np.errstate(over="ignore"):  # log-probabilities of -1e308 add up to -inf: an occupancy of 0, exactly
        occ = np.exp(np.where(ok, safe[0] + safe[1] - safe[2] - ll, neg))
    # gamma[t, n, c] = sum over the states s with l'_s = c
    index = (np.arange(t_max)[:, None, None] * n + np.arange(n)[None, :, None]) * c + ext[np.newaxis]
    gamma = np.bincount(index.ravel(), weights=occ.ravel(), minlength=t_max * n * c)
    return gamma.reshape(t_max, n, c).astype(lpn.dtype, copy=False)


def _per_sequence(log_lik, zero_infinity, dtype):
    loss = (-log_lik).astype(dtype, copy=False)  # finite log_lik fits dtype (see _forward)
    if zero_infinity:
        loss = np.where(np.isinf(loss), 0, loss).astype(loss.dtype, copy=False)
    return loss


def _reduce(loss, batched, tl, reduction):
    if reduction == "mean":  # each sequence's loss over its target length (at least 1), then the batch mean
        return reduce(loss / np.maximum(tl, 1).astype(loss.dtype), "mean")
    return reduce(loss if batched else loss.reshape(()), reduction)


# --------------------------------------------------------------------------- other array libraries
#
# The same checks and recursions written against the array API standard (``xp``), for eager
# libraries (array-api-strict, PyTorch, CuPy, JAX). NumPy keeps the functions above, unchanged.
# Dask maps those NumPy functions over chunks of the batch (see ``_dask_call``).

_NAMES = ("log_probs", "targets", "input_lengths", "target_lengths")


def _xp_lengths(x, name: str, batched: bool, batch: int, xp, like):
    arr = xpa.asarray(x, xp, like)
    if not xpa.has_kind(arr, "iu", xp):
        raise TypeError(
            f"{name} must hold integer lengths, got {v._describe(arr)}; convert with np.asarray({name}, dtype=np.int64)"
        )
    expected = (batch,) if batched else ()
    if tuple(arr.shape) != expected:
        what = f"a 1-D array of {batch} lengths, one per sequence" if batched else "a scalar (unbatched log_probs)"
        raise ValueError(f"{name} must be {what}, shape {expected}, got shape {tuple(arr.shape)}")
    return arr


def _xp_door(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp):
    """The checks that need no values (dtypes, shapes, options): (lp3, batched, targets, il, tl, zero_inf)."""
    lp = v.as_float_array(log_probs, "log_probs")
    v.check_ndim(lp, "log_probs", (2, 3), "a 3-D (T, N, C) batch or a 2-D (T, C) sequence of log-probabilities")
    if 0 in tuple(lp.shape):
        raise ValueError(f"log_probs must not be empty, got shape {tuple(lp.shape)}")
    batched = lp.ndim == 3
    lp3 = lp if batched else xp.expand_dims(lp, axis=1)
    _, n, c = lp3.shape
    v.check_scalar(blank, "blank", low=0, high=c - 1, integer=True)
    v.check_reduction(reduction)
    zero_infinity = v.check_bool(zero_infinity, "zero_infinity")
    il = _xp_lengths(input_lengths, "input_lengths", batched, n, xp, lp)
    tl = _xp_lengths(target_lengths, "target_lengths", batched, n, xp, lp)
    il, tl = (xp.reshape(xpa.astype(a, xp.int64, xp), (n,)) for a in (il, tl))
    tg = xpa.asarray(targets, xp, lp)
    if not xpa.has_kind(tg, "iu", xp):
        raise TypeError(
            f"targets must hold integer class indices, got {v._describe(tg)}; convert with targets.astype(np.int64)"
        )
    tg = xpa.astype(tg, xp.int64, xp)
    return lp3, batched, tg, il, tl, zero_infinity


def _xp_padded_targets(arr, batched: bool, tl, xp):
    """:func:`_padded_targets` on an eager library (reads max and sum of the lengths)."""
    n = tl.shape[0]
    s_max = int(xpa.scalar(xp.max(tl)))
    if not batched:
        if tuple(arr.shape) != (s_max,):
            raise ValueError(
                f"unbatched targets must be a 1-D array of target_lengths={s_max} labels, got shape {tuple(arr.shape)}"
            )
        return xp.reshape(arr, (1, -1))
    if arr.ndim == 2:
        if arr.shape[0] != n or arr.shape[1] < s_max:
            raise ValueError(
                f"padded targets must have shape (N, S) with N={n} and S >= max(target_lengths)="
                f"{s_max}, got shape {tuple(arr.shape)}"
            )
        return arr[:, :s_max]
    if arr.ndim == 1:
        total = int(xpa.scalar(xp.sum(tl)))
        if arr.shape[0] != total:
            raise ValueError(
                f"concatenated 1-D targets must hold sum(target_lengths)={total} labels, got {arr.shape[0]}"
            )
        if total == 0:
            return xpa.full((n, 0), 0, tl, xp)
        starts = xpa.cumulative_sum(tl, 0, xp) - tl
        pos = starts[:, None] + xpa.int_arange(s_max, tl, xp)[None, :]
        index = xp.where(pos < total - 1, pos, xpa.full(pos.shape, total - 1, pos, xp))
        values = xp.reshape(xp.take(arr, xp.reshape(index, (-1,)), axis=0), (n, s_max))
        return xp.where(pos < (starts + tl)[:, None], values, xp.zeros_like(values))
    raise ValueError(
        f"targets must be padded (N, S) or concatenated (sum(target_lengths),), "
        f"got an array of shape {tuple(arr.shape)}"
    )


def _xp_args(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp):
    """:func:`_args` on an eager library: the value checks read the arrays."""
    lp3, batched, tg, il, tl, zero_infinity = _xp_door(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp
    )
    t_max, n, c = lp3.shape
    bad = xp.isnan(lp3) | (lp3 == xpa.const(np.inf, lp3, xp))
    if xpa.any_true(bad):
        index = xpa.first_index(bad)
        bad_index = index if batched else (index[0], index[2])
        raise ValueError(
            f"log_probs must hold log-probabilities (finite values or -inf), got "
            f"{xpa.scalar(lp3[index])} at {bad_index}"
        )
    for name, lengths in (("input_lengths", il), ("target_lengths", tl)):
        if xpa.any_true(lengths < 0):
            raise ValueError(f"{name} must be >= 0, got {xpa.first_value(lengths, lengths < 0)}")
    if xpa.any_true(il > t_max):
        raise ValueError(f"input_lengths must be <= T={t_max} (log_probs.shape[0]), got {int(xpa.scalar(xp.max(il)))}")
    tg = _xp_padded_targets(tg, batched, tl, xp)
    used = xpa.int_arange(tg.shape[1], tl, xp)[None, :] < tl[:, None]
    bad = used & ((tg < 0) | (tg >= c) | (tg == blank))
    if xpa.any_true(bad):
        b, s = xpa.first_index(bad)
        raise v.ClassIndexError(
            f"targets hold the label {int(xpa.scalar(tg[b, s]))} (sequence {b}, position {s}): "
            f"expected labels in [0, {c - 1}] for {c} classes, other than blank={blank}"
        )
    return lp3, batched, tg, il, tl, int(blank), zero_infinity


def _xp_log_softmax(lp, xp):
    m = xp.max(lp, axis=-1, keepdims=True)
    shifted = lp - xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    s = xp.sum(xp.exp(shifted), axis=-1, keepdims=True)
    return shifted - xp.where(s > 0, xp.log(xp.where(s > 0, s, xp.ones_like(s))), xp.zeros_like(s))


def _shift(a, k: int, fill, xp):
    """``a`` moved ``k`` states along the last axis (right for k > 0, left for k < 0), ``fill`` coming in."""
    n, width = a.shape
    pad = xpa.full((n, min(abs(k), width)), fill, a, xp)
    if k > 0:
        return xp.concat([pad, a[:, : width - pad.shape[1]]], axis=1)
    return xp.concat([a[:, pad.shape[1] :], pad], axis=1)


def _xp_extended(tg, tl, blank: int, xp):
    n, s_max = tg.shape
    blanks = xpa.full((n, s_max), blank, tg, xp)
    labels = xp.where(xpa.int_arange(s_max, tg, xp)[None, :] < tl[:, None], tg, blanks)
    ext = xp.concat(
        [xp.reshape(xp.stack([blanks, labels], axis=-1), (n, 2 * s_max)), xpa.full((n, 1), blank, tg, xp)], axis=1
    )
    states = xpa.int_arange(2 * s_max + 1, tg, xp)
    valid = states[None, :] < (2 * tl + 1)[:, None]
    skip = (
        (states % 2 == 1)[None, :] & (ext != _shift(ext, 2, -1, xp)) & (states >= 2)[None, :]
    )  # s-2 -> s: onto a label that differs from the label before it
    return ext, valid, skip & valid


def _xp_forward(lp3, tg, il, tl, blank, xp):
    lpn = _xp_log_softmax(lp3, xp)
    t_max, n, c = lpn.shape
    ext, valid, skip = _xp_extended(tg, tl, blank, xp)
    neg = xpa.const(-np.inf, lpn, xp)
    hot = xpa.one_hot(ext, c, xp)  # (N, S', C): state s emits class ext[n, s]
    em = xp.sum(xp.where(hot[None, ...], lpn[:, :, None, :], 0), axis=-1)
    em = xp.where(valid[None, ...], em, neg)  # (T, N, S')
    states = xpa.int_arange(ext.shape[1], tg, xp)
    alphas = [xp.where((states < 2)[None, :], em[0, ...], neg)]
    for t in range(1, t_max):
        prev = alphas[-1]
        a = xp.logaddexp(prev, _shift(prev, 1, -np.inf, xp))
        a = xp.where(skip, xp.logaddexp(a, _shift(prev, 2, -np.inf, xp)), a)
        alphas.append(a + em[t, ...])
    alpha = xp.stack(alphas, axis=0)
    last_t = xp.where(il > 0, il - 1, xp.zeros_like(il))
    at_last = xpa.int_arange(t_max, il, xp)[:, None] == last_t[None, :]  # (T, N)
    last = xp.sum(xp.where(at_last[:, :, None], alpha, 0), axis=0)  # (N, S')
    end_blank = xpa.take_along_axis(last, 2 * tl, 1, xp)
    end_label = xp.where(tl > 0, xpa.take_along_axis(last, xp.where(tl > 0, 2 * tl - 1, xp.zeros_like(tl)), 1, xp), neg)
    log_lik = xp.logaddexp(end_blank, end_label)
    log_lik = xp.where(il > 0, log_lik, xp.where(tl == 0, xp.zeros_like(log_lik), neg))
    return lpn, (ext, valid, skip, hot), em, alpha, log_lik


def _xp_occupancy(lpn, labels, em, alpha, log_lik, il, tl, xp):
    t_max, n, c = lpn.shape
    ext, valid, skip, hot = labels
    neg = xpa.const(-np.inf, lpn, xp)
    states = xpa.int_arange(ext.shape[1], ext, xp)
    ends = valid & (states[None, :] >= (2 * tl - 1)[:, None])
    skip_back = _shift(skip, -2, False, xp)  # s <- s+2 where s+2 may skip back to s
    nxt = xpa.full(tuple(em.shape[1:]), -np.inf, em, xp)
    betas = [None] * t_max
    for t in range(t_max - 1, -1, -1):
        b = xp.logaddexp(nxt, _shift(nxt, -1, -np.inf, xp))
        b = xp.where(skip_back, xp.logaddexp(b, _shift(nxt, -2, -np.inf, xp)), b)
        start = xp.where(ends, em[t, ...], neg)
        inner = (il - 1 > t)[:, None]
        at_end = (il - 1 == t)[:, None]
        nxt = xp.where(at_end, start, xp.where(inner, b + em[t, ...], neg))
        betas[t] = nxt
    beta = xp.stack(betas, axis=0)
    ok = xp.isfinite(alpha) & xp.isfinite(beta) & xp.isfinite(log_lik)[None, :, None]
    sa, sb, se = (xp.where(ok, a, xp.zeros_like(a)) for a in (alpha, beta, em))
    ll = xp.where(xp.isfinite(log_lik), log_lik, xp.zeros_like(log_lik))[None, :, None]
    occ = xp.exp(xp.where(ok, sa + sb - se - ll, neg))
    return xp.sum(xp.where(hot[None, ...], occ[..., None], 0), axis=2)  # (T, N, C): sum over s with l'_s = c


def _xp_per_sequence(log_lik, zero_infinity, xp):
    loss = -log_lik
    if zero_infinity:
        loss = xp.where(xp.isinf(loss), xp.zeros_like(loss), loss)
    return loss


def _xp_reduce(loss, batched, tl, reduction, xp):
    if reduction == "mean":
        return reduce(loss / xpa.astype(xp.where(tl > 1, tl, xp.ones_like(tl)), loss.dtype, xp), "mean")
    return reduce(loss if batched else xp.reshape(loss, ()), reduction)


def _xp_upstream(dout, lp3, batched, tl, reduction, xp):
    """Per-sequence upstream gradient w_n, shape (N,)."""
    loss_shape = (tl.shape[0],) if batched else ()
    g = upstream(dout, loss_shape, lp3.dtype, reduction, like=lp3)
    g = xp.reshape(xp.broadcast_to(g, loss_shape), (-1,))
    if reduction == "mean":
        g = g / xpa.astype(xp.where(tl > 1, tl, xp.ones_like(tl)), lp3.dtype, xp)
    return g


def _impossible_error(indices):
    return ValueError(
        f"the CTC loss is infinite for sequence(s) {indices}: no alignment of "
        f"the target fits the input length, so the loss has no gradient; pass zero_infinity=True to zero "
        f"these losses and their gradients"
    )


# --------------------------------------------------------------------------- Dask: NumPy over batch chunks


def _dask_block_args(lp, tg, il, tl, tl_all, rows, *, layout, blank, zero_infinity):
    """One batch chunk's NumPy arguments, value-checked as :func:`_args` (sequences counted in the batch)."""
    if layout == "concatenated":
        tg = _padded_targets(tg, True, tl_all)[rows]
    elif layout == "unbatched":  # one sequence: _args checks the 1-D targets against the scalar lengths
        lp, tg, il, tl = lp[:, 0, :], tg[0], il.reshape(()), tl.reshape(())
    return _args(lp, tg, il, tl, blank, "none", zero_infinity, rows=rows)


def _dask_block_loss(lp, tg, il, tl, tl_all, rows, **options):
    lp3, _, tg, il, tl, blank, zero_inf = _dask_block_args(lp, tg, il, tl, tl_all, rows, **options)
    return _per_sequence(_forward(lp3, tg, il, tl, blank)[-1], zero_inf, lp3.dtype)


def _dask_block_grad(lp, tg, il, tl, tl_all, rows, g, **options):
    lp3, _, tg, il, tl, blank, zero_inf = _dask_block_args(lp, tg, il, tl, tl_all, rows, **options)
    lpn, labels, em, alpha, log_lik = _forward(lp3, tg, il, tl, blank)
    impossible = np.isinf(log_lik)
    if impossible.any() and not zero_inf:
        raise _impossible_error(rows[impossible].tolist())
    gamma = _occupancy(lpn, labels, em, alpha, log_lik, il, tl)
    grad = np.exp(lpn) * gamma.sum(axis=-1, keepdims=True) - gamma
    return (grad * g[np.newaxis, :, np.newaxis]).astype(lp3.dtype, copy=False)


def _dask_call(
    log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp, dout=None, backward=False
):
    """The loss (or its gradient) of Dask arrays, lazily: the NumPy functions mapped over batch chunks."""
    import dask.array as da

    lp3, batched, tg, il, tl, zero_inf = _xp_door(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp
    )
    t_max, n, c = lp3.shape
    if not batched:
        if tg.ndim != 1:
            raise ValueError(
                f"unbatched targets must be a 1-D array of target_lengths labels, got shape {tuple(tg.shape)}"
            )
        layout, tg, tg_index = "unbatched", xp.reshape(tg, (1, -1)), "ns"
    elif tg.ndim == 2:
        if tg.shape[0] != n:
            raise ValueError(
                f"padded targets must have shape (N, S) with N={n} and S >= max(target_lengths), "
                f"got shape {tuple(tg.shape)}"
            )
        layout, tg_index = "padded", "ns"
    elif tg.ndim == 1:
        layout, tg_index = "concatenated", "k"
    else:
        raise ValueError(
            f"targets must be padded (N, S) or concatenated (sum(target_lengths),), "
            f"got an array of shape {tuple(tg.shape)}"
        )
    lp3 = lp3.rechunk({0: -1, 2: -1})  # whole sequences and class rows in each chunk of the batch
    rows = da.arange(n, chunks=lp3.chunks[1], dtype=np.int64)
    args = [lp3, "tnc", tg, tg_index, il, "n", tl, "n", tl.rechunk(-1), "m", rows, "n"]
    options = dict(layout=layout, blank=int(blank), zero_infinity=zero_inf)
    if not backward:
        loss = da.blockwise(
            _dask_block_loss,
            "n",
            *args,
            concatenate=True,
            dtype=lp3.dtype,
            meta=np.empty((0,), dtype=lp3.dtype),
            **options,
        )
        return _xp_reduce(loss, batched, tl, reduction, xp)
    g = _xp_upstream(dout, lp3, batched, tl, reduction, xp)
    grad = da.blockwise(
        _dask_block_grad,
        "tnc",
        *args,
        g,
        "n",
        concatenate=True,
        dtype=lp3.dtype,
        meta=np.empty((0, 0, 0), dtype=lp3.dtype),
        **options,
    )
    return grad if batched else grad[:, 0, :]


# --------------------------------------------------------------------------- the loss


def _ctc_loss_kernel(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    *,
    blank: int = 0,
    reduction: v.Reduction = "mean",
    zero_infinity: bool = False,
):
    """Fused: NumPy arrays, a reducing ``reduction``, every target reachable (or ``zero_infinity``).

    With numba, one compiled pass per sequence (:func:`losslab._fast.ctc`: the checks on values, the
    log-softmax and both recursions). Without it, NumPy's kernel: both recursions at once in rescaled
    probability space, vectorised over the sequences; where that defers (a probability under e^-600, an
    impossible target, -inf), the definitions' own steps in log space, with the checks and the alpha
    recursion run once for the loss and the gradient instead of once each. ``None`` for ``'none'``
    (its ``dout`` runs along the batch, axis 1 of the gradient) and for every call the definitions
    would refuse.
    """
    hit = _fast.ctc(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
    if hit is not None:  # numba's or NumPy's kernel: the checks and both recursions in one pass
        return hit
    arrays = (log_probs, targets, input_lengths, target_lengths)
    if any(a.__class__ is not np.ndarray for a in arrays) or reduction not in ("mean", "sum"):
        return None
    try:
        lp3, batched, tg, il, tl, blank, zero_inf = _args(
            log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
        )
    except (TypeError, ValueError):  # the definitions raise it, with their message
        return None
    lpn, labels, em, alpha, log_lik = _forward(lp3, tg, il, tl, blank)
    if np.isinf(log_lik).any() and not zero_inf:
        return None
    out = _reduce(_per_sequence(log_lik, zero_inf, lp3.dtype), batched, tl, reduction)
    g = np.broadcast_to(upstream(1.0, (len(tl),), lp3.dtype, reduction), (len(tl),))
    if reduction == "mean":
        g = g / np.maximum(tl, 1).astype(lp3.dtype)
    gamma = _occupancy(lpn, labels, em, alpha, log_lik, il, tl)
    grad = np.exp(lpn) * gamma.sum(axis=-1, keepdims=True) - gamma
    grad = (grad * g[np.newaxis, :, np.newaxis]).astype(lp3.dtype, copy=False)
    return out, (grad if batched else grad[:, 0, :])


@_fast.fused(_ctc_loss_kernel)
def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    *,
    blank: int = 0,
    reduction: v.Reduction = "mean",
    zero_infinity: bool = False,
):
    r"""Connectionist temporal classification loss, ``torch.nn.functional.ctc_loss``.

    For sequence :math:`n` with input length :math:`T_n` and target
    :math:`l = (l_1, \dots, l_{L_n})`, let :math:`y_t(k) = \operatorname{softmax}(x_t)_k`
    where :math:`x_t` = ``log_probs[t, n]``, and :math:`\mathcal{B}` map a frame-level
    path to a label sequence by merging repeats, then removing blanks:

    .. math:: \ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(l),\ |\pi| = T_n} \prod_{t < T_n} y_t(\pi_t)

    computed by the alpha recursion over the extended labels
    :math:`l' = (\varnothing, l_1, \varnothing, \dots, l_{L}, \varnothing)` in log space
    (Graves et al. 2006, eqs. 5-8): :math:`\alpha_t(s) = y_t(l'_s)\,[\alpha_{t-1}(s) +
    \alpha_{t-1}(s-1) + \alpha_{t-1}(s-2)\,[l'_s \ne \varnothing,\ l'_s \ne l'_{s-2}]]`,
    :math:`\ell_n = -\log(\alpha_{T_n-1}(2L) + \alpha_{T_n-1}(2L-1))`. A repeated label
    (``a a``) therefore needs a blank between its copies. The gradient is the
    alpha-beta (forward-backward) posterior :math:`\gamma` (eq. 16):

    .. math:: \frac{\partial \ell_n}{\partial x_{t,k}} = y_t(k) - \gamma_t(k), \qquad
              \gamma_t(k) = \frac{1}{p(l \mid x)} \sum_{s:\ l'_s = k} \frac{\alpha_t(s)\beta_t(s)}{y_t(k)}

    for :math:`t < T_n`, and 0 for the frames :math:`t \ge T_n` (they do not enter the loss).

    ``log_probs`` are meant to be log-softmax outputs, as PyTorch requires; losslab
    renormalises them over the classes (a no-op, up to rounding, on log-softmax outputs),
    so the value above and :func:`ctc_loss_backward` are exact derivatives of each other
    for any input. On log-softmax outputs both equal PyTorch's numbers; PyTorch's
    gradient is this same :math:`y - \gamma` (its ``exp(log_probs) - gamma``), which is the
    derivative through the normalisation, not the partial derivative with each entry
    free (that would be :math:`-\gamma`). Where inputs are not normalised, PyTorch's value
    uses them raw while its gradient still assumes normalised ones; losslab does not copy
    that inconsistency.

    Shapes: ``log_probs`` (T, N, C), ``targets`` padded (N, S) (entries beyond each
    target length are ignored) or concatenated (sum(target_lengths),),
    ``input_lengths`` and ``target_lengths`` integer (N,); unbatched: (T, C), (L,), and
    two integer scalars. Output: a scalar, or (N,) (0-d unbatched) for ``'none'``;
    ``'mean'`` divides each loss by its target length (clamped to >= 1), then averages
    over the batch; ``'sum'`` adds the losses. A target that no path of the input's
    length can produce has an infinite loss; ``zero_infinity=True`` sets those losses
    (and their gradients) to 0.

    Raises ``ValueError`` on wrong shapes or lengths (input length > T, negative
    lengths, too few targets), a NaN or +inf log-probability, ``blank`` outside
    ``[0, C)``, or an unknown reduction; :class:`~losslab._validation.ClassIndexError`
    (a ``ValueError``) on a target label outside ``[0, C)`` or equal to ``blank``;
    ``TypeError`` on float lengths or targets, or non-float ``log_probs``.

    >>> import numpy as np
    >>> # T=2 frames, classes (blank, a), target "a": paths aa, a-, -a
    >>> lp = np.log([[[0.4, 0.6]], [[0.3, 0.7]]])
    >>> ctc_loss(lp, np.array([[1]]), np.array([2]), np.array([1]), reduction="none")  # -log 0.88
    array([0.12783337])
    """
    xp = xpa.namespace(log_probs, targets, input_lengths, target_lengths, names=_NAMES)
    if xp is not np:
        if xpa._compat().is_dask_namespace(xp):
            return _dask_call(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp)
        lp3, batched, tg, il, tl, blank, zero_inf = _xp_args(
            log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp
        )
        log_lik = _xp_forward(lp3, tg, il, tl, blank, xp)[-1]
        return _xp_reduce(_xp_per_sequence(log_lik, zero_inf, xp), batched, tl, reduction, xp)
    lp3, batched, tg, il, tl, blank, zero_inf = _args(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
    )
    log_lik = _forward(lp3, tg, il, tl, blank)[-1]
    return _reduce(_per_sequence(log_lik, zero_inf, lp3.dtype), batched, tl, reduction)


@_fast.defbackward(ctc_loss)
def ctc_loss_backward(
    dout,
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    *,
    blank: int = 0,
    reduction: v.Reduction = "mean",
    zero_infinity: bool = False,
) -> np.ndarray:
    r"""Gradient of :func:`ctc_loss` with respect to ``log_probs``: ``w_n (y - gamma)`` per sequence.

    ``w_n`` is the upstream gradient of sequence ``n``'s loss (``dout / (N max(L_n, 1))``
    for ``'mean'``); frames beyond ``input_lengths`` get 0, and so do sequences whose
    infinite loss ``zero_infinity`` zeroed. Without ``zero_infinity``, an infinite loss
    has no gradient: this raises ``ValueError`` naming the sequences (PyTorch returns NaN).

    >>> import numpy as np
    >>> lp = np.log([[[0.4, 0.6]], [[0.3, 0.7]]])
    >>> # gamma_1(a) = (0.42 + 0.18) / 0.88, gamma_2(a) = (0.42 + 0.28) / 0.88
    >>> ctc_loss_backward(1.0, lp, np.array([[1]]), np.array([2]), np.array([1]), reduction="sum").round(4)
    array([[[ 0.0818, -0.0818]],
    <BLANKLINE>
           [[ 0.0955, -0.0955]]])
    """
    xp = xpa.namespace(log_probs, targets, input_lengths, target_lengths, names=_NAMES)
    if xp is not np:
        if xpa._compat().is_dask_namespace(xp):
            return _dask_call(
                log_probs,
                targets,
                input_lengths,
                target_lengths,
                blank,
                reduction,
                zero_infinity,
                xp,
                dout=dout,
                backward=True,
            )
        return _xp_backward(
            dout, log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp
        )
    lp3, batched, tg, il, tl, blank, zero_inf = _args(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
    )
    lpn, labels, em, alpha, log_lik = _forward(lp3, tg, il, tl, blank)
    impossible = np.isinf(log_lik)
    if impossible.any() and not zero_inf:
        raise _impossible_error(np.flatnonzero(impossible).tolist())
    loss_shape = (len(tl),) if batched else ()
    g = np.broadcast_to(upstream(dout, loss_shape, lp3.dtype, reduction), loss_shape).reshape(-1)
    if reduction == "mean":
        g = g / np.maximum(tl, 1).astype(lp3.dtype)
    gamma = _occupancy(lpn, labels, em, alpha, log_lik, il, tl)
    # d l_n / d x = y * sum_k gamma - gamma: the chain rule through the renormalisation, y - gamma where t < T_n
    grad = np.exp(lpn) * gamma.sum(axis=-1, keepdims=True) - gamma
    grad = (grad * g[np.newaxis, :, np.newaxis]).astype(lp3.dtype, copy=False)
    return grad if batched else grad[:, 0, :]


def _xp_backward(dout, log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp):
    """:func:`ctc_loss_backward` on an eager library other than NumPy."""
    lp3, batched, tg, il, tl, blank, zero_inf = _xp_args(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, xp
    )
    g = _xp_upstream(dout, lp3, batched, tl, reduction, xp)
    lpn, labels, em, alpha, log_lik = _xp_forward(lp3, tg, il, tl, blank, xp)
    impossible = xp.isinf(log_lik)
    if xpa.any_true(impossible) and not zero_inf:
        raise _impossible_error([int(i) for i in xp.nonzero(impossible)[0]])
    gamma = _xp_occupancy(lpn, labels, em, alpha, log_lik, il, tl, xp)
    grad = xp.exp(lpn) * xp.sum(gamma, axis=-1, keepdims=True) - gamma
    grad = grad * g[None, :, None]
    return grad if batched else grad[:, 0, :]
