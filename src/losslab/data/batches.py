"""Mini-batches: epochs that visit every sample once, and the textbook's sampling.

Two ways to draw mini-batches, both from an explicit ``numpy.random.Generator``:

* :func:`iterate_minibatches` shuffles the indices once per call (without
  replacement) and walks through them, so one call is one epoch in which each
  sample appears exactly once; the last, shorter batch is kept unless
  ``drop_last``.
* :func:`sample_minibatch` is the book's ``np.random.choice(train_size,
  batch_size)``: indices drawn *with* replacement, so a sample may repeat
  within a batch and an "epoch" of ``train_size / batch_size`` draws need not
  see every sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._validation import check_bool, check_scalar

__all__ = ["iterate_minibatches", "iterations_per_epoch", "sample_minibatch"]


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), got {type(rng).__name__}"
        )
    return rng


def _check_pair(x, t) -> tuple[np.ndarray, np.ndarray]:
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0:
        raise ValueError(f"x and t must be arrays with one sample per row, got shapes {x.shape} and {t.shape}")
    if len(x) != len(t):
        raise ValueError(f"x and t must hold the same number of samples, got len(x)={len(x)} and len(t)={len(t)}")
    return x, t


def iterations_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches in one epoch of ``n`` samples: ``ceil(n / batch_size)``.

    With ``drop_last`` the last, shorter batch is not counted: ``n // batch_size``.

    Example:
        >>> iterations_per_epoch(2000, 64), iterations_per_epoch(2000, 64, drop_last=True)
        (32, 31)
    """
    check_scalar(n, "n", low=0, integer=True)
    check_scalar(batch_size, "batch_size", low=1, integer=True)
    check_bool(drop_last, "drop_last")
    full, rest = divmod(int(n), int(batch_size))
    return full + (1 if rest and not drop_last else 0)


def iterate_minibatches(
    x, t, batch_size: int, *, rng: np.random.Generator, shuffle: bool = True, drop_last: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x_batch, t_batch)`` pairs covering every sample exactly once (one epoch).

    The order is a permutation drawn from ``rng`` when the function is called
    (``shuffle=False``: the original order). Every batch holds ``batch_size``
    samples except the last, which holds the ``len(x) % batch_size`` left
    over, unless ``drop_last`` drops it. Batches are copies (fancy indexing).

    Args:
        x, t: arrays with one sample per row (``t``: labels or one-hot rows).
        batch_size: a positive integer.
        rng: the generator that draws the permutation.
        shuffle: shuffle the order (without replacement).
        drop_last: skip the last, shorter batch.

    Raises:
        ValueError: ``x`` and ``t`` of different lengths (both are shown), or
            ``batch_size`` below 1.
        TypeError: ``batch_size`` not an integer, ``rng`` not a Generator.

    Example:
        >>> x, t = np.arange(10).reshape(5, 2), np.arange(5)
        >>> [tb.tolist() for _, tb in iterate_minibatches(x, t, 2, rng=np.random.default_rng(0), shuffle=False)]
        [[0, 1], [2, 3], [4]]
        >>> sorted(int(i) for _, tb in iterate_minibatches(x, t, 2, rng=np.random.default_rng(0)) for i in tb)
        [0, 1, 2, 3, 4]
    """
    x, t = _check_pair(x, t)
    check_scalar(batch_size, "batch_size", low=1, integer=True)
    _check_rng(rng)
    shuffle = check_bool(shuffle, "shuffle")
    drop_last = check_bool(drop_last, "drop_last")
    n = len(x)
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = iterations_per_epoch(n, batch_size, drop_last) * int(batch_size)
    return _batches(x, t, order[:stop], int(batch_size))


def _batches(
    x: np.ndarray, t: np.ndarray, order: np.ndarray, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], t[idx]


def sample_minibatch(x, t, batch_size: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The book's mini-batch: ``batch_size`` indices drawn with replacement.

    Same as ``batch_mask = np.random.choice(train_size, batch_size)``;
    ``x[batch_mask], t[batch_mask]``, with the explicit generator ``rng``.
    ``batch_size`` may exceed ``len(x)``.

    Raises:
        ValueError: ``x`` and ``t`` of different lengths, ``x`` empty, or
            ``batch_size`` below 1.
        TypeError: ``batch_size`` not an integer, ``rng`` not a Generator.

    Example:
        >>> x, t = np.zeros((100, 784)), np.zeros(100, dtype=np.int64)
        >>> xb, tb = sample_minibatch(x, t, 10, rng=np.random.default_rng(0))
        >>> xb.shape, tb.shape
        ((10, 784), (10,))
    """
    x, t = _check_pair(x, t)
    check_scalar(batch_size, "batch_size", low=1, integer=True)
    _check_rng(rng)
    if len(x) == 0:
        raise ValueError("x and t are empty: there is nothing to sample a mini-batch from")
    batch_mask = rng.choice(len(x), int(batch_size))
    return x[batch_mask], t[batch_mask]
