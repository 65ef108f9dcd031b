"""What the registry knows of a loss beyond its class: sample calls, a plot recipe, a summary.

:class:`Case` and :class:`Curve` are written beside each loss (in its
:mod:`losslab.nn` family module, under ``@registered``); the small makers here
(option grids, labels, kink-avoiding nudges) are shared by every family's cases.
Case inputs are float64 (class labels int64); tests cast them to float32 where they
check dtypes. Importing this module imports NumPy only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Case",
    "Curve",
    "Entry",
    "grid",
    "label",
    "away_from",
    "index_targets",
    "pm1",
    "col",
    "elementwise",
    "BENCH_CLASSES",
    "BENCH_FEATURES",
    "paths_of",
]

BENCH_CLASSES = 100  # classes of the benchmarked classification paths
BENCH_FEATURES = 64  # features of the benchmarked embedding and regression paths


@dataclass(frozen=True)
class Case:
    """One sample call of a loss: options and inputs, with a readable id."""

    id: str
    options: dict[str, Any]
    inputs: tuple[np.ndarray, ...]
    numeric: bool = True  # False where a clamp or kink makes central differences meaningless


@dataclass(frozen=True)
class Curve:
    """How to draw a loss against one scalar: ``make(xs)`` builds one sample per value in ``xs``.

    The plotted gradient is that of the differentiable input ``grad_input`` at
    column ``column`` of each sample (the element that ``xs`` fills).
    """

    make: Callable[[Any], tuple[tuple, dict]]  # an array of values, or one float where `at` is set
    xlabel: str
    x_range: tuple[float, float] = (-3.0, 3.0)
    grad_input: int = 0
    column: int | None = None
    # Losses that couple a whole batch (CTC, NT-Xent): ``make(x)`` builds one complete call per
    # value, the plotted value is its 'sum' and the gradient is taken at index ``at``.
    at: tuple | None = None


@dataclass(frozen=True)
class Entry:
    """A loss's line in the registry, declared by :func:`losslab.nn.registered` on its class."""

    summary: str
    cases: Callable[[np.random.Generator], list[Case]]
    curve: Curve | None = None
    torch: bool = True  # torch.nn has a class of the same name and semantics
    array_api: bool = False  # runs on any array library (losslab._array_api), tested on each
    # The option paths the benchmarks time: ``paths(rng, b)`` returns one Case per path, at batch size b
    # (the same ids at every b); ``paths(rng, b, only=id)`` builds that one path alone. Every path a fast
    # kernel or a definition treats apart is listed.
    paths: Callable[..., list[Case]] | None = None


def grid(**options: list) -> Iterator[dict[str, Any]]:
    """Every combination of the option values, as dicts."""
    keys = list(options)
    for values in itertools.product(*(options[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def label(opts: dict[str, Any], extra: str = "") -> str:
    """A case id from its options (``weight=array`` for arrays)."""
    parts = [extra] if extra else []
    for k, val in opts.items():
        parts.append(f"{k}={'array' if isinstance(val, np.ndarray) else val}")
    return ",".join(parts) or "default"


def away_from(values: np.ndarray, kinks, gap: float = 5e-3) -> np.ndarray:
    """Nudge values lying within ``gap`` of a kink, so central differences see one smooth piece."""
    out = values.copy()
    for k in kinks:
        near = np.abs(out - k) < gap
        out[near] = k + 3 * gap * np.where(out[near] >= k, 1, -1)
    return out


def index_targets(rng, shape, num_classes, ignore_index=None, ignored=1):
    """Class labels, with ``ignored`` of them set to ``ignore_index`` when given."""
    t = rng.integers(0, num_classes, size=shape)
    if ignore_index is not None and t.size > 1:
        flat = t.reshape(-1)
        flat[rng.choice(flat.size, size=ignored, replace=False)] = ignore_index
    return t


def pm1(rng, shape):
    """Labels -1 or +1."""
    return rng.choice([-1.0, 1.0], size=shape)


def col(xs, *rest):
    """Rows ``[x, rest...]``: the first column varies."""
    return np.stack([xs] + [np.full_like(xs, r) for r in rest], axis=1)


def elementwise(target, xlabel, x_range=(-3.0, 3.0)) -> Curve:
    """The curve of an elementwise loss against its input, at a fixed target."""
    return Curve(lambda xs: ((xs, np.full_like(xs, target)), {}), xlabel, x_range)


def paths_of(make: Callable[[np.random.Generator, int, dict[str, Any]], tuple], **options: list) -> Callable:
    """Option paths from a grid: every combination of ``options`` (see :func:`grid`), inputs ``make(rng, b, opts)``.

    The id is the grid's combination; ``make`` may also turn placeholders into the call's options (a
    ``"array"`` weight into an array of class weights) by returning ``(inputs, options)``.
    """

    def paths(rng: np.random.Generator, b: int, only: str | None = None) -> list[Case]:
        out = []
        for opts in grid(**options):
            if only is not None and (label(opts) or "default") != only:
                continue
            made = make(rng, b, dict(opts))
            inputs, call = (made[0], made[1]) if len(made) == 2 and isinstance(made[1], dict) else (made, opts)
            out.append(Case(label(opts) or "default", call, tuple(inputs)))
        return out

    return paths
