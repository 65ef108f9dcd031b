"""The one registry of losses: it drives the parametrized tests, the CLI's choices and the docs table.

Each :class:`LossSpec` names a loss's class, its pure function and backward
(resolved lazily, so ``import losslab`` stays cheap), its positional inputs,
which of them are differentiable, its reductions, and ``cases``: a function of a
random generator that returns sample inputs covering every option combination
the tests check. Case inputs are float64 (class labels int64); tests cast them
to float32 where they check dtypes.

Adding a loss means writing its module and adding one ``LossSpec`` here.
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["Case", "Curve", "LossSpec", "LOSSES", "get", "names", "markdown_table", "curve_values"]


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

    make: Callable[[np.ndarray], tuple[tuple, dict]]
    xlabel: str
    x_range: tuple[float, float] = (-3.0, 3.0)
    grad_input: int = 0
    column: int | None = None
    # Losses that couple a whole batch (CTC, NT-Xent): ``make(x)`` builds one complete call per
    # value, the plotted value is its 'sum' and the gradient is taken at index ``at``.
    at: tuple | None = None


@dataclass(frozen=True)
class LossSpec:
    name: str                        # the class name in losslab.nn (PyTorch's where it has one)
    module: str                      # family module under losslab.functional / losslab.nn
    function_name: str               # the pure function in losslab.functional
    inputs: tuple[str, ...]          # positional inputs, in call order
    differentiable: tuple[str, ...]  # inputs that backward returns gradients for, in order
    options: tuple[str, ...]         # constructor / keyword options (reduction included)
    summary: str
    cases: Callable[[np.random.Generator], list[Case]] = field(repr=False)
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    torch_name: str | None = None    # the torch.nn class to compare with, if any
    curve: Curve | None = None       # how `losslab plot` draws it against one scalar
    array_api: bool = False          # runs on any array library (losslab._array_api), tested on each

    @property
    def function(self) -> Callable:
        return getattr(importlib.import_module(f"losslab.functional.{self.module}"), self.function_name)

    @property
    def backward(self) -> Callable:
        mod = importlib.import_module(f"losslab.functional.{self.module}")
        return getattr(mod, f"{self.function_name}_backward")

    @property
    def cls(self) -> type:
        return getattr(importlib.import_module(f"losslab.nn.{self.module}"), self.name)

    @property
    def grad_positions(self) -> tuple[int, ...]:
        return tuple(self.inputs.index(n) for n in self.differentiable)

    def make_cases(self, seed: int = 0) -> list[Case]:
        return self.cases(np.random.default_rng(seed))


# ----------------------------------------------------------------------------- sample makers

def _grid(**options: list) -> Iterator[dict[str, Any]]:
    keys = list(options)
    for values in itertools.product(*(options[k] for k in keys)):
        yield dict(zip(keys, values))


def _label(opts: dict[str, Any], extra: str = "") -> str:
    parts = [extra] if extra else []
    for k, val in opts.items():
        parts.append(f"{k}={'array' if isinstance(val, np.ndarray) else val}")
    return ",".join(parts) or "default"


def _away_from(values: np.ndarray, kinks, gap: float = 5e-3) -> np.ndarray:
    """Nudge values lying within ``gap`` of a kink, so central differences see one smooth piece."""
    out = values.copy()
    for k in kinks:
        near = np.abs(out - k) < gap
        out[near] = k + 3 * gap * np.where(out[near] >= k, 1, -1)
    return out


def _index_targets(rng, shape, num_classes, ignore_index=None, ignored=1):
    t = rng.integers(0, num_classes, size=shape)
    if ignore_index is not None and t.size > 1:
        flat = t.reshape(-1)
        flat[rng.choice(flat.size, size=ignored, replace=False)] = ignore_index
    return t


def _cross_entropy_cases(rng) -> list[Case]:
    n, c = 5, 4
    cases = []
    weight = rng.uniform(0.5, 2.0, c)
    for opts in _grid(weight=[None, weight], ignore_index=[-100, 2], label_smoothing=[0.0, 0.25]):
        x = rng.normal(0, 2, (n, c))
        t = _index_targets(rng, n, c, opts["ignore_index"] if opts["ignore_index"] != -100 else None)
        cases.append(Case(_label(opts, "index"), opts, (x, t)))
    for opts in _grid(weight=[None, weight], label_smoothing=[0.0, 0.25]):
        x = rng.normal(0, 2, (n, c))
        p = rng.dirichlet(np.ones(c), size=n)
        cases.append(Case(_label(opts, "probs"), opts, (x, p)))
    for opts in _grid(weight=[None, weight], label_smoothing=[0.0, 0.1]):
        x = rng.normal(0, 2, (2, c, 3, 2))
        t = _index_targets(rng, (2, 3, 2), c, -100)
        cases.append(Case(_label(dict(opts, ignore_index=-100), "kdim-index"),
                          dict(opts, ignore_index=-100), (x, t)))
    x = rng.normal(0, 2, (2, c, 3))
    p = np.moveaxis(rng.dirichlet(np.ones(c), size=(2, 3)), -1, 1)
    cases.append(Case("kdim-probs", {"label_smoothing": 0.1}, (x, p)))
    cases.append(Case("unbatched", {}, (rng.normal(0, 2, c), np.array(1))))
    return cases


def _nll_cases(rng) -> list[Case]:
    n, c = 5, 4
    weight = rng.uniform(0.5, 2.0, c)
    cases = []
    for opts in _grid(weight=[None, weight], ignore_index=[-100, 0]):
        x = rng.normal(0, 2, (n, c))
        t = _index_targets(rng, n, c, opts["ignore_index"] if opts["ignore_index"] != -100 else None)
        cases.append(Case(_label(opts), opts, (x, t)))
    cases.append(Case("kdim", {"weight": weight}, (rng.normal(0, 2, (2, c, 3)), rng.integers(0, c, (2, 3)))))
    cases.append(Case("unbatched", {}, (rng.normal(0, 2, c), np.array(3))))
    return cases


def _bce_cases(rng) -> list[Case]:
    cases = []
    for opts in _grid(weight=[None, rng.uniform(0.5, 2.0, 3), rng.uniform(0.5, 2.0, (4, 3))]):
        p = rng.uniform(0.05, 0.95, (4, 3))
        hard = rng.integers(0, 2, (4, 3)).astype(float)
        cases.append(Case(_label(opts, "hard"), opts, (p, hard)))
        cases.append(Case(_label(opts, "soft"), opts, (rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3)))))
    return cases


def _bce_logits_cases(rng) -> list[Case]:
    cases = []
    for opts in _grid(weight=[None, rng.uniform(0.5, 2.0, 3)], pos_weight=[None, rng.uniform(0.5, 3.0, 3)]):
        x = rng.normal(0, 3, (4, 3))
        t = rng.integers(0, 2, (4, 3)).astype(float)
        cases.append(Case(_label(opts), opts, (x, t)))
    cases.append(Case("soft-3d", {}, (rng.normal(0, 3, (2, 3, 3)), rng.uniform(0, 1, (2, 3, 3)))))
    return cases


def _pair_cases(shapes, kinks=(), scale=2.0, **options):
    def make(rng) -> list[Case]:
        cases = []
        for shape in shapes:
            for opts in _grid(**options):
                x = rng.normal(0, scale, shape)
                t = rng.normal(0, scale, shape)
                d = _away_from(x - t, [k for kink in kinks for k in kink(opts)])
                cases.append(Case(_label(opts, "x".join(map(str, shape))), opts, (t + d, t)))
        return cases
    return make


def _kl_cases(rng) -> list[Case]:
    cases = []
    for log_target in (False, True):
        x = np.log(rng.dirichlet(np.ones(4), size=3))
        p = rng.dirichlet(np.ones(4), size=3)
        if not log_target:
            p[0, 1] = 0.0  # 0 log 0 = 0
        t = np.log(p) if log_target else p
        cases.append(Case(f"log_target={log_target}", {"log_target": log_target}, (x, t)))
    return cases


def _poisson_cases(rng) -> list[Case]:
    cases = []
    for opts in _grid(log_input=[True, False], full=[False, True]):
        t = rng.poisson(2.0, (4, 3)).astype(float)
        x = rng.normal(0, 1, (4, 3)) if opts["log_input"] else rng.uniform(0.3, 3.0, (4, 3))
        cases.append(Case(_label(opts), opts, (x, t)))
    return cases


def _gaussian_cases(rng) -> list[Case]:
    cases = []
    for full in (False, True):
        for kind, vshape in (("hetero", (4, 3)), ("homo", (4,)), ("homo-keepdim", (4, 1)), ("homo-dim1", (1, 3))):
            x, t = rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3))
            var = rng.uniform(0.2, 2.0, vshape)
            cases.append(Case(f"{kind},full={full}", {"full": full}, (x, t, var)))
    var = rng.uniform(0.0, 0.2, (4, 3))
    cases.append(Case("clamped", {"eps": 0.1}, (rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3)), var),
                      numeric=False))
    return cases


def _pm1(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


def _margin_ranking_cases(rng) -> list[Case]:
    cases = []
    for margin in (0.0, 0.5):
        x1, x2, y = rng.normal(0, 1, 6), rng.normal(0, 1, 6), _pm1(rng, 6)
        d = _away_from(-y * (x1 - x2) + margin, [0.0])
        x1 = x2 - (d - margin) / y
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x1, x2, y)))
    return cases


def _hinge_embedding_cases(rng) -> list[Case]:
    cases = []
    for margin in (1.0, 2.0):
        x = _away_from(rng.normal(margin / 2, 1.5, (4, 3)), [margin])
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x, _pm1(rng, (4, 3)))))
    return cases


def _soft_margin_cases(rng) -> list[Case]:
    return [Case("2d", {}, (rng.normal(0, 2, (4, 3)), _pm1(rng, (4, 3)))),
            Case("1d", {}, (rng.normal(0, 2, 5), _pm1(rng, 5)))]


def _multilabel_soft_margin_cases(rng) -> list[Case]:
    cases = []
    for weight in (None, rng.uniform(0.5, 2.0, 4)):
        opts = {"weight": weight}
        x = rng.normal(0, 2, (5, 4))
        cases.append(Case(_label(opts), opts, (x, rng.integers(0, 2, (5, 4)).astype(float))))
    return cases


def _multi_margin_cases(rng) -> list[Case]:
    cases = []
    n, c = 5, 4
    for opts in _grid(p=[1, 2], margin=[1.0, 0.5], weight=[None, rng.uniform(0.5, 2.0, c)]):
        while True:  # draw until every hinge margin - x[y] + x[j] is off its kink
            x, t = rng.normal(0, 1, (n, c)), rng.integers(0, c, n)
            z = opts["margin"] - x[np.arange(n), t][:, None] + x
            z[np.arange(n), t] = 1.0
            if np.abs(z).min() > 5e-3:
                break
        cases.append(Case(_label(opts), opts, (x, t)))
    cases.append(Case("unbatched", {}, (rng.normal(0, 1, c), np.array(2))))
    return cases


def _multilabel_margin_cases(rng) -> list[Case]:
    y = np.array([[3, 0, -1, 1], [1, 2, 3, -1], [2, -1, 0, 0], [0, 1, 2, 3]])
    return [Case("2d", {}, (rng.normal(0, 1, (4, 4)), y)),
            Case("unbatched", {}, (rng.normal(0, 1, 4), np.array([2, 0, -1, 1])))]


def _cosine_embedding_cases(rng) -> list[Case]:
    cases = []
    for margin in (0.0, 0.3):
        x1, x2 = rng.normal(0, 1, (5, 3)), rng.normal(0, 1, (5, 3))
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x1, x2, _pm1(rng, 5))))
    cases.append(Case("unbatched", {"margin": 0.1}, (rng.normal(0, 1, 3), rng.normal(0, 1, 3), np.array(-1.0))))
    return cases


def _triplet_cases(rng) -> list[Case]:
    cases = []
    for opts in _grid(margin=[1.0, 0.5], p=[2.0, 1.0, 3.0], swap=[False, True]):
        a, p_, n_ = (rng.normal(0, 1, (5, 3)) for _ in range(3))
        cases.append(Case(_label(opts), opts, (a, p_, n_)))
    cases.append(Case("unbatched", {}, tuple(rng.normal(0, 1, 3) for _ in range(3))))
    return cases


# -- EXTRA-A case makers go here --

def _ctc_log_probs(rng, shape):
    """Log-softmax outputs over the last axis (the numerical check still perturbs each entry freely)."""
    x = rng.normal(0, 1.5, shape)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _ctc_cases(rng) -> list[Case]:
    i64 = np.int64
    cases = []
    il, tl = np.array([6, 4, 5], dtype=i64), np.array([3, 2, 0], dtype=i64)
    padded = np.array([[1, 3, 3], [2, 1, 0], [0, 0, 0]], dtype=i64)  # 0-padding (the blank) is ignored
    for zero_infinity in (False, True):
        opts = {"zero_infinity": zero_infinity}
        cases.append(Case(_label(opts, "padded"), opts, (_ctc_log_probs(rng, (6, 3, 4)), padded, il, tl)))
    concatenated = np.array([1, 3, 3, 2, 1], dtype=i64)
    cases.append(Case("concatenated", {}, (_ctc_log_probs(rng, (6, 3, 4)), concatenated, il, tl)))
    repeats = np.array([[1, 1, 2], [2, 2, 2]], dtype=i64)  # 'a a' needs a blank between; '2 2 2' in 5 frames
    cases.append(Case("repeats", {}, (_ctc_log_probs(rng, (7, 2, 3)), repeats, np.array([7, 5], dtype=i64),
                                      np.array([3, 3], dtype=i64))))
    cases.append(Case("blank=2", {"blank": 2}, (_ctc_log_probs(rng, (5, 2, 4)), np.array([[0, 3], [3, 1]], dtype=i64),
                                                np.array([5, 3], dtype=i64), np.array([2, 1], dtype=i64))))
    cases.append(Case("unbatched", {}, (_ctc_log_probs(rng, (5, 3)), np.array([1, 2], dtype=i64),
                                        np.array(5, dtype=i64), np.array(2, dtype=i64))))
    impossible = np.array([[1, 1], [2, 1], [1, 2]], dtype=i64)  # '1 1' cannot fit 2 frames: loss inf -> 0
    cases.append(Case("zero_infinity-impossible", {"zero_infinity": True},
                      (_ctc_log_probs(rng, (4, 3, 3)), impossible, np.array([2, 4, 3], dtype=i64),
                       np.array([2, 2, 1], dtype=i64))))
    return cases


def _triplet_distance_cases(rng) -> list[Case]:
    from .functional.metric import _distance

    def draw(shape, opts):
        dist = _distance(opts.get("distance_function"))
        while True:  # draw until the hinge (and the swap's min) is off its kink
            a, p_, n_ = (rng.normal(0, 1, shape) for _ in range(3))
            d_ap, d_an, d_pn = dist[0](a, p_), dist[0](a, n_), dist[0](p_, n_)
            d_neg = np.minimum(d_an, d_pn) if opts.get("swap") else d_an
            gaps = [opts.get("margin", 1.0) + d_ap - d_neg] + ([d_an - d_pn] if opts.get("swap") else [])
            if min(np.abs(g).min() for g in gaps) > 5e-3:
                return a, p_, n_

    cases = []
    for opts in _grid(distance_function=[None, "cosine"], swap=[False, True], margin=[1.0, 0.5]):
        cases.append(Case(_label(opts), opts, draw((5, 3), opts)))
    opts = {"distance_function": "pairwise", "margin": 2.0}
    cases.append(Case(_label(opts), opts, draw((4, 2), opts)))
    opts = {"distance_function": "cosine", "swap": True}
    cases.append(Case(_label(opts, "unbatched"), opts, draw((3,), opts)))
    return cases


def _contrastive_cases(rng) -> list[Case]:
    cases = []
    for margin in (1.0, 2.0):
        x1, x2 = rng.normal(0, 0.7, (6, 3)), rng.normal(0, 0.7, (6, 3))
        y = np.array([1, 0, 0, 1, 0, 0])
        d = np.linalg.norm(x1 - x2, axis=-1)
        x2 = x1 - (x1 - x2) * (_away_from(d, [margin]) / d)[:, None]  # dissimilar hinge off its kink
        cases.append(Case(f"margin={margin}", {"margin": margin}, (x1, x2, y)))
    cases.append(Case("unbatched", {"margin": 1.5}, (rng.normal(0, 0.5, 3), rng.normal(0, 0.5, 3), np.array(0))))
    return cases


def _ntxent_cases(rng) -> list[Case]:
    cases = [Case(f"temperature={t}", {"temperature": t}, (rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3))))
             for t in (0.07, 0.5, 1.0)]
    cases.append(Case("default-5x2", {}, (rng.normal(0, 1, (5, 2)), rng.normal(0, 1, (5, 2)))))
    return cases


# -- EXTRA-B case makers go here --

def _sigmoid_focal_cases(rng) -> list[Case]:
    cases = []
    for opts in _grid(alpha=[0.25, -1.0], gamma=[0.0, 1.0, 2.0]):
        x, t = rng.normal(0, 2, (4, 3)), rng.integers(0, 2, (4, 3)).astype(float)
        cases.append(Case(_label(opts, "hard"), opts, (x, t)))
    cases.append(Case("soft,alpha=0.6,gamma=2.0", {"alpha": 0.6, "gamma": 2.0},
                      (rng.normal(0, 2, (4, 3)), rng.uniform(0, 1, (4, 3)))))
    # gamma < 1, at moderate logits (|x| < 2.5)
    cases.append(Case("hard,gamma=0.5", {"gamma": 0.5},
                      (rng.uniform(-2.5, 2.5, (2, 3, 2)), rng.integers(0, 2, (2, 3, 2)).astype(float))))
    return cases


def _focal_cases(rng) -> list[Case]:
    n, c = 5, 4
    weight = rng.uniform(0.5, 2.0, c)
    cases = []
    for opts in _grid(gamma=[0.0, 1.0, 2.0], weight=[None, weight], ignore_index=[-100, 2]):
        x = rng.normal(0, 2, (n, c))
        t = _index_targets(rng, n, c, opts["ignore_index"] if opts["ignore_index"] != -100 else None)
        cases.append(Case(_label(opts), opts, (x, t)))
    cases.append(Case("kdim,gamma=2.0", {"gamma": 2.0, "weight": weight},
                      (rng.normal(0, 2, (2, c, 3, 2)), _index_targets(rng, (2, 3, 2), c, -100))))
    cases.append(Case("gamma=0.5", {"gamma": 0.5}, (rng.uniform(-1.5, 1.5, (n, c)), rng.integers(0, c, n))))
    cases.append(Case("unbatched", {}, (rng.normal(0, 2, c), np.array(1))))
    return cases


def _poly_cases(rng) -> list[Case]:
    n, c = 5, 4
    cases = []
    for epsilon in (2.0, -1.0, 0.0):
        cases.append(Case(f"index,epsilon={epsilon}", {"epsilon": epsilon},
                          (rng.normal(0, 2, (n, c)), rng.integers(0, c, n))))
        cases.append(Case(f"probs,epsilon={epsilon}", {"epsilon": epsilon},
                          (rng.normal(0, 2, (n, c)), rng.dirichlet(np.ones(c), size=n))))
    return cases


def _segmentation_inputs(rng, classes, logits, dense, shape=(2, 3, 4)):
    """(input, target) for the overlap losses: logits, or probabilities 0.02 away from 0 and 1 (out of the
    5-point stencil's reach: input outside [0, 1] is an error)."""
    n, spatial = shape[0], shape[1:]
    x = rng.normal(0, 2, (n, classes) + spatial) if logits else rng.uniform(0.02, 0.98, (n, classes) + spatial)
    labels = rng.integers(0, max(classes, 2), (n,) + spatial)
    if not dense:
        return x, labels
    if classes == 1:
        return x, rng.uniform(0, 1, x.shape)  # soft labels
    return x, np.moveaxis(np.eye(classes)[labels], -1, 1)  # one-hot masks


def _overlap_cases(option_sets: list[dict]):
    """Cases of an overlap loss: C in {1, 3}, probabilities or logits, mask or index targets, per option set."""
    def make(rng) -> list[Case]:
        cases = []
        for classes, logits, dense in itertools.product((1, 3), (False, True), (True, False)):
            for opts in option_sets:
                opts = dict(opts, logits=logits)
                x, t = _segmentation_inputs(rng, classes, logits, dense)
                cases.append(Case(_label(opts, f"C={classes},{'mask' if dense else 'index'}"), opts, (x, t)))
        return cases
    return make


def _generalized_dice_cases(rng) -> list[Case]:
    cases = _overlap_cases([{"smooth": 1e-5}, {"smooth": 1.0}])(rng)
    x = rng.uniform(0.02, 0.98, (2, 3, 3, 4))
    labels = rng.integers(0, 2, (2, 3, 4))  # class 2 absent: it takes the largest present weight
    labels[1] = 0  # sample 1: only class 0 present
    cases.append(Case("absent-classes", {"smooth": 1e-5}, (x, labels)))
    cases.append(Case("absent-classes,logits", {"smooth": 1e-5, "logits": True},
                      (rng.normal(0, 2, (2, 3, 3, 4)), labels)))
    return cases


def _log_cosh_cases(rng) -> list[Case]:
    return [Case("4x3", {}, (rng.normal(0, 2, (4, 3)), rng.normal(0, 2, (4, 3)))),
            Case("2x3x2", {}, (rng.normal(0, 2, (2, 3, 2)), rng.normal(0, 2, (2, 3, 2))))]


def _quantile_cases(rng) -> list[Case]:
    cases = []
    for quantiles in ((0.1, 0.5, 0.9), (0.25, 0.75), (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)):
        t = rng.normal(0, 2, 5)
        d = _away_from(rng.normal(0, 2, (5, len(quantiles))), [0.0])
        cases.append(Case(f"quantiles={quantiles}", {"quantiles": quantiles}, (t[:, None] + d, t)))
    return cases


def _charbonnier_cases(rng) -> list[Case]:
    cases = []
    for eps in (1e-3, 0.5):
        t = rng.normal(0, 2, (4, 3))
        d = _away_from(rng.normal(0, 2, (4, 3)), [0.0], gap=0.05)  # curvature 1/eps at d = 0
        cases.append(Case(f"eps={eps}", {"eps": eps}, (t + d, t)))
    return cases


def _sparse_scores(rng, n, c):
    """Scores whose sparsemax is known and every entry at least 0.05 from the support's edge."""
    z = np.empty((n, c))
    for row in z:
        k = rng.integers(1, c + 1)
        support = rng.permutation(c)[:k]
        p = 0.05 + (1 - 0.05 * k) * rng.dirichlet(np.ones(k))
        tau = rng.normal(0, 1)
        row[:] = tau - rng.uniform(0.05, 1.5, c)
        row[support] = tau + p
    return z


def _sparsemax_loss_cases(rng) -> list[Case]:
    return [Case("index", {}, (_sparse_scores(rng, 6, 4), rng.integers(0, 4, 6))),
            Case("probs", {}, (_sparse_scores(rng, 5, 4), rng.dirichlet(np.ones(4), size=5))),
            Case("index-6-classes", {}, (_sparse_scores(rng, 4, 6), rng.integers(0, 6, 4)))]


def _hinge_scores(rng, n, c, labels):
    """Scores whose augmented maximum max_j (s_j + 1 - y_j) leads the runner-up by >= 0.05."""
    x = rng.normal(0, 1, (n, c))
    augmented = x + 1 - np.eye(c)[labels]
    top = np.sort(augmented, axis=1)
    near = top[:, -1] - top[:, -2] < 0.05
    x[near, np.argmax(augmented[near], axis=1)] += 0.1
    return x


def _multiclass_hinge_cases(rng) -> list[Case]:
    cases = []
    for n, c in ((6, 4), (5, 3)):
        labels = rng.integers(0, c, n)
        cases.append(Case(f"{n}x{c}", {}, (_hinge_scores(rng, n, c, labels), labels)))
    return cases


# ----------------------------------------------------------------------------- plot recipes

def _col(xs, *rest):
    """Rows ``[x, rest...]``: the first column varies."""
    return np.stack([xs] + [np.full_like(xs, r) for r in rest], axis=1)


def _elementwise(target, xlabel, x_range=(-3.0, 3.0)):
    return Curve(lambda xs: ((xs, np.full_like(xs, target)), {}), xlabel, x_range)


CURVES: dict[str, Curve] = {
    "CrossEntropyLoss": Curve(lambda xs: ((_col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
                              "logit of the true class (2 other logits at 0)", (-6.0, 6.0), column=0),
    "NLLLoss": Curve(lambda xs: ((_col(xs, -1.0), np.zeros(len(xs), dtype=np.int64)), {}),
                     "log-probability of the true class", (-5.0, 0.0), column=0),
    "BCELoss": _elementwise(1.0, "predicted probability (target 1)", (0.01, 0.99)),
    "BCEWithLogitsLoss": _elementwise(1.0, "logit (target 1)", (-6.0, 6.0)),
    "MSELoss": _elementwise(0.0, "prediction - target"),
    "L1Loss": _elementwise(0.0, "prediction - target"),
    "SmoothL1Loss": _elementwise(0.0, "prediction - target (beta 1)"),
    "HuberLoss": _elementwise(0.0, "prediction - target (delta 1)"),
    "KLDivLoss": Curve(lambda xs: ((_col(xs, np.log(0.5)), np.full((len(xs), 2), 0.5)), {}),
                       "log q of the first class (target p = [0.5, 0.5])", (-5.0, 0.0), column=0),
    "PoissonNLLLoss": _elementwise(2.0, "log rate (target count 2)", (-2.0, 3.0)),
    "GaussianNLLLoss": Curve(lambda xs: ((xs, np.zeros_like(xs), np.ones_like(xs)), {}),
                             "prediction - target (variance 1)"),
    "MarginRankingLoss": Curve(lambda xs: ((xs, np.zeros_like(xs), np.ones_like(xs)), {"margin": 0.5}),
                               "score1 - score2 (target 1, margin 0.5)"),
    "HingeEmbeddingLoss": _elementwise(-1.0, "distance x (dissimilar pair, margin 1)", (-1.0, 3.0)),
    "SoftMarginLoss": _elementwise(1.0, "score (label +1)", (-6.0, 6.0)),
    "MultiLabelSoftMarginLoss": Curve(lambda xs: ((_col(xs, 0.0), _col(np.ones_like(xs), 0.0)), {}),
                                      "logit of a positive label", (-6.0, 6.0), column=0),
    "MultiMarginLoss": Curve(lambda xs: ((_col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
                             "score of the true class (2 others at 0)", column=0),
    "MultiLabelMarginLoss": Curve(lambda xs: ((_col(xs, 0.0, 0.0),
                                               np.tile(np.array([0, -1, -1]), (len(xs), 1))), {}),
                                  "score of the target class (2 others at 0)", column=0),
    "CosineEmbeddingLoss": Curve(lambda xs: ((_col(np.ones_like(xs), 0.0) + _col(np.zeros_like(xs), 1.0) * xs[:, None],
                                              _col(np.ones_like(xs), 0.0), np.ones_like(xs)), {}),
                                 "second coordinate of x1 = [1, x] (x2 = [1, 0], similar pair)", column=1),
    "TripletMarginLoss": Curve(lambda xs: ((xs[:, None], np.zeros((len(xs), 1)), np.ones((len(xs), 1))), {}),
                               "anchor position (positive at 0, negative at 1)", (-2.0, 3.0), column=0),
    # -- EXTRA-A curves go here --
    "CTCLoss": Curve(lambda x: ((np.array([[[0.0, 0.0, 0.0]], [[0.0, x, 0.0]], [[0.0, 0.0, 0.0]]]),
                                 np.array([[1]]), np.array([3]), np.array([1])), {}),
                     "score of label 1 at frame 2 of 3 (target [1])",
                     (-6.0, 6.0), at=(1, 0, 1)),
    "TripletMarginWithDistanceLoss": Curve(lambda xs: ((xs[:, None], np.zeros((len(xs), 1)), np.ones((len(xs), 1))),
                                                       {}),
                                           "anchor position (positive at 0, negative at 1, Euclidean distance)",
                                           (-2.0, 3.0), column=0),
    "ContrastiveLoss": Curve(lambda xs: ((xs[:, None], np.zeros((len(xs), 1)), np.zeros(len(xs), dtype=np.int64)),
                                         {}), "x1 = [x], x2 = [0]: dissimilar pair, margin 1", (-2.0, 2.0), column=0),
    "NTXentLoss": Curve(lambda x: ((np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]),
                                    np.array([[1.0, x], [0.0, 1.0], [-1.0, 0.0]])), {"temperature": 0.5}),
                        "view 2's first embedding is [1, x]; its positive is [1, 0]",
                        (-4.0, 4.0), grad_input=1, at=(0, 1)),
    # -- EXTRA-B curves go here --
    "SigmoidFocalLoss": _elementwise(1.0, "logit (target 1, alpha 0.25, gamma 2)", (-6.0, 6.0)),
    "FocalLoss": Curve(lambda xs: ((_col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
                       "logit of the true class (2 other logits at 0, gamma 2)", (-6.0, 6.0), column=0),
    "PolyLoss": Curve(lambda xs: ((_col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
                      "logit of the true class (2 other logits at 0, epsilon 2)", (-6.0, 6.0), column=0),
    "DiceLoss": Curve(lambda xs: ((xs[:, None, None], np.ones((len(xs), 1, 1))), {"logits": True}),
                      "logit of a one-pixel foreground mask (sigmoid, target 1, smooth 1)", (-6.0, 6.0)),
    "TverskyLoss": Curve(lambda xs: ((xs[:, None, None], np.ones((len(xs), 1, 1))),
                                     {"logits": True, "alpha": 0.3, "beta": 0.7}),
                         "logit of a one-pixel foreground mask (target 1, alpha 0.3, beta 0.7)", (-6.0, 6.0)),
    "GeneralizedDiceLoss": Curve(lambda xs: ((_col(xs, 0.0)[:, :, None], np.zeros((len(xs), 1), dtype=np.int64)),
                                             {"logits": True}),
                                 "logit of the true class at one pixel (2 classes, other logit 0)", (-6.0, 6.0),
                                 column=0),
    "LogCoshLoss": _elementwise(0.0, "prediction - target"),
    "QuantileLoss": Curve(lambda xs: ((xs[:, None], np.zeros_like(xs)), {"quantiles": (0.9,)}),
                          "prediction - target (quantile 0.9)"),
    "CharbonnierLoss": _elementwise(0.0, "prediction - target (eps 1e-3)"),
    "SparsemaxLoss": Curve(lambda xs: ((_col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
                           "score of the true class (2 others at 0)", column=0),
    "MulticlassHingeLoss": Curve(lambda xs: ((_col(xs, 0.0, 0.0), np.zeros(len(xs), dtype=np.int64)), {}),
                                 "score of the true class (2 others at 0)", column=0),
}


# ----------------------------------------------------------------------------- the registry

def _spec(name, module, fn, summary, cases, *, inputs=("input", "target"), grads=("input",),
          options=("reduction",), reductions=("none", "mean", "sum"), torch=True, array_api=False) -> LossSpec:
    return LossSpec(name, module, fn, inputs, grads, options, summary, cases, reductions,
                    name if torch else None, CURVES.get(name), array_api)


LOSSES: tuple[LossSpec, ...] = (
    _spec("CrossEntropyLoss", "classification", "cross_entropy",
          "softmax cross-entropy on logits; class-index or class-probability targets",
          _cross_entropy_cases, options=("weight", "ignore_index", "reduction", "label_smoothing"), array_api=True),
    _spec("NLLLoss", "classification", "nll_loss", "negative log-likelihood of log-probabilities",
          _nll_cases, options=("weight", "ignore_index", "reduction"), array_api=True),
    _spec("BCELoss", "classification", "binary_cross_entropy", "binary cross-entropy on probabilities",
          _bce_cases, options=("weight", "reduction"), array_api=True),
    _spec("BCEWithLogitsLoss", "classification", "binary_cross_entropy_with_logits",
          "binary cross-entropy on logits, stable log-sigmoid form", _bce_logits_cases,
          options=("weight", "reduction", "pos_weight"), array_api=True),
    _spec("MSELoss", "regression", "mse_loss", "squared error", _pair_cases([(4, 3), (2, 3, 2)]), array_api=True),
    _spec("L1Loss", "regression", "l1_loss", "absolute error",
          _pair_cases([(4, 3), (2, 3, 2)], kinks=[lambda o: [0.0]]), array_api=True),
    _spec("SmoothL1Loss", "regression", "smooth_l1_loss", "quadratic below beta, linear above",
          _pair_cases([(4, 3)], kinks=[lambda o: [0.0, -o["beta"], o["beta"]]], beta=[1.0, 0.5, 0.0]),
          options=("reduction", "beta"), array_api=True),
    _spec("HuberLoss", "regression", "huber_loss", "quadratic below delta, linear above (delta-scaled)",
          _pair_cases([(4, 3)], kinks=[lambda o: [-o["delta"], o["delta"]]], delta=[1.0, 0.5, 2.0]),
          options=("reduction", "delta"), array_api=True),
    _spec("KLDivLoss", "regression", "kl_div", "KL divergence from log-probabilities",
          _kl_cases, options=("reduction", "log_target"), reductions=("none", "mean", "sum", "batchmean"),
          array_api=True),
    _spec("PoissonNLLLoss", "regression", "poisson_nll_loss", "Poisson negative log-likelihood",
          _poisson_cases, options=("log_input", "full", "eps", "reduction"), array_api=True),
    _spec("GaussianNLLLoss", "regression", "gaussian_nll_loss", "Gaussian negative log-likelihood with variance",
          _gaussian_cases, inputs=("input", "target", "var"), grads=("input", "var"),
          options=("full", "eps", "reduction"), array_api=True),
    _spec("MarginRankingLoss", "embedding", "margin_ranking_loss", "hinge on the ranking of two scores",
          _margin_ranking_cases, inputs=("input1", "input2", "target"), grads=("input1", "input2"),
          options=("margin", "reduction"), array_api=True),
    _spec("HingeEmbeddingLoss", "margin", "hinge_embedding_loss", "x for similar pairs, max(0, margin - x) for dissimilar",
          _hinge_embedding_cases, options=("margin", "reduction"), array_api=True),
    _spec("SoftMarginLoss", "margin", "soft_margin_loss", "logistic loss log(1 + exp(-y x)) on labels +-1",
          _soft_margin_cases, array_api=True),
    _spec("MultiLabelSoftMarginLoss", "margin", "multilabel_soft_margin_loss",
          "per-class logistic loss averaged over classes", _multilabel_soft_margin_cases,
          options=("weight", "reduction"), array_api=True),
    _spec("MultiMarginLoss", "margin", "multi_margin_loss", "multi-class hinge (p = 1 or 2)",
          _multi_margin_cases, options=("p", "margin", "weight", "reduction"), array_api=True),
    _spec("MultiLabelMarginLoss", "margin", "multilabel_margin_loss", "multi-label hinge over target and non-target classes",
          _multilabel_margin_cases, array_api=True),
    _spec("CosineEmbeddingLoss", "embedding", "cosine_embedding_loss", "1 - cos for similar pairs, max(0, cos - margin) for dissimilar",
          _cosine_embedding_cases, inputs=("input1", "input2", "target"), grads=("input1", "input2"),
          options=("margin", "reduction"), array_api=True),
    _spec("TripletMarginLoss", "embedding", "triplet_margin_loss", "max(d(a, p) - d(a, n) + margin, 0) with p-norm distance",
          _triplet_cases, inputs=("anchor", "positive", "negative"), grads=("anchor", "positive", "negative"),
          options=("margin", "p", "eps", "swap", "reduction"), array_api=True),
    # -- beyond torch.nn: sequence and metric learning (EXTRA-A specs go here) --
    _spec("CTCLoss", "ctc", "ctc_loss", "connectionist temporal classification: -log of the sum over alignments",
          _ctc_cases, inputs=("log_probs", "targets", "input_lengths", "target_lengths"), grads=("log_probs",),
          options=("blank", "reduction", "zero_infinity"), array_api=True),
    _spec("TripletMarginWithDistanceLoss", "metric", "triplet_margin_with_distance_loss",
          "max(margin + d(a, p) - d(a, n), 0) with a chosen distance (Euclidean, cosine, custom)",
          _triplet_distance_cases, inputs=("anchor", "positive", "negative"),
          grads=("anchor", "positive", "negative"), options=("distance_function", "margin", "swap", "reduction"), array_api=True),
    _spec("NTXentLoss", "metric", "nt_xent_loss", "NT-Xent / InfoNCE of two views (SimCLR), as optax.losses.ntxent",
          _ntxent_cases, inputs=("view1", "view2"), grads=("view1", "view2"), options=("temperature", "reduction"),
          torch=False, array_api=True),
    _spec("ContrastiveLoss", "metric", "contrastive_loss",
          "d^2/2 for similar pairs, max(0, margin - d)^2/2 for dissimilar (Hadsell et al. 2006)",
          _contrastive_cases, inputs=("input1", "input2", "target"), grads=("input1", "input2"),
          options=("margin", "reduction"), torch=False, array_api=True),
    # -- beyond torch.nn: classification, segmentation, robust regression (EXTRA-B specs go here) --
    _spec("SigmoidFocalLoss", "focal", "sigmoid_focal_loss", "binary focal loss on logits (torchvision's)",
          _sigmoid_focal_cases, options=("alpha", "gamma", "reduction"), torch=False, array_api=True),
    _spec("FocalLoss", "focal", "focal_loss", "softmax focal loss -w_t (1 - p_t)^gamma log p_t",
          _focal_cases, options=("weight", "gamma", "ignore_index", "reduction"), torch=False, array_api=True),
    _spec("PolyLoss", "focal", "poly1_cross_entropy", "Poly-1: cross-entropy + epsilon (1 - p_t) (optax's)",
          _poly_cases, options=("epsilon", "reduction"), torch=False, array_api=True),
    _spec("DiceLoss", "segmentation", "dice_loss", "1 - soft Dice per sample, averaged over classes",
          _overlap_cases([{"smooth": 1.0}, {"smooth": 0.0}]), options=("smooth", "logits", "reduction"),
          torch=False, array_api=True),
    _spec("TverskyLoss", "segmentation", "tversky_loss", "1 - Tversky index (FP weighted alpha, FN beta)",
          _overlap_cases([{"alpha": 0.5, "beta": 0.5}, {"alpha": 0.3, "beta": 0.7, "smooth": 0.5}]),
          options=("alpha", "beta", "smooth", "logits", "reduction"), torch=False, array_api=True),
    _spec("GeneralizedDiceLoss", "segmentation", "generalized_dice_loss",
          "1 - generalized Dice, classes weighted 1 / volume^2 (MONAI's)", _generalized_dice_cases,
          options=("smooth", "logits", "reduction"), torch=False, array_api=True),
    _spec("LogCoshLoss", "robust", "log_cosh_loss", "log(cosh(x - t)), a smooth Huber", _log_cosh_cases,
          torch=False, array_api=True),
    _spec("QuantileLoss", "robust", "quantile_loss", "pinball loss for Q quantile levels at once",
          _quantile_cases, options=("quantiles", "reduction"), torch=False, array_api=True),
    _spec("CharbonnierLoss", "robust", "charbonnier_loss", "sqrt((x - t)^2 + eps^2), a differentiable L1",
          _charbonnier_cases, options=("eps", "reduction"), torch=False, array_api=True),
    _spec("SparsemaxLoss", "sparse", "sparsemax_loss", "Fenchel-Young loss of sparsemax; gradient sparsemax - y",
          _sparsemax_loss_cases, torch=False, array_api=True),
    _spec("MulticlassHingeLoss", "sparse", "multiclass_hinge_loss",
          "Crammer-Singer hinge max_j (s_j + 1 - y_j) - s_label", _multiclass_hinge_cases, torch=False, array_api=True),
)

_BY_NAME = {spec.name: spec for spec in LOSSES}


def names() -> list[str]:
    """The registered loss names, in registry order."""
    return [spec.name for spec in LOSSES]


def get(name: str) -> LossSpec:
    """The spec of loss ``name``; ``ValueError`` listing the choices for an unknown name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(names())}") from None


def markdown_table() -> str:
    """The README's loss table, generated from the registry."""
    rows = ["| loss | `losslab.functional` | inputs (gradient for) | options | what it is |",
            "| --- | --- | --- | --- | --- |"]
    for s in LOSSES:
        ins = ", ".join(f"**{n}**" if n in s.differentiable else n for n in s.inputs)
        opts = ", ".join(s.options)
        if "batchmean" in s.reductions:
            opts += " (incl. 'batchmean')"
        rows.append(f"| `nn.{s.name}` | `{s.function_name}` | {ins} | {opts} | {s.summary} |")
    return "\n".join(rows)


def curve_values(name: str, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss and its derivative at each value of ``xs``, drawn as its :class:`Curve` says."""
    spec = get(name)
    if spec.curve is None:
        raise ValueError(f"{name} has no plot recipe")
    xs = np.asarray(xs, dtype=np.float64)
    curve = spec.curve
    if curve.at is not None:
        values, grads = np.empty_like(xs), np.empty_like(xs)
        for i, x in enumerate(xs):
            inputs, options = curve.make(float(x))
            values[i] = spec.function(*inputs, **options, reduction="sum")
            g = spec.backward(1.0, *inputs, **options, reduction="sum")
            grads[i] = (g if isinstance(g, tuple) else (g,))[curve.grad_input][curve.at]
        return values, grads
    inputs, options = curve.make(xs)
    out = spec.function(*inputs, **options, reduction="none")
    grads = spec.backward(np.ones_like(out), *inputs, **options, reduction="none")
    grad = (grads if isinstance(grads, tuple) else (grads,))[spec.curve.grad_input]
    values = np.asarray(out).reshape(len(xs), -1).sum(axis=1)
    grad = grad if spec.curve.column is None else grad[:, spec.curve.column]
    return values, np.asarray(grad).reshape(len(xs))
